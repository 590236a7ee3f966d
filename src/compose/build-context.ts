/**
 * The build context of a service as the tar POST /build takes: the context directory (minus what
 * .dockerignore excludes, simple patterns), plus an inline Dockerfile when `dockerfile_inline` is used.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import type * as TarStream from 'tar-stream';
import type { Readable } from 'node:stream';
import type { Query } from '../client/index.js';
import type { BuildConfig } from './types.js';

const INLINE_DOCKERFILE = '.berth-compose.Dockerfile';

/** .dockerignore lines as regular expressions over slash-separated relative paths (`*`, `**`, `?`, `!`). */
function ignoreRules(dir: string): Array<{ re: RegExp; negate: boolean }> {
  const file = join(dir, '.dockerignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    const src = pat.split('').map((c, i, a) => {
      if (c === '*') return a[i + 1] === '*' ? '' : a[i - 1] === '*' ? '.*' : '[^/]*';
      if (c === '?') return '[^/]';
      return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }).join('');
    return { re: new RegExp(`^${src}(/.*)?$`), negate };
  });
}

function ignored(rules: Array<{ re: RegExp; negate: boolean }>, rel: string): boolean {
  let out = false;
  for (const r of rules) if (r.re.test(rel)) out = !r.negate;
  return out;
}

/** A tar stream of the build context. */
export function buildContextTar(build: BuildConfig): Readable {
  const dir = build.context;
  const rules = ignoreRules(dir);
  // tar-stream (and its streamx dependencies) only when something is built
  const { pack } = createRequire(import.meta.url)('tar-stream') as typeof TarStream;
  const p = pack();
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const full = join(abs, name);
      const rel = relative(dir, full).split(sep).join('/');
      const keep = rel === (build.dockerfile ?? 'Dockerfile') || rel === '.dockerignore' || !ignored(rules, rel);
      const st = lstatSync(full);
      if (st.isDirectory()) {
        if (keep) p.entry({ name: `${rel}/`, type: 'directory', mode: st.mode & 0o7777, mtime: st.mtime });
        walk(full); // a negated pattern may bring back something below an ignored directory
      } else if (!keep) {
        continue;
      } else if (st.isSymbolicLink()) {
        p.entry({ name: rel, type: 'symlink', linkname: readlinkSync(full), mode: st.mode & 0o7777, mtime: st.mtime });
      } else if (st.isFile()) {
        p.entry({ name: rel, mode: st.mode & 0o7777, mtime: st.mtime, size: st.size }, readFileSync(full));
      }
    }
  };
  walk(dir);
  if (build.dockerfile_inline !== undefined) p.entry({ name: INLINE_DOCKERFILE, mode: 0o644 }, build.dockerfile_inline);
  p.finalize();
  return p;
}

/** The POST /build query for a service's build section. */
export function buildQuery(build: BuildConfig, tag: string, opts: { pull?: boolean; noCache?: boolean; labels?: Record<string, string> } = {}): Query {
  const args = Object.fromEntries(Object.entries(build.args ?? {}).filter(([, v]) => v !== null)) as Record<string, string>;
  const labels = { ...(build.labels ?? {}), ...(opts.labels ?? {}) };
  return {
    t: [tag, ...(build.tags ?? [])],
    dockerfile: build.dockerfile_inline !== undefined ? INLINE_DOCKERFILE : build.dockerfile,
    buildargs: Object.keys(args).length ? JSON.stringify(args) : undefined,
    labels: Object.keys(labels).length ? JSON.stringify(labels) : undefined,
    target: build.target,
    pull: opts.pull || build.pull || undefined,
    nocache: opts.noCache || build.no_cache || undefined,
    networkmode: build.network,
    shmsize: build.shm_size,
    rm: true,
    forcerm: true,
  };
}
