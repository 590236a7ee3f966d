/**
 * `cp` in both directions over GET/HEAD/PUT /containers/{id}/archive, with docker's path rules:
 * copying into an existing directory keeps the source's name, otherwise the copy takes the
 * destination's name; `SRC/.` copies a directory's contents. Local extraction never writes outside
 * the destination (no `..`, no absolute names, no writing through symlinks).
 */
import { createReadStream, createWriteStream, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, utimesSync, chmodSync, type Stats } from 'node:fs';
import { basename, dirname, join, posix, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { NotFoundError } from '../errors/index.js';
import { StatusError, type Ctx } from './command.js';
import { humanSizeWithPrecision } from './format/humanize.js';

const GO_MODE_DIR = 0x80000000;

function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

export interface CopyOptions { archive: boolean; followLink: boolean; quiet: boolean }

export async function copyCommand(ctx: Ctx, srcArg: string, dstArg: string, opts: CopyOptions): Promise<number> {
  const src = splitCpArg(srcArg); const dst = splitCpArg(dstArg);
  if (src.container && dst.container) throw new StatusError('copying between containers is not supported', 1);
  if (!src.container && !dst.container) throw new StatusError('must specify at least one container source', 1);
  if (src.container) return fromContainer(ctx, src.container, src.path, dst.path, opts);
  return toContainer(ctx, src.path, dst.container!, dst.path, opts);
}

/** Rewrites the first path component of tar entry names (the copy's root) to `root` ('' = strip). */
function renameRoot(name: string, root: string): string {
  // Entries are rooted at the source's name; for `dir/.` (and `/`) that is `.`: `./`, `./file`.
  let rest: string;
  if (name === '.' || name.startsWith('./')) rest = name.slice(2);
  else { const i = name.indexOf('/'); rest = i < 0 ? '' : name.slice(i + 1); }
  if (root === '') return rest;
  return rest ? `${root}/${rest}` : root;
}

function inside(root: string, p: string): boolean { return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep); }

async function extractTar(stream: Readable, destDir: string, rename: ((n: string) => string) | undefined): Promise<number> {
  const ex = tar.extract();
  const root = realpathSync(destDir);
  let total = 0;
  ex.on('entry', (header, body, next) => {
    const fail = (e: Error): void => { body.resume(); ex.destroy(e); };
    let name = rename ? rename(header.name) : header.name.replace(/^\.\//, '');
    name = name.replace(/\/+$/, '');
    if (!name) { body.resume(); body.on('end', next); return; }
    const target = resolve(root, name);
    if (!inside(root, target) || name.split('/').includes('..')) { fail(new Error(`refusing to extract ${header.name}: outside the destination`)); return; }
    // Never write through a symlink that an earlier entry (or the destination) placed on the way.
    try {
      const parent = realpathSync(dirname(target));
      if (!inside(root, parent)) { fail(new Error(`refusing to extract ${header.name}: path escapes through a symlink`)); return; }
    } catch { /* parent created below */ }
    try {
      if (header.type === 'directory') {
        mkdirSync(target, { recursive: true });
        if (header.mode) chmodSync(target, header.mode & 0o7777);
        body.resume(); body.on('end', next); return;
      }
      mkdirSync(dirname(target), { recursive: true });
      if (header.type === 'symlink') {
        try { lstatSync(target); fail(new Error(`refusing to replace ${name}`)); return; } catch { /* free */ }
        symlinkSync(header.linkname ?? '', target);
        body.resume(); body.on('end', next); return;
      }
      if (header.type === 'file' || header.type === 'contiguous-file') {
        try { if (lstatSync(target).isSymbolicLink()) { fail(new Error(`refusing to write through symlink ${name}`)); return; } } catch { /* new */ }
        const out = createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o7777 });
        body.on('data', (d: Buffer) => { total += d.length; });
        pipeline(body, out).then(() => {
          if (header.mtime) { try { utimesSync(target, header.mtime, header.mtime); } catch { /* best effort */ } }
          next();
        }, (e: Error) => ex.destroy(e));
        return;
      }
      body.resume(); body.on('end', next);
    } catch (e) { fail(e as Error); }
  });
  await pipeline(stream, ex);
  return total;
}

async function fromContainer(ctx: Ctx, container: string, srcPath: string, dest: string, opts: CopyOptions): Promise<number> {
  const client = await ctx.client();
  let res;
  try {
    res = await client.getArchive(container, srcPath);
  } catch (e) {
    if (e instanceof NotFoundError) throw new StatusError(`Error response from daemon: ${e.message}`, 1);
    throw e;
  }
  if (dest === '-') { await pipeline(res.stream, ctx.io.stdout, { end: false }); return 0; }
  const srcIsDir = (res.stat.mode & GO_MODE_DIR) !== 0;
  const contentsOnly = /\/\.$/.test(srcPath);
  let st: Stats | undefined;
  try { st = statSync(dest); } catch { /* missing */ }
  let dir: string; let rename: ((n: string) => string) | undefined;
  if (st?.isDirectory()) {
    dir = dest;
    if (contentsOnly) rename = (n) => renameRoot(n, '');
  } else if (st) {
    if (srcIsDir) throw new StatusError(`cannot copy a directory to a file: ${dest}`, 1);
    dir = dirname(resolve(ctx.io.cwd, dest)); rename = (n) => renameRoot(n, basename(dest));
  } else {
    if (dest.endsWith('/') && !srcIsDir) throw new StatusError(`destination directory ${dest} does not exist`, 1);
    dir = dirname(resolve(ctx.io.cwd, dest));
    try { statSync(dir); } catch { throw new StatusError(`destination directory ${dirname(dest)} does not exist`, 1); }
    rename = (n) => renameRoot(n, basename(dest));
    if (contentsOnly) { mkdirSync(resolve(ctx.io.cwd, dest)); dir = resolve(ctx.io.cwd, dest); rename = (n) => renameRoot(n, ''); }
  }
  void opts;
  const total = await extractTar(res.stream, resolve(ctx.io.cwd, dir), rename);
  if (!opts.quiet && ctx.io.stderr && (ctx.io.stdout.isTTY)) ctx.err(`Successfully copied ${humanSizeWithPrecision(total, 3)} to ${dest}\n`);
  return 0;
}

function packLocal(src: string, root: string, follow: boolean, archive: boolean): { stream: Readable; size: Promise<number> } {
  const pack = tar.pack();
  let total = 0;
  let done!: (n: number) => void;
  const size = new Promise<number>((r) => { done = r; });
  const add = async (abs: string, name: string, top: boolean): Promise<void> => {
    const st = top && follow ? statSync(abs) : lstatSync(abs);
    const common = { name, mode: st.mode & 0o7777, mtime: st.mtime, uid: archive ? st.uid : 0, gid: archive ? st.gid : 0 };
    if (st.isDirectory()) {
      await new Promise<void>((r, j) => pack.entry({ ...common, type: 'directory' }, (e) => e ? j(e) : r()));
      for (const n of readdirSync(abs).sort()) await add(join(abs, n), name ? `${name}/${n}` : n, false);
    } else if (st.isSymbolicLink()) {
      await new Promise<void>((r, j) => pack.entry({ ...common, type: 'symlink', linkname: readlinkSync(abs) }, (e) => e ? j(e) : r()));
    } else if (st.isFile()) {
      total += st.size;
      await new Promise<void>((r, j) => {
        const entry = pack.entry({ ...common, type: 'file', size: st.size }, (e) => e ? j(e) : r());
        createReadStream(abs).pipe(entry);
      });
    }
  };
  (async () => {
    const st = follow ? statSync(src) : lstatSync(src);
    if (root === '' && st.isDirectory()) {
      for (const n of readdirSync(src).sort()) await add(join(src, n), n, false);
    } else await add(src, root, true);
    pack.finalize();
    done(total);
  })().catch((e: Error) => pack.destroy(e));
  return { stream: pack as unknown as Readable, size };
}

async function toContainer(ctx: Ctx, src: string, container: string, destPath: string, opts: CopyOptions): Promise<number> {
  const client = await ctx.client();
  if (src === '-') {
    await client.putArchive(container, destPath, ctx.io.stdin, { copyUIDGID: opts.archive });
    return 0;
  }
  const abs = resolve(ctx.io.cwd, src);
  let st: Stats;
  try { st = opts.followLink ? statSync(abs) : lstatSync(abs); } catch {
    throw new StatusError(`lstat ${abs}: no such file or directory`, 1);
  }
  const contentsOnly = /\/\.$/.test(src);
  let destDir: string; let rootName: string;
  let dstStat;
  try { dstStat = await client.statContainerPath(container, destPath); } catch (e) {
    // A missing path is fine (the copy creates it); a missing container or endpoint is not.
    if (!(e instanceof NotFoundError) || /No such container|page not found/i.test(e.message)) throw e;
  }
  if (dstStat && (dstStat.mode & GO_MODE_DIR) !== 0) {
    destDir = destPath; rootName = contentsOnly ? '' : basename(abs);
  } else if (dstStat) {
    if (st.isDirectory()) throw new StatusError(`cannot copy a directory to a file: ${destPath}`, 1);
    destDir = posix.dirname(destPath); rootName = posix.basename(destPath);
  } else {
    if (destPath.endsWith('/')) throw new StatusError(`Error response from daemon: Could not find the file ${destPath} in container ${container}`, 1);
    destDir = posix.dirname(destPath); rootName = posix.basename(destPath);
  }
  const { stream, size } = packLocal(contentsOnly ? abs.replace(/\/\.$/, '') : abs, rootName, opts.followLink, opts.archive);
  await client.putArchive(container, destDir, stream, { copyUIDGID: opts.archive, noOverwriteDirNonDir: true });
  const total = await size;
  if (!opts.quiet && ctx.io.stdout.isTTY) ctx.err(`Successfully copied ${humanSizeWithPrecision(total, 3)} to ${container}:${destPath}\n`);
  return 0;
}
