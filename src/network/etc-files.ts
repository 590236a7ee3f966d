/** The /etc/hosts and /etc/resolv.conf a container gets, as Docker writes them. */
import { readFileSync } from 'node:fs';

export interface HostsEntry { ip: string; names: string[] }

const LOCAL_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export function renderHosts(entries: HostsEntry[]): string {
  return [...LOCAL_HOSTS, ...entries.map((e) => `${e.ip}\t${e.names.join(' ')}`)].join('\n') + '\n';
}

export interface ResolvConf { nameservers: string[]; search: string[]; options: string[] }

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

export function readHostResolvConf(path = '/etc/resolv.conf'): ResolvConf {
  try { return parseResolvConf(readFileSync(path, 'utf8')); } catch { return { nameservers: [], search: [], options: [] }; }
}

export function renderResolvConf(c: ResolvConf): string {
  const lines: string[] = [];
  if (c.search.length) lines.push(`search ${c.search.join(' ')}`);
  for (const n of c.nameservers) lines.push(`nameserver ${n}`);
  if (c.options.length) lines.push(`options ${c.options.join(' ')}`);
  return lines.join('\n') + '\n';
}
