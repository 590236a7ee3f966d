/** IPv4 address and CIDR arithmetic on unsigned 32-bit numbers. */
import { InvalidParameterError } from '../errors/index.js';

export interface Cidr { base: number; prefix: number }

export function parseIPv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw new InvalidParameterError(`invalid IPv4 address: ${s}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new InvalidParameterError(`invalid IPv4 address: ${s}`);
  return (((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]) >>> 0;
}

export function isIPv4(s: string): boolean {
  try { parseIPv4(s); return true; } catch { return false; }
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; with `strict`, host bits must be zero (Docker: "it should be …"). */
export function parseCidr(s: string, strict = true): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw new InvalidParameterError(`invalid CIDR address: ${s}`);
  const prefix = Number(m[2]);
  const addr = parseIPv4(m[1]);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (strict && base !== addr) {
    throw new InvalidParameterError(`invalid subnet ${s} : it should be ${formatCidr({ base, prefix })}`);
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string { return `${formatIPv4(c.base)}/${c.prefix}`; }

export function size(c: Cidr): number { return 2 ** (32 - c.prefix); }

export function last(c: Cidr): number { return (c.base + size(c) - 1) >>> 0; }

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

/** The usable host range of a subnet: without network and broadcast addresses (except /31, /32). */
export function hostRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.base, last: last(c) };
  return { first: c.base + 1, last: last(c) - 1 };
}

/** Docker derives a container's MAC from its IPv4 address: 02:42 followed by the four bytes. */
export function macFromIPv4(ip: number): string {
  const b = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function isMac(s: string): boolean {
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s);
}
