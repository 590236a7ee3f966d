/**
 * Networking until the network service is wired: each container gets a fresh network namespace
 * made by the runtime (loopback up), plus the /etc/hosts and /etc/resolv.conf Docker would write.
 */
import { readFileSync } from 'node:fs';
import type { ContainerNetworking, ContainerRecord } from '../container/index.js';

export function hostsFile(c: ContainerRecord, ip?: string): string {
  const lines = [
    '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters',
  ];
  for (const h of c.HostConfig.ExtraHosts ?? []) {
    const i = String(h).lastIndexOf(':');
    if (i > 0) lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  const name = c.Config.Domainname ? `${c.Config.Hostname}.${c.Config.Domainname} ${c.Config.Hostname}` : c.Config.Hostname;
  if (ip) lines.push(`${ip}\t${name}`);
  return lines.join('\n') + '\n';
}

/** The host's resolv.conf without loopback resolvers (they would not answer inside the container), as Docker does. */
export function resolvConf(c: ContainerRecord): string {
  const h = c.HostConfig;
  let host = '';
  try { host = readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none */ }
  const servers = h.Dns?.length ? h.Dns : host.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((s): s is string => !!s && !/^127\.|^::1$/.test(s));
  const search = h.DnsSearch?.length ? h.DnsSearch : host.split('\n').map((l) => /^\s*search\s+(.+)/.exec(l)?.[1]).filter(Boolean).flatMap((s) => s!.split(/\s+/));
  const options = h.DnsOptions?.length ? h.DnsOptions : host.split('\n').map((l) => /^\s*options\s+(.+)/.exec(l)?.[1]).filter(Boolean).flatMap((s) => s!.split(/\s+/));
  const out: string[] = [];
  for (const s of servers) out.push(`nameserver ${s}`);
  if (search.length) out.push(`search ${search.join(' ')}`);
  if (options.length) out.push(`options ${options.join(' ')}`);
  return out.join('\n') + '\n';
}

export class LoopbackNetworking implements ContainerNetworking {
  async setUp(c: ContainerRecord) {
    const mode = c.HostConfig.NetworkMode ?? 'bridge';
    return {
      netnsPath: mode === 'host' ? 'host' as const : null,
      settings: { Networks: {}, Ports: {} },
      hosts: mode === 'host' ? readFileSafe('/etc/hosts') : hostsFile(c),
      resolvConf: resolvConf(c),
    };
  }
  async tearDown(): Promise<void> { /* the namespace dies with the container */ }
}

function readFileSafe(p: string): string { try { return readFileSync(p, 'utf8'); } catch { return ''; } }
