/**
 * COPY and ADD as the classic builder does them: sources found in the build context (or another
 * root) with wildcards, a content hash of every source for the cache, and the copy into an image
 * root with Docker's destination rules (trailing slash, existing directory, directory contents),
 * ownership (root or --chown), --chmod, and ADD's extraction of local archives.
 */
import { RE2JS } from 're2js';
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, createReadStream, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync,
  readFileSync, readSync, rmSync, symlinkSync, utimesSync, writeFileSync, type Stats,
} from 'node:fs';
import { basename, join, posix } from 'node:path';
import { spawn } from 'node:child_process';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { compressionOf } from '../layer/index.js';
import { hostFs, writeBuffers, type EntryStat, type FsView } from './fs-view.js';
import { cleanRelative, resolveInRoot } from './scoped-path.js';

/** One resolved source of a COPY/ADD. */
export interface CopySource {
  /** Host path of the source (file, dir or symlink). */
  path: string;
  /** The name a single file gets in a directory destination. */
  name: string;
  isDir: boolean;
  /** "file:<hex>" / "dir:<hex>", as the classic builder's cache comments. */
  hash: string;
  /** ADD may unpack a local archive. */
  decompress: boolean;
  /** Inline content (heredoc) instead of a path. */
  inline?: string;
  /** Where `path` is read from (the build context in memory); the host when absent. */
  fs?: FsView;
}

function sha256(data: string | Buffer): string { return createHash('sha256').update(data).digest('hex'); }

async function fileDigest(path: string, size: number): Promise<string> {
  if (size < 1 << 20) return sha256(readFileSync(path));
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** What the cache compares for one entry: type, mode, owner, size, link target and content (not mtimes). */
async function entryHash(path: string, st: EntryStat, fs: FsView): Promise<string> {
  const head = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
  if (st.isSymbolicLink()) return sha256(`l ${head} ${fs.readlink(path)}`);
  if (st.isFile()) {
    const digest = fs.digest?.(path, st) ?? await fileDigest(path, st.size);
    return sha256(`f ${head} ${st.size} ${digest}`);
  }
  if (st.isDirectory()) return sha256(`d ${head}`);
  return sha256(`o ${head} ${st.rdev}`);
}

async function treeHash(root: string, fs: FsView): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const name of fs.readdir(dir).sort()) {
      const p = join(dir, name);
      const st = fs.lstat(p);
      lines.push(`${rel}${name} ${await entryHash(p, st, fs)}`);
      if (st.isDirectory()) await walk(p, `${rel}${name}/`);
    }
  };
  lines.push(`. ${await entryHash(root, fs.lstat(root), fs)}`);
  await walk(root, '');
  return sha256(lines.join('\n'));
}

function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') { i++; continue; }
    if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Go's filepath.Match for one pattern against a whole slash path (`*` never crosses `/`). */
export function goMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new InvalidParameterError('syntax error in pattern');
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/[\]\\]/g, '\\$&');
      else cls = cls.replace(/[\]\\^]/g, '\\$&');
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\]\\/]/g, '\\$&');
  }
  return RE2JS.compile(re + '$').matcher(name).find();   // RE2: linear time for any pattern
}

async function sourceFor(root: string, rel: string, decompress: boolean, fs: FsView): Promise<CopySource> {
  const path = resolveInRoot(root, rel, true, fs);
  const st = fs.lstat(path);
  const isDir = st.isDirectory();
  const hash = isDir ? 'dir:' + (await treeHash(path, fs)) : 'file:' + (await entryHash(path, st, fs));
  return { path, name: basename(rel) || basename(path), isDir, hash, decompress: decompress && !isDir, ...(fs !== hostFs ? { fs } : {}) };
}

/**
 * Resolves the sources of one COPY/ADD inside `root` (the context, or another stage's root; `fs`
 * says where it lives, the host by default). `cmd` names the instruction in error messages ("COPY", "ADD").
 */
export async function collectSources(
  root: string, sources: readonly string[], cmd: string, opts: { decompress: boolean; fs?: FsView },
): Promise<CopySource[]> {
  const fs = opts.fs ?? hostFs;
  const out: CopySource[] = [];
  for (const orig of sources) {
    let p = orig.startsWith('/') && orig.length > 1 ? orig.slice(1) : orig;
    if (p.startsWith('./')) p = p.slice(2);
    const clean = cleanRelative(p);
    if (clean === '..' || clean.startsWith('../')) {
      throw new InvalidParameterError(`${cmd} failed: forbidden path outside the build context: ${orig} ()`);
    }
    if (hasWildcards(clean)) {
      const matches: string[] = [];
      const walk = (rel: string) => {
        const dir = rel ? join(root, rel) : root;
        for (const name of fs.readdir(dir).sort()) {
          const r = rel ? `${rel}/${name}` : name;
          const isDir = fs.lstat(join(root, r)).isDirectory();
          if (goMatch(clean, r)) { matches.push(r); continue; }
          if (isDir) walk(r);
        }
      };
      walk('');
      if (matches.length === 0) throw new InvalidParameterError(`${cmd} failed: no source files were specified`);
      for (const m of matches) out.push(await sourceFor(root, m, opts.decompress, fs));
      continue;
    }
    try {
      fs.lstat(resolveInRoot(root, clean, true, fs));
    } catch {
      throw new NotFoundError(`${cmd} failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`);
    }
    out.push(await sourceFor(root, clean, opts.decompress, fs));
  }
  return out;
}

/** The cache comment's source part: one hash, or "multi:<sha of them all>". */
export function sourcesHash(sources: readonly CopySource[]): string {
  if (sources.length === 1) return sources[0]!.hash;
  return 'multi:' + sha256(sources.map((s) => s.hash).join(','));
}

export interface Identity { uid: number; gid: number }

/** `--chown=user[:group]` against the image's own /etc/passwd and /etc/group (a missing group means the user's name/id). */
export function parseChown(rootfs: string, spec: string): Identity {
  const [user = '', group] = spec.split(':');
  const grp = group === undefined || group === '' ? user : group;
  const read = (file: string): string[][] => {
    try {
      return readFileSync(resolveInRoot(rootfs, `/etc/${file}`), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
    } catch { return []; }
  };
  const lookup = (value: string, file: string, what: string): number => {
    if (/^\d+$/.test(value)) return Number(value);
    const entry = read(file).find((e) => e[0] === value);
    if (!entry) {
      throw new InvalidParameterError(`unable to convert uid/gid chown string to host mapping: can't find ${what} for ${what === 'uid' ? 'user' : 'group'} ${value}: no such ${what === 'uid' ? 'user' : 'group'}: ${value}`);
    }
    return Number(entry[2]);
  };
  return { uid: lookup(user, 'passwd', 'uid'), gid: lookup(grp, 'group', 'gid') };
}

/** `--chmod=755`: octal only (as the classic builder on Linux). */
export function parseChmod(spec: string): number {
  if (!/^[0-7]{1,4}$/.test(spec)) throw new InvalidParameterError(`invalid chmod parameter: ${spec}. it should be octal string and between 0 and 07777`);
  return parseInt(spec, 8);
}

interface CopyOptions { identity: Identity; chmod?: number }

/** mkdir -p inside the root, giving new directories the copy's owner (Docker's MkdirAllAndChownNew). */
function mkdirAllInRoot(root: string, dirInRoot: string, id: Identity): string {
  const parts = dirInRoot.split('/').filter(Boolean);
  let cur = '/';
  for (const part of parts) {
    cur = posix.join(cur, part);
    const host = resolveInRoot(root, cur);
    let st: Stats | undefined;
    try { st = lstatSync(host); } catch { /* create */ }
    if (!st) {
      mkdirSync(host, { mode: 0o755 });
      chmodSync(host, 0o755);
      lchownSync(host, id.uid, id.gid);
    } else if (!st.isDirectory()) {
      throw new InvalidParameterError(`mkdir ${cur}: not a directory`);
    }
  }
  return resolveInRoot(root, dirInRoot);
}

/** Removes what is in the way of a new entry (a file where a dir goes, or the reverse). */
function clearFor(dest: string, wantDir: boolean): void {
  let st: Stats;
  try { st = lstatSync(dest); } catch { return; }
  if (wantDir && st.isDirectory()) return;
  rmSync(dest, { recursive: true, force: true });
}

/** Writes a file held in memory to a new host file. */
function writeChunks(dest: string, chunks: readonly Buffer[]): void {
  const fd = openSync(dest, 'w', 0o644);
  try {
    writeBuffers(fd, chunks);
  } finally { closeSync(fd); }
}

function copyEntry(src: string, st: EntryStat, dest: string, o: CopyOptions, fs: FsView): void {
  if (st.isSymbolicLink()) {
    clearFor(dest, false);
    symlinkSync(fs.readlink(src), dest);
    lchownSync(dest, o.identity.uid, o.identity.gid);
    lutimesSync(dest, st.atime, st.mtime);
    return;
  }
  if (st.isDirectory()) {
    clearFor(dest, true);
    try { mkdirSync(dest); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    for (const name of fs.readdir(src)) {
      const s = join(src, name);
      copyEntry(s, fs.lstat(s), join(dest, name), o, fs);
    }
    lchownSync(dest, o.identity.uid, o.identity.gid);
    chmodSync(dest, o.chmod ?? (st.mode & 0o7777));
    utimesSync(dest, st.atime, st.mtime);
    return;
  }
  if (st.isFile()) {
    clearFor(dest, false);
    const chunks = fs.contents?.(src);
    if (chunks) writeChunks(dest, chunks);
    else copyFileSync(src, dest);
    lchownSync(dest, o.identity.uid, o.identity.gid);
    chmodSync(dest, o.chmod ?? (st.mode & 0o7777));
    utimesSync(dest, st.atime, st.mtime);
    return;
  }
  // devices, fifos, sockets: Docker's archive copies them; a build context rarely has them
  throw new InvalidParameterError(`unsupported file type: ${src}`);
}

const TAR_MAGIC = Buffer.from('ustar');

/** Local archives ADD unpacks: tar, possibly gzip/bzip2/xz compressed. */
export function archiveKind(path: string, fs: FsView = hostFs): 'tar' | 'gzip' | 'bzip2' | 'xz' | undefined {
  let buf = Buffer.alloc(512);
  let n = 0;
  const chunks = fs.contents?.(path);
  if (chunks) {
    const head: Buffer[] = [];
    for (const c of chunks) { head.push(c); n += c.length; if (n >= 512) break; }
    buf = Buffer.concat(head).subarray(0, 512);
    n = buf.length;
  } else {
    const fd = openSync(path, 'r');
    try { n = readSync(fd, buf, 0, 512, 0); } finally { closeSync(fd); }
  }
  const compression = compressionOf(buf.subarray(0, n));
  if (compression && compression !== 'zstd') return compression;
  if (n >= 262 && buf.subarray(257, 262).equals(TAR_MAGIC)) return 'tar';
  return undefined;
}

function extractArchive(file: string, kind: string, destDir: string, fs: FsView): Promise<void> {
  const flag = kind === 'gzip' ? ['-z'] : kind === 'bzip2' ? ['-j'] : kind === 'xz' ? ['-J'] : [];
  const chunks = fs.contents?.(file);
  return new Promise((resolve, reject) => {
    // GNU tar refuses members that climb out with "..", strips leading "/", and creates symlinks last
    const p = spawn('tar', ['-x', ...flag, '-f', chunks ? '-' : file, '-C', destDir, '--same-owner', '--same-permissions', '--no-overwrite-dir'], { stdio: [chunks ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    if (chunks) {
      p.stdin!.on('error', () => undefined);   // tar's own error is reported
      for (const c of chunks) p.stdin!.write(c);
      p.stdin!.end();
    }
    let err = '';
    p.stderr!.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new InvalidParameterError(`failed to extract ${basename(file)}: ${err.trim()}`))));
  });
}

/**
 * Copies the sources into `rootfs` at `dest` (already joined with WORKDIR; a trailing slash
 * means "directory"). Returns nothing; the caller turns the changed upper dir into a layer.
 */
export async function copyInto(rootfs: string, sources: readonly CopySource[], dest: string, o: CopyOptions, cmd: string): Promise<void> {
  const destIsDirSyntax = dest.endsWith('/') || dest.endsWith('/.');
  if (sources.length > 1 && !destIsDirSyntax) {
    throw new InvalidParameterError(`When using ${cmd} with more than one source file, the destination must be a directory and end with a /`);
  }
  for (const s of sources) {
    const fs = s.fs ?? hostFs;
    if (s.isDir) {
      const target = mkdirAllInRoot(rootfs, dest, o.identity);
      for (const name of fs.readdir(s.path)) {
        const p = join(s.path, name);
        copyEntry(p, fs.lstat(p), join(target, name), o, fs);
      }
      continue;
    }
    if (s.decompress && s.inline === undefined) {
      const kind = archiveKind(s.path, fs);
      if (kind) {
        const target = mkdirAllInRoot(rootfs, dest, o.identity);
        await extractArchive(s.path, kind, target, fs);
        continue;
      }
    }
    let fileDest = dest;
    let existingDir = false;
    try { existingDir = lstatSync(resolveInRoot(rootfs, dest)).isDirectory(); } catch { /* new */ }
    if (destIsDirSyntax || existingDir) fileDest = posix.join(dest, s.name);
    mkdirAllInRoot(rootfs, posix.dirname(posix.join('/', fileDest)), o.identity);
    const host = resolveInRoot(rootfs, fileDest, false);
    if (!host.startsWith(rootfs)) throw new InvalidParameterError(`invalid destination ${dest}`);
    if (s.inline !== undefined) {
      clearFor(host, false);
      writeFileSync(host, s.inline);
      lchownSync(host, o.identity.uid, o.identity.gid);
      chmodSync(host, o.chmod ?? 0o644);
      continue;
    }
    copyEntry(s.path, fs.lstat(s.path), host, o, fs);
  }
}

/** A heredoc (`COPY <<EOF /dest`) as a source. */
export function inlineSource(name: string, data: string): CopySource {
  return { path: '', name, isDir: false, hash: 'file:' + sha256(`inline ${name} ${data}`), decompress: false, inline: data };
}
