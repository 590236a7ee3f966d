/**
 * A content-addressed cache of the pure steps of loading a compose file: the YAML parse of a file's text and the
 * schema verdict on a (interpolated) model. Keys are SHA-256 digests of what the result depends on, so an entry can
 * never be stale; a warm `berth compose up` loads neither the YAML parser nor the schema validator (together about
 * a third of its start-up). Only successes are stored (errors are recomputed, so they keep their wording).
 * Location: $XDG_CACHE_HOME/berth/compose or ~/.cache/berth/compose; BERTH_COMPOSE_CACHE=0 turns it off.
 * Every failure to read or write is ignored: the cache is an optimisation only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Larger results are not worth a file (and a YAML alias bomb expands when written as JSON). */
const MAX_ENTRY = 1 << 20;

export class LoadCache {
  constructor(readonly dir: string) {}

  /** The cache for an environment (HOME / XDG_CACHE_HOME / BERTH_COMPOSE_CACHE), or undefined when there is none. */
  static forEnv(env: Record<string, string | undefined>): LoadCache | undefined {
    if (['0', 'off', 'false', 'no'].includes((env.BERTH_COMPOSE_CACHE ?? '').toLowerCase())) return undefined;
    const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
    return base ? new LoadCache(join(base, 'berth', 'compose')) : undefined;
  }

  static digest(...parts: string[]): string {
    const h = createHash('sha256');
    for (const p of parts) h.update(p).update('\0');
    return h.digest('hex');
  }

  get(key: string): string | undefined {
    try { return readFileSync(join(this.dir, key.slice(0, 2), key), 'utf8'); } catch { return undefined; }
  }

  put(key: string, value: string): void {
    if (value.length > MAX_ENTRY) return;
    try {
      const sub = join(this.dir, key.slice(0, 2));
      // owner only: a cached project holds the environment it was loaded with
      mkdirSync(sub, { recursive: true, mode: 0o700 });
      const tmp = join(sub, `.${key}.${process.pid}.${randomBytes(4).toString('hex')}`);
      writeFileSync(tmp, value, { mode: 0o600 });
      renameSync(tmp, join(sub, key));   // atomic: a concurrent reader sees the whole entry or none
    } catch { /* read-only home, full disk: no cache */ }
  }
}

/** size and mtime of a module file: part of a key, so that a rebuilt parser or validator invalidates entries. */
export function moduleStamp(url: string | URL): string {
  try { const s = statSync(url); return `${s.size}:${s.mtimeMs}`; } catch { return 'unknown'; }
}

/** True when `v` survives JSON.stringify/parse unchanged (plain objects, arrays, strings, finite numbers...). */
export function isJsonFaithful(v: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return v.every((x) => isJsonFaithful(x, depth + 1));
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.entries(v as Record<string, unknown>).every(([k, x]) => k !== '__proto__' && isJsonFaithful(x, depth + 1));
  }
  return false;
}
