/**
 * Canonical (merge-ready) form of one file's services and resources: every attribute with a short syntax is
 * brought to its long form and every relative path is made absolute against the directory that file's paths are
 * relative to. After this, merging files, `extends` bases and `include`d projects is a matter of keys.
 */
import { InvalidParameterError } from '../errors/index.js';
import { normalizePortLong, orderVolume, parsePortShort, parseVolumeShort, resolvePath } from './short-syntax.js';
import { shellSplit } from './units.js';
import { OVERRIDE, RESET, isOverride } from './yaml-file.js';

type Dict = Record<string, unknown>;

/** Where relative paths point from, and what `~` means. */
export interface PathBase {
  dir: string;
  home: string;
  /** Keep a value as written when it cannot be brought to its long form (uninterpolated ${VAR}s). */
  lenient?: boolean;
}

const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

/** Scalar to string the way docker compose prints mapping values (true -> "true", 1 -> "1"). */
function str(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

/** list ("K=V", "K") or mapping -> mapping; values as strings, null for "no value". */
export function listOrDictToMap(v: unknown, sep = '=', allowNull = true): Dict {
  const out: Dict = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = str(item);
      const i = s.indexOf(sep);
      if (i < 0) out[s] = allowNull ? null : '';
      else out[s.slice(0, i)] = s.slice(i + 1);
    }
  } else if (isDict(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === RESET || isOverride(x)) { out[k] = x; continue; }
      out[k] = x === null || x === undefined ? (allowNull ? null : '') : str(x);
    }
  }
  return out;
}

function toList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

function isUrlContext(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('git@') || s.startsWith('github.com/');
}

/** extra_hosts: ["host:ip", "host=ip"] or {host: ip | [ips]} -> {host: [ips]} */
function extraHostsToMap(v: unknown): Dict {
  const out: Record<string, string[]> = {};
  const add = (h: string, ip: string): void => { (out[h] ??= []).push(ip); };
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = str(item);
      const eq = s.indexOf('=');
      const i = eq >= 0 ? eq : s.indexOf(':');
      if (i < 0) throw new InvalidParameterError(`invalid extra_hosts entry "${s}": expected host:ip or host=ip`);
      let ip = s.slice(i + 1);
      if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
      add(s.slice(0, i), ip);
    }
  } else if (isDict(v)) {
    for (const [h, ips] of Object.entries(v)) for (const ip of toList(ips)) add(h, str(ip));
  }
  return out;
}

/** Applies `f` under merge markers: RESET passes through, !override is unwrapped and rewrapped. */
function under(v: unknown, f: (x: unknown) => unknown): unknown {
  if (v === RESET) return v;
  if (isOverride(v)) return { [OVERRIDE]: f(v[OVERRIDE]) };
  return f(v);
}

function canonicalBuild(v: unknown, base: PathBase): unknown {
  const b: Dict = typeof v === 'string' ? { context: v } : { ...(v as Dict) };
  const ctx = b.context === undefined ? '.' : str(b.context);
  b.context = isUrlContext(ctx) ? ctx : resolvePath(base.dir, ctx, base.home);
  if (b.args !== undefined) b.args = under(b.args, (x) => listOrDictToMap(x));
  if (b.labels !== undefined) b.labels = under(b.labels, (x) => listOrDictToMap(x, '=', false));
  if (b.extra_hosts !== undefined) b.extra_hosts = under(b.extra_hosts, extraHostsToMap);
  if (isDict(b.additional_contexts) || Array.isArray(b.additional_contexts)) {
    const m = listOrDictToMap(b.additional_contexts, '=', false);
    for (const [k, x] of Object.entries(m)) {
      if (typeof x === 'string' && !isUrlContext(x) && !x.includes(':')) m[k] = resolvePath(base.dir, x, base.home);
      else if (typeof x === 'string' && (x.startsWith('.') || x.startsWith('/'))) m[k] = resolvePath(base.dir, x, base.home);
    }
    b.additional_contexts = m;
  }
  if (Array.isArray(b.secrets)) b.secrets = b.secrets.map(canonicalFileRef);
  return b;
}

function canonicalFileRef(v: unknown): Dict {
  if (typeof v === 'string') return { source: v };
  const d = { ...(v as Dict) };
  if (d.uid !== undefined) d.uid = str(d.uid);
  if (d.gid !== undefined) d.gid = str(d.gid);
  if (typeof d.mode === 'string') d.mode = Number.parseInt(d.mode, 8);
  return d;
}

function canonicalEnvFile(v: unknown, base: PathBase): Dict[] {
  return toList(v).map((e) => {
    if (typeof e === 'string') return { path: resolvePath(base.dir, e, base.home), required: true };
    const d = e as Dict;
    const out: Dict = { path: resolvePath(base.dir, str(d.path), base.home), required: d.required === undefined ? true : !!d.required };
    if (d.format !== undefined) out.format = d.format;
    return out;
  });
}

function canonicalVolume(v: unknown, base: PathBase): unknown {
  if (typeof v === 'string') return parseVolumeShort(v, base.dir, base.home);
  const d = { ...(v as Dict) } as Dict;
  if (d.type === 'bind' && typeof d.source === 'string') d.source = resolvePath(base.dir, d.source, base.home);
  if (d.type === 'volume' && d.volume === undefined) d.volume = {};
  return orderVolume(d as never);
}

function canonicalHealthcheck(v: unknown): unknown {
  if (!isDict(v)) return v;
  const h = { ...v };
  if (typeof h.test === 'string') h.test = ['CMD-SHELL', h.test];
  return h;
}

const MAP_FIELDS = ['labels', 'annotations', 'sysctls', 'storage_opt'];
const SINGLE_OR_LIST = ['dns', 'dns_search', 'dns_opt', 'tmpfs'];

/** One service in canonical form; `base` is where its relative paths point from. */
export function canonicalService(raw: unknown, base: PathBase): Dict {
  if (raw === null || raw === undefined) return {};
  if (!isDict(raw)) return raw as never;
  const s: Dict = {};
  for (const [k, v0] of Object.entries(raw)) {
    const v = v0;
    try {
      canonicalField(s, k, v, base);
    } catch (err) {
      if (!base.lenient) throw err instanceof InvalidParameterError ? new InvalidParameterError(`${k}: ${err.message}`) : err;
      s[k] = v;
    }
  }
  return s;
}

function canonicalField(s: Dict, k: string, v: unknown, base: PathBase): void {
  {
    switch (k) {
      case 'build': s[k] = under(v, (x) => canonicalBuild(x, base)); break;
      case 'command':
      case 'entrypoint':
        s[k] = under(v, (x) => (typeof x === 'string' ? shellSplit(x) : x === null ? null : (x as unknown[]).map(str)));
        break;
      case 'environment': s[k] = under(v, (x) => listOrDictToMap(x)); break;
      case 'env_file': s[k] = under(v, (x) => canonicalEnvFile(x, base)); break;
      case 'label_file': s[k] = under(v, (x) => toList(x).map((f) => resolvePath(base.dir, str(f), base.home))); break;
      case 'extra_hosts': s[k] = under(v, extraHostsToMap); break;
      case 'ports':
        s[k] = under(v, (x) => (x as unknown[]).flatMap((p) => (isDict(p) ? [normalizePortLong(p)] : parsePortShort(p as string))));
        break;
      case 'expose': s[k] = under(v, (x) => (x as unknown[]).map(str)); break;
      case 'volumes': s[k] = under(v, (x) => (x as unknown[]).map((e) => canonicalVolume(e, base))); break;
      case 'networks':
        s[k] = under(v, (x) => (Array.isArray(x) ? Object.fromEntries(x.map((n) => [str(n), null])) : x));
        break;
      case 'depends_on':
        s[k] = under(v, (x) => (Array.isArray(x) ? Object.fromEntries(x.map((n) => [str(n), {}])) : x));
        break;
      case 'secrets':
      case 'configs':
        s[k] = under(v, (x) => (x as unknown[]).map(canonicalFileRef));
        break;
      case 'healthcheck': s[k] = under(v, canonicalHealthcheck); break;
      case 'extends': {
        const e: Dict = typeof v === 'string' ? { service: v } : { ...(v as Dict) };
        if (typeof e.file === 'string') e.file = resolvePath(base.dir, e.file, base.home);
        s[k] = e;
        break;
      }
      case 'deploy':
        s[k] = under(v, (x) => {
          if (!isDict(x)) return x;
          const d = { ...x };
          if (d.labels !== undefined) d.labels = listOrDictToMap(d.labels, '=', false);
          return d;
        });
        break;
      default:
        if (MAP_FIELDS.includes(k)) s[k] = under(v, (x) => listOrDictToMap(x, '=', false));
        else if (SINGLE_OR_LIST.includes(k)) s[k] = under(v, (x) => toList(x).map(str));
        else s[k] = v;
    }
  }
}

/** Top-level networks/volumes/secrets/configs entries: file paths made absolute, labels as mappings. */
export function canonicalResources(kind: 'networks' | 'volumes' | 'secrets' | 'configs', raw: unknown, base: PathBase): Dict {
  const out: Dict = {};
  if (!isDict(raw)) return out;
  for (const [name, v] of Object.entries(raw)) {
    if (v === RESET || isOverride(v)) { out[name] = v; continue; }
    const d: Dict = isDict(v) ? { ...v } : {};
    if (d.labels !== undefined) d.labels = listOrDictToMap(d.labels, '=', false);
    if ((kind === 'secrets' || kind === 'configs') && typeof d.file === 'string') d.file = resolvePath(base.dir, d.file, base.home);
    out[name] = d;
  }
  return out;
}

/** A whole file's tree in canonical form (services and resources; other top-level keys kept). */
export function canonicalFile(tree: Dict, base: PathBase): Dict {
  const out: Dict = { ...tree };
  const services = (raw: Dict): Dict => {
    const o: Dict = {};
    for (const [name, svc] of Object.entries(raw)) {
      try {
        o[name] = svc === RESET ? svc : isOverride(svc) ? { [OVERRIDE]: canonicalService(svc[OVERRIDE], base) } : canonicalService(svc, base);
      } catch (err) {
        throw err instanceof InvalidParameterError ? new InvalidParameterError(`services.${name}.${err.message}`) : err;
      }
    }
    return o;
  };
  if (isOverride(tree.services)) out.services = { [OVERRIDE]: services(tree.services[OVERRIDE] as Dict) };
  else if (isDict(tree.services)) out.services = services(tree.services);
  for (const kind of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    const v = tree[kind];
    if (v === undefined || v === RESET) continue;
    out[kind] = isOverride(v) ? { [OVERRIDE]: canonicalResources(kind, v[OVERRIDE], base) } : canonicalResources(kind, v, base);
  }
  return out;
}
