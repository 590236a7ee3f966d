/**
 * Variable interpolation as the Compose specification and docker compose define it:
 * `$V`, `${V}`, `${V:-default}`, `${V-default}`, `${V:?err}`, `${V?err}`, `${V:+alt}`, `${V+alt}`, `$$` for a
 * literal dollar; defaults and messages may themselves contain interpolations (nested).
 */
import { InvalidParameterError } from '../errors/index.js';

export type Lookup = (name: string) => string | undefined;

export class InterpolationError extends InvalidParameterError {}

const NAME_START = /[_a-zA-Z]/;
const NAME_CHAR = /[_a-zA-Z0-9]/;

/**
 * Substitutes variables in one string. `onUnset` is told about a variable used without a default and not set
 * (docker compose warns and uses an empty string).
 */
export function substitute(template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  let out = '';
  let i = 0;
  const n = template.length;
  while (i < n) {
    const c = template[i];
    if (c !== '$') { out += c; i++; continue; }
    const next = template[i + 1];
    if (next === '$') { out += '$'; i += 2; continue; }
    if (next === '{') {
      const close = closingBrace(template, i + 1);
      if (close < 0) throw new InterpolationError(`Invalid template: "${template}"`);
      out += braced(template.slice(i + 2, close), template, lookup, onUnset);
      i = close + 1;
      continue;
    }
    if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < n && NAME_CHAR.test(template[j])) j++;
      const name = template.slice(i + 1, j);
      const v = lookup(name);
      if (v === undefined) onUnset?.(name);
      out += v ?? '';
      i = j;
      continue;
    }
    throw new InterpolationError(`Invalid template: "${template}"`);
  }
  return out;
}

/** Index of the `}` closing the `{` at `open`, counting nested `${`. */
function closingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '$') { i++; continue; }
    if (s[i] === '$' && s[i + 1] === '{') { depth++; i++; continue; }
    if (s[i] === '{' && i === open) { depth++; continue; }
    if (s[i] === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function braced(inner: string, template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  const m = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(inner);
  if (!m) throw new InterpolationError(`Invalid template: "${template}"`);
  const name = m[0];
  const rest = inner.slice(name.length);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) onUnset?.(name);
    return value ?? '';
  }
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest);
  if (!op) throw new InterpolationError(`Invalid template: "${template}"`);
  const arg = rest.slice(op[0].length);
  const sub = (): string => substitute(arg, lookup, onUnset);
  switch (op[0]) {
    case ':-': return value === undefined || value === '' ? sub() : value;
    case '-': return value === undefined ? sub() : value;
    case ':+': return value === undefined || value === '' ? '' : sub();
    case '+': return value === undefined ? '' : sub();
    case ':?':
    case '?': {
      const missing = value === undefined || (op[0] === ':?' && value === '');
      if (missing) {
        const msg = sub();
        throw new InterpolationError(`required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`);
      }
      return value;
    }
  }
  return value ?? '';
}

/** Dotted path of a node in the compose tree: ["services","web","ports",0] -> services.web.ports.0 */
export function pathString(path: Array<string | number>): string {
  return path.join('.');
}

export interface InterpolateOptions {
  lookup: Lookup;
  /** Called once per variable used without a default and not set. */
  warn?: (message: string) => void;
}

/**
 * Interpolates every string value in a parsed compose file (keys stay as written), then casts the values of
 * fields the specification types as numbers or booleans (a `${REPLICAS}` string becomes a number), as docker
 * compose does before validating.
 */
export function interpolateTree(tree: unknown, opts: InterpolateOptions): unknown {
  const warned = new Set<string>();
  const onUnset = (name: string): void => {
    if (warned.has(name)) return;
    warned.add(name);
    opts.warn?.(`The "${name}" variable is not set. Defaulting to a blank string.`);
  };
  const walk = (v: unknown, path: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      let s: string;
      try {
        s = substitute(v, opts.lookup, onUnset);
      } catch (err) {
        if (err instanceof InterpolationError) {
          throw new InterpolationError(`error while interpolating ${pathString(path)}: ${err.message}`);
        }
        throw err;
      }
      return cast(s, path);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...path, k]);
      return out;
    }
    return v;
  };
  return walk(tree, []);
}

type Caster = (s: string) => unknown;
const W = '*';

function toBoolean(s: string): unknown {
  const l = s.toLowerCase();
  if (['y', 'yes', 'true', 'on'].includes(l)) return true;
  if (['n', 'no', 'false', 'off'].includes(l)) return false;
  throw new InterpolationError(`failed to cast to expected type: invalid boolean: ${s}`);
}
function toInt(s: string): unknown {
  if (!/^[-+]?\d+$/.test(s.trim())) throw new InterpolationError(`failed to cast to expected type: invalid integer: ${s}`);
  return Number.parseInt(s, 10);
}
function toFloat(s: string): unknown {
  const f = Number(s);
  if (s.trim() === '' || Number.isNaN(f)) throw new InterpolationError(`failed to cast to expected type: invalid number: ${s}`);
  return f;
}
/** Ulimits and a few others accept a number or a mapping; cast only plain numeric strings. */
function toIntIfNumeric(s: string): unknown {
  return /^[-+]?\d+$/.test(s.trim()) ? Number.parseInt(s, 10) : s;
}

// Paths (after services.<name> or networks.<name> ...) whose values are cast after interpolation; from compose-go.
const CASTS: Array<[string[], Caster]> = [
  ...[
    'init', 'oom_kill_disable', 'privileged', 'read_only', 'stdin_open', 'tty', 'build.no_cache', 'build.pull',
    'build.privileged', 'healthcheck.disable', 'volumes.*.read_only', 'volumes.*.volume.nocopy',
    'volumes.*.bind.create_host_path', 'depends_on.*.required', 'depends_on.*.restart', 'use_api_socket',
  ].map((p): [string[], Caster] => [['services', W, ...p.split('.')], toBoolean]),
  ...[
    'cpu_count', 'cpu_percent', 'cpu_period', 'cpu_quota', 'cpu_rt_period', 'cpu_rt_runtime', 'cpu_shares',
    'mem_swappiness', 'oom_score_adj', 'pids_limit', 'scale', 'deploy.replicas', 'healthcheck.retries',
    'ports.*.target', 'secrets.*.mode', 'configs.*.mode', 'deploy.restart_policy.max_attempts',
    'deploy.update_config.parallelism', 'deploy.rollback_config.parallelism', 'deploy.resources.limits.pids',
    'ulimits.*.soft', 'ulimits.*.hard', 'build.ulimits.*.soft', 'build.ulimits.*.hard', 'networks.*.priority',
    'networks.*.gw_priority', 'volumes.*.tmpfs.mode',
  ].map((p): [string[], Caster] => [['services', W, ...p.split('.')], toInt]),
  ...['cpus', 'deploy.resources.limits.cpus', 'deploy.resources.reservations.cpus']
    .map((p): [string[], Caster] => [['services', W, ...p.split('.')], toFloat]),
  [['services', W, 'ulimits', W], toIntIfNumeric],
  [['services', W, 'build', 'ulimits', W], toIntIfNumeric],
  ...['external', 'internal', 'attachable', 'enable_ipv4', 'enable_ipv6']
    .map((p): [string[], Caster] => [['networks', W, p], toBoolean]),
  [['volumes', W, 'external'], toBoolean],
  [['secrets', W, 'external'], toBoolean],
  [['configs', W, 'external'], toBoolean],
  [['include', W, 'required'], toBoolean],
];

function cast(s: string, path: Array<string | number>): unknown {
  for (const [pattern, caster] of CASTS) {
    if (pattern.length !== path.length) continue;
    if (pattern.every((p, i) => p === W || p === String(path[i]))) {
      try {
        return caster(s);
      } catch (err) {
        throw new InterpolationError(`error while casting ${pathString(path)}: ${(err as Error).message}`);
      }
    }
  }
  return s;
}

export interface VariableUse {
  name: string;
  required: boolean;
  defaultValue: string;
  /** The `${V:+alt}` / `${V+alt}` value. */
  presenceValue: string;
}

/** Variables a tree uses (for `config --variables`), with their defaults; nested templates included. */
export function extractVariables(tree: unknown): Map<string, VariableUse> {
  const out = new Map<string, VariableUse>();
  const scan = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      if (s[i] !== '$') continue;
      if (s[i + 1] === '$') { i++; continue; }
      if (s[i + 1] === '{') {
        const close = closingBrace(s, i + 1);
        if (close < 0) return;
        const inner = s.slice(i + 2, close);
        const m = /^([_a-zA-Z][_a-zA-Z0-9]*)(:-|-|:\?|\?|:\+|\+)?(.*)$/s.exec(inner);
        if (m) {
          const [, name, op = '', arg] = m;
          const v: VariableUse = out.get(name) ?? { name, required: false, defaultValue: '', presenceValue: '' };
          if (op.endsWith('?')) v.required = true;
          if (op.endsWith('-')) v.defaultValue = arg;
          if (op.endsWith('+')) v.presenceValue = arg;
          out.set(name, v);
          scan(arg);
        }
        i = close;
        continue;
      }
      const m = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(s.slice(i + 1));
      if (m && !out.has(m[0])) out.set(m[0], { name: m[0], required: false, defaultValue: '', presenceValue: '' });
    }
  };
  const walk = (v: unknown): void => {
    if (typeof v === 'string') scan(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(tree);
  return out;
}
