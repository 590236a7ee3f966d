/**
 * The Compose specification's merge rules, applied to canonical trees (see canonical.ts): mappings merge
 * recursively, sequences append, `ports`/`volumes`/`secrets`/`configs` merge by their unique key, `command`,
 * `entrypoint` and `healthcheck.test` are replaced, `!reset` removes and `!override` replaces. Used for several
 * `-f` files and for `extends`.
 */
import { OVERRIDE, RESET, isOverride } from './yaml-file.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

const REPLACED = new Set(['command', 'entrypoint']);
const APPEND_UNIQUE = new Set([
  'cap_add', 'cap_drop', 'expose', 'external_links', 'security_opt', 'device_cgroup_rules', 'links', 'profiles',
  'group_add', 'devices',
]);

function portKey(p: unknown): string {
  const d = p as Dict;
  return JSON.stringify([d.host_ip ?? '', d.target, d.published ?? '', d.protocol ?? 'tcp']);
}
const targetKey = (v: unknown): string => String((v as Dict).target);
const fileRefKey = (v: unknown): string => {
  const d = v as Dict;
  return String(d.target ?? d.source);
};

function mergeByKey(base: unknown[], over: unknown[], key: (v: unknown) => string): unknown[] {
  const out = [...base];
  for (const item of over) {
    const k = key(item);
    const i = out.findIndex((x) => key(x) === k);
    // an entry with the same unique key replaces the earlier one (a `:ro` bind becomes `:rw` again)
    if (i >= 0) out[i] = item;
    else out.push(item);
  }
  return out;
}

function unique(items: unknown[]): unknown[] {
  const seen = new Set<string>();
  return items.filter((x) => {
    const k = JSON.stringify(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Strips merge markers left in a value that had nothing to merge with. */
export function clean(v: unknown): unknown {
  if (isOverride(v)) return clean(v[OVERRIDE]);
  if (Array.isArray(v)) return v.filter((x) => x !== RESET).map(clean);
  if (isDict(v)) {
    const out: Dict = {};
    for (const [k, x] of Object.entries(v)) if (x !== RESET) out[k] = clean(x);
    return out;
  }
  return v;
}

/** Merges `over` onto `base`; `path` is the key path inside a service (for the per-key rules). */
export function mergeValue(base: unknown, over: unknown, path: string[]): unknown {
  if (isOverride(over)) return clean(over[OVERRIDE]);
  if (base === undefined) return clean(over);
  const key = path[path.length - 1];
  const inService = path.length === 1;
  if (inService && REPLACED.has(key)) return clean(over);
  if (path.length === 2 && path[0] === 'healthcheck' && key === 'test') return clean(over);
  if (Array.isArray(base) && Array.isArray(over)) {
    const o = clean(over) as unknown[];
    if (inService) {
      if (key === 'ports') return mergeByKey(base, o, portKey);
      if (key === 'volumes') return mergeByKey(base, o, targetKey);
      if (key === 'secrets' || key === 'configs') return mergeByKey(base, o, fileRefKey);
      if (APPEND_UNIQUE.has(key)) return unique([...base, ...o]);
    }
    return [...base, ...o];
  }
  if (isDict(base) && isDict(over)) {
    if (inService && key === 'logging' && over.driver !== undefined && base.driver !== undefined && over.driver !== base.driver) {
      return clean(over);
    }
    const out: Dict = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (v === RESET) { delete out[k]; continue; }
      const merged = mergeValue(out[k], v, [...path, k]);
      out[k] = merged;
    }
    return out;
  }
  return clean(over);
}

/** Merges one service definition onto another. */
export function mergeService(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === RESET) { delete out[k]; continue; }
    out[k] = mergeValue(out[k], v, [k]);
  }
  return out;
}

/** Merges a whole canonical file tree onto the accumulated one. */
export function mergeFiles(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === RESET) { delete out[k]; continue; }
    if (k === 'services' && isOverride(v)) {
      out.services = clean(v[OVERRIDE]);
      continue;
    }
    if (k === 'services' && isDict(v)) {
      const services: Dict = { ...(isDict(out.services) ? out.services : {}) };
      for (const [name, svc] of Object.entries(v)) {
        if (svc === RESET) { delete services[name]; continue; }
        if (isOverride(svc)) { services[name] = clean(svc[OVERRIDE]); continue; }
        services[name] = isDict(services[name]) ? mergeService(services[name] as Dict, (svc ?? {}) as Dict) : clean(svc ?? {});
      }
      out.services = services;
      continue;
    }
    out[k] = mergeValue(out[k], v, ['', k]);
  }
  return out;
}
