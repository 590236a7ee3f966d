/** The short syntaxes of ports and volumes, expanded into their long forms (as docker compose config prints them). */
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';
import type { PortConfig, ServiceVolumeConfig } from './types.js';

function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new InvalidParameterError(`invalid ${what} port "${s}"`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (b < a) throw new InvalidParameterError(`invalid port range "${s}"`);
  return [a, b];
}

/** "[[IP:]HOST:]CONTAINER[/PROTOCOL]" (ranges allowed, IPv6 in brackets) -> long syntax entries. */
export function parsePortShort(spec: string | number): PortConfig[] {
  let s = String(spec).trim();
  let protocol = 'tcp';
  const slash = s.lastIndexOf('/');
  if (slash >= 0) { protocol = s.slice(slash + 1); s = s.slice(0, slash); }
  let hostIp: string | undefined;
  let rest = s;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw new InvalidParameterError(`invalid port "${spec}"`);
    hostIp = rest.slice(1, end);
    rest = rest.slice(end + 1);
    if (rest.startsWith(':')) rest = rest.slice(1);
  }
  const parts = rest.split(':');
  let published = '';
  let target: string;
  if (hostIp !== undefined) {
    [published, target] = parts.length === 2 ? [parts[0], parts[1]] : ['', parts[parts.length - 1]];
  } else if (parts.length === 1) {
    target = parts[0];
  } else if (parts.length === 2) {
    [published, target] = parts;
  } else {
    target = parts[parts.length - 1];
    published = parts[parts.length - 2];
    hostIp = parts.slice(0, -2).join(':');
  }
  const [t0, t1] = parseRange(target, 'container');
  const out: PortConfig[] = [];
  const base = (t: number): PortConfig => {
    const p: PortConfig = { mode: 'ingress', target: t, protocol };
    if (hostIp) p.host_ip = hostIp;
    return p;
  };
  if (!published) {
    for (let t = t0; t <= t1; t++) out.push(base(t));
    reorder(out);
    return out;
  }
  const [p0, p1] = parseRange(published, 'host');
  if (t0 === t1) {
    out.push({ ...base(t0), published: p0 === p1 ? String(p0) : `${p0}-${p1}` });
    reorder(out);
    return out;
  }
  if (p1 - p0 !== t1 - t0) throw new InvalidParameterError(`invalid ranges specified for container and host Ports: ${target} and ${published}`);
  for (let i = 0; i <= t1 - t0; i++) out.push({ ...base(t0 + i), published: String(p0 + i) });
  reorder(out);
  return out;
}

/** Keep docker compose's key order: mode, host_ip, target, published, protocol. */
function reorder(ports: PortConfig[]): void {
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i];
    const r: Record<string, unknown> = {};
    if (p.name !== undefined) r.name = p.name;
    r.mode = p.mode;
    if (p.host_ip !== undefined) r.host_ip = p.host_ip;
    r.target = p.target;
    if (p.published !== undefined) r.published = p.published;
    r.protocol = p.protocol;
    if (p.app_protocol !== undefined) r.app_protocol = p.app_protocol;
    ports[i] = r as unknown as PortConfig;
  }
}

/** The long syntax of ports, with numbers and defaults as docker compose normalises them. */
export function normalizePortLong(p: Record<string, unknown>): PortConfig {
  const out: Record<string, unknown> = {};
  if (p.name !== undefined) out.name = String(p.name);
  out.mode = p.mode ?? 'ingress';
  if (p.host_ip !== undefined) out.host_ip = String(p.host_ip);
  const target = Number(p.target);
  if (!Number.isInteger(target)) throw new InvalidParameterError(`invalid port target "${String(p.target)}"`);
  out.target = target;
  if (p.published !== undefined && p.published !== '') out.published = String(p.published);
  out.protocol = p.protocol ?? 'tcp';
  if (p.app_protocol !== undefined) out.app_protocol = String(p.app_protocol);
  return out as unknown as PortConfig;
}

/** Expands `~` and makes a path absolute against `baseDir`. */
export function resolvePath(baseDir: string, p: string, home: string = homedir()): string {
  if (p === '~' || p.startsWith('~/')) return resolve(home, p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(baseDir, p);
}

/** Is a short-syntax volume source a host path (rather than a named volume)? */
function isHostPath(src: string): boolean {
  return src.startsWith('/') || src.startsWith('.') || src.startsWith('~') || /^[a-zA-Z]:[\\/]/.test(src);
}

const PROPAGATION = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
const CONSISTENCY = ['consistent', 'cached', 'delegated'];

/** "[SOURCE:]TARGET[:MODE]" -> long syntax, bind sources resolved against `baseDir`. */
export function parseVolumeShort(spec: string, baseDir: string, home: string = homedir()): ServiceVolumeConfig {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(i === 0 && parts.length === 1))) {
    throw new InvalidParameterError(`invalid volume specification: '${spec}'`);
  }
  if (parts.length === 1) return { type: 'volume', target: parts[0], volume: {} };
  const [src, target, mode] = parts;
  const v: ServiceVolumeConfig = isHostPath(src)
    ? { type: 'bind', source: resolvePath(baseDir, src, home), target }
    : { type: 'volume', source: src, target };
  const opts = mode ? mode.split(',') : [];
  for (const o of opts) {
    if (o === 'ro') v.read_only = true;
    else if (o === 'rw') v.read_only = undefined;
    else if (o === 'z' || o === 'Z') { if (v.type === 'bind') v.bind = { ...v.bind, selinux: o }; }
    else if (PROPAGATION.includes(o)) { if (v.type === 'bind') v.bind = { ...v.bind, propagation: o }; }
    else if (CONSISTENCY.includes(o)) v.consistency = o;
    else if (o === 'nocopy') { if (v.type === 'volume') v.volume = { nocopy: true }; }
    else throw new InvalidParameterError(`invalid volume specification: '${spec}': unknown option "${o}"`);
  }
  if (v.read_only === undefined) delete v.read_only;
  if (v.type === 'bind') v.bind = { ...v.bind, create_host_path: true };
  if (v.type === 'volume' && !v.volume) v.volume = {};
  return orderVolume(v);
}

/** Key order of docker compose config: type, source, target, read_only, consistency, bind, volume, tmpfs, image. */
export function orderVolume(v: ServiceVolumeConfig): ServiceVolumeConfig {
  const out: Record<string, unknown> = {};
  for (const k of ['type', 'source', 'target', 'read_only', 'consistency', 'bind', 'volume', 'tmpfs', 'image']) {
    const x = (v as unknown as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = x;
  }
  for (const [k, x] of Object.entries(v)) if (!(k in out) && x !== undefined) out[k] = x;
  return out as unknown as ServiceVolumeConfig;
}
