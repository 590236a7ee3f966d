/** Packs a build context directory into a tar stream for POST /build, honouring .dockerignore (simple patterns). */
import { lstatSync, readFileSync, readdirSync, readlinkSync, createReadStream, existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { StatusError, type Ctx } from './command.js';

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') { re += '.*'; i++; if (pattern[i + 1] === '/') i++; } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}(/.*)?$`);
}

/** Returns a predicate telling whether a context-relative path is excluded by .dockerignore. */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.\//, '');
    return { negate, re: globToRegExp(pat) };
  });
  return (path) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

export async function buildContextTar(dir: string, file: string | undefined, ctx: Ctx): Promise<{ stream: Readable; dockerfile: string }> {
  if (dir === '-') return { stream: ctx.io.stdin, dockerfile: file ?? 'Dockerfile' };
  const root = resolve(ctx.io.cwd, dir);
  if (!existsSync(root)) throw new StatusError(`unable to prepare context: path "${dir}" not found`, 1);
  const dfPath = file ? resolve(ctx.io.cwd, file) : join(root, 'Dockerfile');
  if (!existsSync(dfPath)) throw new StatusError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${dfPath}: no such file or directory`, 1);
  let ignored: (p: string) => boolean = () => false;
  try { ignored = dockerignoreMatcher(readFileSync(join(root, '.dockerignore'), 'utf8')); } catch { /* none */ }
  const pack = tar.pack();
  const relDf = relative(root, dfPath);
  const dfInside = !relDf.startsWith('..') && !relDf.startsWith(sep);
  const dockerfile = dfInside ? relDf.split(sep).join('/') : '.berth-dockerfile';
  (async () => {
    const entry = (header: tar.Headers, body?: Readable): Promise<void> => new Promise((res, rej) => {
      const e = pack.entry(header, (err) => err ? rej(err) : res());
      if (body) body.pipe(e); else if (header.type !== 'file') e.end();
    });
    const walk = async (d: string): Promise<void> => {
      for (const name of readdirSync(d).sort()) {
        const abs = join(d, name);
        const rel = relative(root, abs).split(sep).join('/');
        if (ignored(rel) && rel !== dockerfile && rel !== '.dockerignore') continue;
        const st = lstatSync(abs);
        const common = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: st.uid, gid: st.gid };
        if (st.isDirectory()) { await entry({ ...common, type: 'directory' }); await walk(abs); }
        else if (st.isSymbolicLink()) await entry({ ...common, type: 'symlink', linkname: readlinkSync(abs) });
        else if (st.isFile()) await entry({ ...common, type: 'file', size: st.size }, createReadStream(abs));
      }
    };
    await walk(root);
    if (!dfInside) {
      const body = readFileSync(dfPath);
      await new Promise<void>((res, rej) => pack.entry({ name: dockerfile, size: body.length, mode: 0o644 }, body, (err) => err ? rej(err) : res()));
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return { stream: pack as unknown as Readable, dockerfile };
}
