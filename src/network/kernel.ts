/**
 * Bridges, network namespaces and veth pairs. Named namespaces are made and removed by the
 * hostops helper (a syscall, no process), and so are a container's veth pair, address and route
 * and a namespace's loopback (rtnetlink, no process: a container start no longer runs ip(8)
 * beside runc on the CPUs). Without the helper (BERTH_NO_NATIVE_HELPERS, no C compiler) they go
 * through iproute2, one batched `ip` process per side (host: `ip -batch -`, namespace:
 * `ip -n NS -batch -`) with the veth peer created directly inside the namespace. Bridges and the
 * rarer changes (routes on disconnect) always use iproute2.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { addNetns, addVethPair, deleteLinkByName, deleteNetns as removeNetns, helperAvailable, loopbackUp as setLoopbackUp, type HostOpError } from '../hostops/index.js';
import { SystemError } from '../errors/index.js';
import { run, tryRun } from './exec.js';

export const NETNS_DIR = '/var/run/netns';

export function netnsPath(name: string): string { return `${NETNS_DIR}/${name}`; }

export function linkExists(name: string): boolean { return existsSync(`/sys/class/net/${name}`); }

function setSysctl(path: string, value: string): void {
  try { writeFileSync(path, value); } catch { /* not fatal: missing on some kernels */ }
}

/** Creates (or adopts) a bridge with the gateway address; returns whether it was created. */
export async function ensureBridge(name: string, gatewayCidr: string, mtu?: number): Promise<boolean> {
  const created = !linkExists(name);
  const lines: string[] = [];
  if (created) lines.push(`link add ${name}${mtu ? ` mtu ${mtu}` : ''} type bridge`);
  const addrs = created ? '' : await run('ip', ['-4', '-o', 'addr', 'show', 'dev', name]);
  if (!addrs.includes(` ${gatewayCidr} `)) lines.push(`addr add ${gatewayCidr} dev ${name}`);
  lines.push(`link set ${name} up`);
  await run('ip', ['-batch', '-'], lines.join('\n') + '\n');
  // Published ports on 127.0.0.1 are DNAT-ed out of this bridge with a loopback source.
  setSysctl(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1');
  return created;
}

export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  if (helperAvailable()) await deleteLinkByName(name).catch(() => undefined);
  else await tryRun('ip', ['link', 'del', name]);
}

export function enableForwarding(): void { setSysctl('/proc/sys/net/ipv4/ip_forward', '1'); }

/** A named namespace (made without a process, see src/hostops), its loopback up when asked. */
export async function createNetns(name: string, loopbackUp: boolean): Promise<void> {
  if (!existsSync(netnsPath(name))) {
    await addNetns(netnsPath(name)).catch((e: Error) => { throw new SystemError(`creating network namespace ${name} failed: ${e.message}`); });
  }
  if (!loopbackUp) return;
  if (helperAvailable()) {
    await setLoopbackUp(netnsPath(name)).catch((e: Error) => { throw new SystemError(`setting lo up in network namespace ${name} failed: ${e.message}`); });
  } else {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }
}

/**
 * Deleting the namespace takes its veths with it: the kernel frees them (and their host ends)
 * asynchronously, a few ms later, which keeps container removal fast (an explicit `link del` costs
 * ~10-20 ms per veth). Host ends are deleted explicitly only when the namespace is already gone.
 */
export async function deleteNetns(name: string, veths: string[]): Promise<void> {
  if (existsSync(netnsPath(name)) && await removeNetns(netnsPath(name)).then(() => true, () => false)) return;
  for (const v of veths) await deleteLink(v);
}

export interface VethSpec {
  netns: string; hostName: string; ifName: string; bridge: string; mac: string; mtu?: number;
  addressCidr: string; gateway?: string; loopbackUp: boolean; replaceDefaultRoute?: boolean;
}

/** The veth pair of an endpoint, its address and route; on a failure nothing of it is left. */
export async function addVeth(s: VethSpec): Promise<void> {
  if (helperAvailable()) {
    try {
      await addVethPair({ ...s, netnsPath: netnsPath(s.netns) });
      return;
    } catch (err) {
      if ((err as HostOpError).code !== 'EPIPE') {
        throw new SystemError(`creating veth ${s.hostName} (${s.ifName} in ${s.netns}, bridge ${s.bridge}) failed: ${(err as Error).message}`);
      }
      // The helper died mid-request: whatever it made goes, and ip(8) does it all.
      await deleteLink(s.hostName);
    }
  }
  const mtu = s.mtu ? ` mtu ${s.mtu}` : '';
  const host = `link add ${s.hostName}${mtu} master ${s.bridge} up type veth peer name ${s.ifName} netns ${s.netns} address ${s.mac}${mtu}\n`
    // Hairpin: a container reaching its own published port through the host comes back out this port.
    + `link set ${s.hostName} type bridge_slave hairpin on\n`;
  await run('ip', ['-batch', '-'], host);
  const inner: string[] = [];
  if (s.loopbackUp) inner.push('link set lo up');
  inner.push(`link set ${s.ifName} up`, `addr add ${s.addressCidr} dev ${s.ifName}`);
  if (s.gateway) inner.push(`route ${s.replaceDefaultRoute ? 'replace' : 'add'} default via ${s.gateway} dev ${s.ifName}`);
  try {
    await run('ip', ['-n', s.netns, '-batch', '-'], inner.join('\n') + '\n');
  } catch (err) {
    await deleteLink(s.hostName);
    throw err;
  }
}

export async function setDefaultRoute(netns: string, gateway: string | null, ifName?: string): Promise<void> {
  if (gateway) await tryRun('ip', ['-n', netns, 'route', 'replace', 'default', 'via', gateway, 'dev', ifName!]);
  else await tryRun('ip', ['-n', netns, 'route', 'del', 'default']);
}

/** IPv4 routes of the host (to keep automatic subnets clear of networks already in use). */
export async function hostRoutes(): Promise<string[]> {
  const out = await run('ip', ['-4', '-o', 'route', 'show', 'table', 'all']).catch(() => '');
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((d) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(d));
}
