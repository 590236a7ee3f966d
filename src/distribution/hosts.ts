/**
 * Which registry a reference's domain names and how to talk to it: Docker Hub's API host, and
 * Docker's rule that plain HTTP is allowed only for loopback (127.0.0.0/8, ::1, localhost) and
 * registries named with --insecure-registry (host, host:port or an IPv4 CIDR).
 */
import { isIP } from 'node:net';

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DOCKER_HUB_INDEX = 'index.docker.io';

export interface RegistryHost {
  /** As references name it: docker.io, 127.0.0.1:5000, registry.example.com. */
  name: string;
  /** host[:port] the HTTP requests go to. */
  apiHost: string;
  /** Plain HTTP allowed (TLS is still tried first, without verification, as dockerd does). */
  insecure: boolean;
}

/** Normalises what users type as a registry address (login's serveraddress, search's index). */
export function normaliseRegistryName(address: string | undefined): string {
  let a = (address ?? '').trim();
  if (!a) return DOCKER_HUB;
  a = a.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (a === DOCKER_HUB_INDEX || a === DOCKER_HUB || a === DOCKER_HUB_API) return DOCKER_HUB;
  return a.toLowerCase();
}

export function registryHost(name: string, insecureRegistries: string[] = []): RegistryHost {
  const n = normaliseRegistryName(name);
  if (n === DOCKER_HUB) return { name: n, apiHost: DOCKER_HUB_API, insecure: false };
  return { name: n, apiHost: n, insecure: isInsecure(n, insecureRegistries) };
}

function splitHostPort(hostport: string): string {
  if (hostport.startsWith('[')) return hostport.slice(1, hostport.indexOf(']'));
  const colon = hostport.lastIndexOf(':');
  return colon > 0 && hostport.indexOf(':') === colon ? hostport.slice(0, colon) : hostport;
}

export function isInsecure(hostport: string, insecureRegistries: string[]): boolean {
  const host = splitHostPort(hostport);
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  if (isIP(host) === 4 && host.startsWith('127.')) return true;
  for (const entry of insecureRegistries) {
    const e = entry.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
    if (!e) continue;
    if (e === hostport || e === host) return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(e);
    if (cidr && isIP(host) === 4 && inCidr(host, cidr[1], Number(cidr[2]))) return true;
  }
  return false;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, x) => ((acc << 8) | Number(x)) >>> 0, 0);
}

function inCidr(ip: string, net: string, bits: number): boolean {
  if (bits <= 0) return true;
  const mask = bits >= 32 ? 0xffffffff : (~((1 << (32 - bits)) - 1)) >>> 0;
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
}

/** The list from BERTH_INSECURE_REGISTRIES (comma or space separated), until berthd has a flag. */
export function insecureRegistriesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.BERTH_INSECURE_REGISTRIES ?? '').split(/[,\s]+/).filter(Boolean);
}
