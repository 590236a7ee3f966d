/**
 * Unpacks one layer tar (plain or gzip) into an empty directory, hashing the uncompressed bytes as it goes (DiffID).
 *
 * Safety: the target directory is fresh and private, so the unpacker knows every node in it (`nodes`). Entry names are
 * cleaned like Docker does (absolute → relative; a `..` that climbs above the root is refused); parent paths are
 * resolved through the in-memory tree like securejoin (a symlink in the path is followed *inside* the root; an absolute
 * target means the root), so no write ever follows a symlink on disk. Final components are created with
 * O_EXCL|O_NOFOLLOW as a second line of defence. Hard links must point at a non-directory already in this layer.
 *
 * Docker whiteouts become overlayfs ones: `.wh.NAME` → character device 0/0, `.wh..wh..opq` → trusted.overlay.opaque=y.
 * Node cannot mknod or set xattrs, so those (and device/fifo entries) are created in one batch process each at the end.
 *
 * Speed: file data is written with synchronous calls straight from the tar parser's chunks (no per-file promises,
 * no thread-pool hops); each call is short, so the event loop stays responsive between chunks.
 */
import { createHash, type Hash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import * as fs from 'node:fs';
import * as path from 'node:path';
import tar from 'tar-stream';
import { BerthError, InvalidParameterError } from '../errors/index.js';
import { execFile, run } from './exec.js';
import { quotePath, setOpaque } from './xattr.js';
import { SplitWriter } from './tar-split.js';
import { WRITEBACK_STEP, WritebackCounter, closeAfterWriteback } from './writeback.js';

export const WHITEOUT_PREFIX = '.wh.';
/** Contents the archive itself replaced, kept beside the tar-split (paths in the split are relative to diff/). */
const STASH_DIR = 'tar-split-stash';
const STASH_REL = `../${STASH_DIR}/`;
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

export interface UnpackResult {
  diffId: string;     // sha256 of the uncompressed tar
  tarSize: number;    // bytes of the uncompressed tar
  size: number;       // bytes of content (regular files once per inode, symlink targets)
  entries: number;
  /** A tar-split was kept: the exact tar can be rebuilt from the unpacked files (splitTarStream). */
  reproducible: boolean;
}

type Node =
  | { kind: 'dir' }
  | { kind: 'file' }
  | { kind: 'symlink'; target: string }
  | { kind: 'special' }       // device or fifo, created in the final batch
  | { kind: 'whiteout' };     // created in the final batch

interface Meta { mode: number; uid: number; gid: number; atime?: number; mtime?: number }
interface Special extends Meta { type: 'c' | 'b' | 'p'; major: number; minor: number }

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

// Skipping syscalls that would change nothing (chown to our own ids, chmod to what open already set) is most of the
// per-file cost that is ours rather than the kernel's.
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;
function currentUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return parseInt(m[1]!, 8);
  } catch { /* not Linux: assume the worst */ }
  return 0o777;
}
/** This process's umask, read once (process.umask() would have to change it to read it). */
export const PROCESS_UMASK = currentUmask();
const UMASK = PROCESS_UMASK;
const MAX_SYMLINK_HOPS = 40;

/** Cleans a tar entry name the way Docker does: absolute becomes relative; escaping above the root is an error. */
export function cleanEntryName(name: string): string {
  const n = path.posix.normalize('/' + name);      // '/..' normalises to '/': check the raw components instead
  let depth = 0;
  for (const c of name.split('/')) {
    if (c === '..') { if (--depth < 0) throw new InvalidParameterError(`invalid tar entry "${name}": path escapes the layer root`); }
    else if (c !== '' && c !== '.') depth++;
  }
  return n === '/' ? '' : n.slice(1).replace(/\/$/, '');
}

const digestOf = (h: Hash) => 'sha256:' + h.digest('hex');

function secondsOf(header: tar.Headers, key: 'mtime' | 'atime'): number | undefined {
  const pax = (header as { pax?: Record<string, string> }).pax;
  const v = pax?.[key];
  if (v !== undefined && v !== '' && Number.isFinite(Number(v))) return Number(v);
  if (key === 'mtime' && header.mtime) return header.mtime.getTime() / 1000;
  return undefined;
}

class TreeWriter {
  private readonly nodes = new Map<string, Node>([['', { kind: 'dir' }]]);
  private readonly dirMeta = new Map<string, Meta>();
  private readonly specials = new Map<string, Special>();
  private readonly whiteouts = new Map<string, { uid: number; gid: number; mtime?: number }>();
  private readonly opaque = new Set<string>();
  private readonly laterLinks: Array<{ target: string; rel: string }> = [];
  private readonly counted = new Set<string>();   // rel paths whose bytes are in `size` (removed on replace)
  private readonly sizes = new Map<string, number>();
  /** For tar-split: the path of each regular file's content, in archive order (null: content not kept). */
  readonly payloadPaths: Array<string | null> = [];
  readonly payloadSizes: number[] = [];
  private readonly referenced = new Set<string>();
  splitBroken = false;
  entries = 0;

  private readonly xattrTargets = new Map<string, Array<[string, Buffer]>>();

  /** stashDir: where the content of a file the archive later replaces is kept for the tar-split (null: no split). */
  constructor(private readonly root: string, private readonly framer: SplitWriter, private readonly stashDir: string | null = null) {}

  private stashed = 0;

  /**
   * A file whose content the tar-split points at is going away (the archive replaces or removes it): its content is
   * moved next to the split instead, so the exact tar can still be rebuilt. False when there is no split.
   */
  private stash(rel: string): boolean {
    if (this.stashDir === null) return false;
    fs.mkdirSync(this.stashDir, { recursive: true, mode: 0o700 });
    const name = String(this.stashed++);
    fs.renameSync(this.abs(rel), path.join(this.stashDir, name));
    const moved = STASH_REL + name;
    for (let i = 0; i < this.payloadPaths.length; i++) if (this.payloadPaths[i] === rel) this.payloadPaths[i] = moved;
    this.referenced.delete(rel);
    return true;
  }

  /** xattrs from the entry's PAX records, minus overlay's own (an archive must not forge overlay metadata). */
  private noteXattrs(rel: string, xa: Array<[string, Buffer]> | undefined): void {
    if (!xa) return;
    const keep = xa.filter(([n]) => /^[A-Za-z0-9._:-]+$/.test(n) && !n.startsWith('trusted.overlay.') && n !== 'security.selinux');
    if (keep.length > 0) this.xattrTargets.set(rel, keep);
  }

  private abs(rel: string): string { return rel === '' ? this.root : this.root + '/' + rel; }

  get size(): number { let s = 0; for (const v of this.sizes.values()) s += v; return s; }

  /**
   * Resolves a directory path (components relative to the root) through the tree, following symlinks inside the
   * root. With `create`, missing components become directories (0755, root-owned), as Docker's MkdirAll does.
   * Returns the real relative path, or null when !create and something is missing.
   */
  private resolveDir(relPath: string, create: boolean, entryName: string): string | null {
    const queue = relPath === '' ? [] : relPath.split('/');
    const cur: string[] = [];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') { cur.pop(); continue; }
      const p = cur.length === 0 ? c : cur.join('/') + '/' + c;
      const node = this.nodes.get(p);
      if (node === undefined || node.kind === 'whiteout') {
        if (!create) return null;
        if (node) this.whiteouts.delete(p);
        fs.mkdirSync(this.abs(p), 0o755);
        this.nodes.set(p, { kind: 'dir' });
        this.dirMeta.set(p, { mode: 0o755, uid: 0, gid: 0 });
        cur.push(c);
      } else if (node.kind === 'dir') {
        cur.push(c);
      } else if (node.kind === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) throw new InvalidParameterError(`invalid tar entry "${entryName}": too many levels of symbolic links`);
        if (node.target.startsWith('/')) cur.length = 0;   // absolute targets mean the layer root
        queue.unshift(...node.target.split('/'));
      } else {
        throw new InvalidParameterError(`invalid tar entry "${entryName}": a parent path component is not a directory`);
      }
    }
    return cur.join('/');
  }

  /** Where an entry goes: its parent resolved (and created) inside the root, plus its own name unresolved. */
  private place(cleaned: string, entryName: string): { parent: string; base: string; rel: string } {
    const i = cleaned.lastIndexOf('/');
    const parent = this.resolveDir(i < 0 ? '' : cleaned.slice(0, i), true, entryName)!;
    const base = i < 0 ? cleaned : cleaned.slice(i + 1);
    return { parent, base, rel: parent === '' ? base : parent + '/' + base };
  }

  /** Removes whatever is at rel (pending or on disk). Keeps an existing directory when keepDir; returns whether kept. */
  private removeExisting(rel: string, keepDir: boolean): boolean {
    const node = this.nodes.get(rel);
    if (node === undefined) return false;
    // A kept file's content is going away: stashed for the tar-split (or the split is given up).
    let stashed = false;
    if (this.referenced.has(rel)) { stashed = this.stash(rel); if (!stashed) this.splitBroken = true; }
    if (node.kind === 'dir' && !keepDir && this.referenced.size > 0) {
      for (const r of [...this.referenced]) if (r.startsWith(rel + '/') && !this.stash(r)) this.splitBroken = true;
    }
    if (node.kind === 'dir') {
      if (keepDir) return true;
      fs.rmSync(this.abs(rel), { recursive: true, force: true });
      const prefix = rel + '/';
      for (const m of [this.nodes, this.dirMeta, this.specials, this.whiteouts, this.sizes, this.xattrTargets] as Map<string, unknown>[]) {
        for (const k of m.keys()) if (k.startsWith(prefix)) m.delete(k);
      }
      for (const k of this.opaque) if (k === rel || k.startsWith(prefix)) this.opaque.delete(k);
      this.dirMeta.delete(rel);
    } else if (node.kind === 'whiteout') {
      this.whiteouts.delete(rel);
    } else if (node.kind === 'special') {
      this.specials.delete(rel);
    } else if (!stashed) {
      fs.unlinkSync(this.abs(rel));
    }
    this.sizes.delete(rel);
    this.xattrTargets.delete(rel);
    this.nodes.delete(rel);
    return false;
  }

  /** Handles one entry; calls done() (possibly later, after the data) exactly once. */
  entry(header: tar.Headers, stream: NodeJS.ReadableStream & { resume(): void }, done: (err?: Error) => void): void {
    const xa = this.framer.xattrs.get(this.entries);
    if (xa) this.framer.xattrs.delete(this.entries);
    this.entries++;
    const name = header.name;
    const isFileType = header.type === 'file' || header.type === 'contiguous-file';
    const payload = isFileType && (header.size ?? 0) > 0 ? this.payloadPaths.push(null) - 1 : -1;
    if (payload >= 0) this.payloadSizes.push(header.size!);
    const cleaned = cleanEntryName(name);
    const drainAndDone = () => {
      if (!header.size) return done();
      stream.on('end', () => done());
      stream.on('error', (e: Error) => done(e));
      stream.resume();
    };
    if (cleaned === '') return drainAndDone();   // the root entry "./": Docker keeps the existing root as is
    const { parent, base, rel } = this.place(cleaned, name);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mtime = secondsOf(header, 'mtime');
    const atime = secondsOf(header, 'atime') ?? mtime;

    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === WHITEOUT_OPAQUE) {
        this.opaque.add(parent);
      } else if (!base.startsWith(WHITEOUT_META_PREFIX)) {   // other .wh..wh.* are aufs bookkeeping: skip
        const victim = base.slice(WHITEOUT_PREFIX.length);
        if (victim === '' || victim === '.' || victim === '..') throw new InvalidParameterError(`invalid whiteout entry "${name}"`);
        const vrel = parent === '' ? victim : parent + '/' + victim;
        this.removeExisting(vrel, false);
        this.nodes.set(vrel, { kind: 'whiteout' });
        this.whiteouts.set(vrel, { uid, gid, mtime });
      }
      return drainAndDone();
    }

    switch (header.type) {
      case 'file':
      case 'contiguous-file': {
        this.removeExisting(rel, false);
        const p = this.abs(rel);
        const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        const chown = uid !== EUID || gid !== EGID;
        // chown clears setuid/setgid, and the umask may have masked bits: only then is a chmod needed
        const chmod = (mode & UMASK) !== 0 || (chown && (mode & 0o6000) !== 0);
        this.nodes.set(rel, { kind: 'file' });
        this.sizes.set(rel, header.size ?? 0);
        if (payload >= 0) { this.payloadPaths[payload] = rel; this.referenced.add(rel); }
        this.noteXattrs(rel, xa);
        let failed = false;
        const finish = (err?: Error) => {
          if (failed) return;
          if (err) { failed = true; try { closeAfterWriteback(fd); } catch { /* already failing */ } return done(err); }
          try {
            if (chown) fs.fchownSync(fd, uid, gid);
            if (chmod) fs.fchmodSync(fd, mode);   // after chown, which clears setuid/setgid
            if (mtime !== undefined) fs.futimesSync(fd, atime!, mtime);
            closeAfterWriteback(fd);
          } catch (e) { failed = true; try { closeAfterWriteback(fd); } catch { /* ignore */ } return done(e as Error); }
          done();
        };
        if (!header.size) return finish();
        // Big files start reaching the disk while the rest streams in (the layer's commit flushes with one syncfs).
        const writeback = header.size >= WRITEBACK_STEP ? new WritebackCounter(fd) : null;
        stream.on('data', (chunk: Buffer) => {
          if (failed) return;
          try {
            let off = 0;
            while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
            writeback?.wrote(chunk.length);
          } catch (e) { finish(e as Error); }
        });
        stream.on('end', () => finish());
        stream.on('error', (e: Error) => finish(e));
        return;
      }
      case 'directory': {
        if (!this.removeExisting(rel, true)) {
          fs.mkdirSync(this.abs(rel), 0o755);
          this.nodes.set(rel, { kind: 'dir' });
        }
        this.dirMeta.set(rel, { mode, uid, gid, atime, mtime });
        this.noteXattrs(rel, xa);
        return drainAndDone();
      }
      case 'symlink': {
        const target = header.linkname ?? '';
        if (target === '') throw new InvalidParameterError(`invalid tar entry "${name}": symbolic link with an empty target`);
        this.removeExisting(rel, false);
        const p = this.abs(rel);
        fs.symlinkSync(target, p);
        if (uid !== EUID || gid !== EGID) fs.lchownSync(p, uid, gid);
        if (mtime !== undefined) fs.lutimesSync(p, atime!, mtime);
        this.nodes.set(rel, { kind: 'symlink', target });
        this.sizes.set(rel, Buffer.byteLength(target));
        this.noteXattrs(rel, xa);
        return drainAndDone();
      }
      case 'link': {
        const linkname = header.linkname ?? '';
        const tclean = cleanEntryName(linkname);
        if (tclean === '') throw new InvalidParameterError(`invalid tar entry "${name}": hard link to the layer root`);
        const ti = tclean.lastIndexOf('/');
        const tparent = this.resolveDir(ti < 0 ? '' : tclean.slice(0, ti), false, name);
        const trel = tparent === null ? null : (tparent === '' ? '' : tparent + '/') + tclean.slice(ti + 1);
        const tnode = trel === null ? undefined : this.nodes.get(trel);
        if (trel === null || tnode === undefined || tnode.kind === 'whiteout') {
          throw new InvalidParameterError(`invalid tar entry "${name}": hard link target "${linkname}" is not in this layer`);
        }
        if (tnode.kind === 'dir') throw new InvalidParameterError(`invalid tar entry "${name}": hard link to a directory`);
        if (trel === rel) return drainAndDone();
        this.removeExisting(rel, false);
        this.nodes.set(rel, tnode);
        if (tnode.kind === 'special') this.laterLinks.push({ target: trel, rel });
        else fs.linkSync(this.abs(trel), this.abs(rel));
        return drainAndDone();
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        this.removeExisting(rel, false);
        const type = header.type === 'fifo' ? 'p' : header.type === 'block-device' ? 'b' : 'c';
        this.specials.set(rel, { type, major: header.devmajor ?? 0, minor: header.devminor ?? 0, mode, uid, gid, atime, mtime });
        this.nodes.set(rel, { kind: 'special' });
        this.noteXattrs(rel, xa);
        return drainAndDone();
      }
      default:
        throw new InvalidParameterError(`invalid tar entry "${name}": unsupported entry type ${String(header.type)}`);
    }
  }

  /** Creates the batched nodes (devices, whiteouts, opaque markers) and applies directory metadata last. */
  async finish(): Promise<void> {
    // Node cannot mknod. Every device, fifo and whiteout of the layer is made by ONE GNU tar process reading a
    // small tar of just those nodes (owner, mode and mtime included): thousands of whiteouts cost one spawn, not
    // thousands. Their parents are real directories of this private tree (resolved above), so nothing is followed.
    if (this.specials.size + this.whiteouts.size > 0) {
      const pack = tar.pack();
      const chunks: Buffer[] = [];
      const collected = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
      const TYPES = { c: 'character-device', b: 'block-device', p: 'fifo' } as const;
      for (const [rel, sp] of this.specials) {
        pack.entry({ name: rel, type: TYPES[sp.type], devmajor: sp.major, devminor: sp.minor, mode: sp.mode || 0o10000,
          uid: sp.uid, gid: sp.gid, mtime: new Date((sp.mtime ?? Date.now() / 1000) * 1000) });
      }
      for (const [rel, w] of this.whiteouts) {
        // mode 0 would read as "use the default" to tar-stream: 0o10000 is outside the permission bits and is masked
        pack.entry({ name: rel, type: 'character-device', devmajor: 0, devminor: 0, mode: 0o10000, uid: w.uid, gid: w.gid,
          mtime: new Date((w.mtime ?? Date.now() / 1000) * 1000) });
      }
      pack.finalize();
      await collected;
      await run('tar', ['-x', '-f', '-', '-C', this.root, '--numeric-owner', '--same-owner', '--same-permissions', '--no-recursion', '--warning=no-timestamp'],
        { input: Buffer.concat(chunks) });
    }
    for (const { target, rel } of this.laterLinks) fs.linkSync(this.abs(target), this.abs(rel));
    if (this.opaque.size > 0) await setOpaque(this.root, this.opaque);
    // Directories last (deepest first), so creating their children no longer moves their mtimes.
    const dirs = [...this.dirMeta].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, m] of dirs) {
      const p = this.abs(rel);
      fs.lchownSync(p, m.uid, m.gid);
      fs.chmodSync(p, m.mode);
      if (m.mtime !== undefined) fs.utimesSync(p, m.atime!, m.mtime);
    }
    fs.chmodSync(this.root, 0o755);
    // Last, after every chown (which clears security.capability). Best effort, like Docker: a filesystem without
    // support for some namespace must not fail the whole layer.
    if (this.xattrTargets.size > 0) {
      let dump = '';
      for (const [rel, attrs] of this.xattrTargets) {
        dump += `# file: ${quotePath(rel)}\n`;
        for (const [n, v] of attrs) dump += `${n}=0x${v.toString('hex')}\n`;
        dump += '\n';
      }
      await execFile('setfattr', ['-h', '--restore=-'], { input: dump, cwd: this.root });
    }
  }
}

/**
 * When an unpack stops early (a corrupt or hostile archive), the rest of the input is drained and discarded rather
 * than destroyed: an HTTP request body must stay readable so the error can still be answered, and a caller that tees
 * one source into several consumers (content store + layer store) must not stall on the abandoned branch.
 */
export function drain(input: NodeJS.ReadableStream): void {
  const r = input as Readable;
  if (typeof r.on === 'function') r.on('error', () => { /* nobody is listening any more */ });
  if (typeof r.resume === 'function' && !r.destroyed) r.resume();
}

/** The compression a stream's first bytes announce (at least 6 bytes to tell them all apart). */
export function compressionOf(head: Buffer): 'gzip' | 'zstd' | 'xz' | 'bzip2' | undefined {
  const is = (...m: number[]) => head.length >= m.length && m.every((v, i) => head[i] === v);
  if (is(0x1f, 0x8b)) return 'gzip';
  if (is(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (is(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  // "BZh" and a block size: a tar whose first name starts "BZh" must still be a tar
  if (is(0x42, 0x5a, 0x68) && head.length >= 4 && head[3] >= 0x31 && head[3] <= 0x39) {
    const block = head.subarray(4, 10).toString('hex');
    if (head.length < 10 || block === '314159265359' || block === '177245385090') return 'bzip2';
  }
  return undefined;
}

/**
 * Peeks at the first bytes: gzip is decompressed, other compressions are refused clearly (naming
 * `what`: layers, archives), anything else is passed on as tar.
 */
export async function decompressed(input: NodeJS.ReadableStream, what = 'layers'): Promise<AsyncIterable<Buffer>> {
  const r = input as Readable;
  // destroyOnReturn: false — leaving the loop early must not destroy the caller's stream (see drain)
  const it: AsyncIterator<Buffer | string> = typeof r.iterator === 'function'
    ? r.iterator({ destroyOnReturn: false })
    : (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let ended = false;
  const release = async () => {
    if (ended) return;
    ended = true;
    try { await it.return?.(); } catch { /* already failed */ }
    drain(input);
  };
  const head: Buffer[] = [];
  let len = 0;
  try {
    while (len < 6) {
      const n = await it.next();
      if (n.done) { ended = true; break; }
      const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
      head.push(b); len += b.length;
    }
  } catch (e) { await release(); throw e; }
  const first = Buffer.concat(head);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      if (ended) return;
      for (let n = await it.next(); !n.done; n = await it.next()) yield typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
      ended = true;
    } finally {
      await release();
    }
  }
  const kind = compressionOf(first);
  if (kind === undefined) return rest();
  if (kind !== 'gzip') { await release(); throw new InvalidParameterError(`${kind}-compressed ${what} are not supported`); }
  const gunzip = createGunzip({ chunkSize: 1 << 20 });   // zlib's 16 KiB default costs a write and callbacks each
  return pipeline(Readable.from(rest()), gunzip, () => { /* errors surface through iterating gunzip */ });
}

function invalid(err: unknown): Error {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) return new InvalidParameterError(`invalid layer archive: gzip data is corrupt or truncated (${e.message})`);
  if (e instanceof Error && (e.code === undefined || e.code === 'ERR_INVALID_ARG_VALUE' || e.code === 'ENAMETOOLONG')) {
    return new InvalidParameterError(`invalid layer archive: ${e.message}`);
  }
  return e as Error;
}

/**
 * Unpacks `input` into `dir` (must exist and be empty). Returns the DiffID; throws InvalidParameterError on a corrupt,
 * truncated or malicious archive (the caller removes `dir`).
 */
export async function unpackTar(input: NodeJS.ReadableStream, dir: string, opts: { splitDir?: string } = {}): Promise<UnpackResult> {
  const hash = createHash('sha256');
  let tarSize = 0;
  const split = new SplitWriter(opts.splitDir ?? null);
  const tree = new TreeWriter(dir, split, opts.splitDir ? path.join(opts.splitDir, STASH_DIR) : null);
  // allowUnknownFormat: pre-POSIX (v7) tars have no magic; Docker accepts them. Headers are still checksummed.
  const extract = tar.extract({ highWaterMark: 1 << 20, allowUnknownFormat: true } as object);
  let failure: Error | null = null;
  extract.on('entry', (header, stream, next) => {
    stream.on('error', () => { /* a failed unpack destroys the entry stream too; the failure is reported once below */ });
    let called = false;
    const done = (err?: Error) => {
      if (called) return;
      called = true;
      if (err && !failure) failure = invalid(err);
      // Never continue the parser from inside its own 'entry' event: with many data-less entries in one chunk
      // that recursion would overflow the stack.
      queueMicrotask(() => next(err));
    };
    try { tree.entry(header, stream as unknown as NodeJS.ReadableStream & { resume(): void }, done); }
    catch (e) { done(e as Error); }
  });
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', () => resolve());
    extract.on('error', (e: Error) => reject(failure ?? invalid(e)));
    extract.on('close', () => { if (failure) reject(failure); });
  });
  finished.catch(() => { /* observed below */ });
  let drainWaiter: (() => void) | null = null;
  extract.on('drain', () => { const w = drainWaiter; drainWaiter = null; w?.(); });
  extract.on('close', () => { const w = drainWaiter; drainWaiter = null; w?.(); });

  try {
    const source = await decompressed(input);
    for await (const chunk of source) {
      if (failure || extract.destroyed) break;
      hash.update(chunk);
      tarSize += chunk.length;
      split.push(chunk);
      if (!extract.write(chunk)) await new Promise<void>((resolve) => { drainWaiter = resolve; });
    }
    if (!failure && !extract.destroyed) extract.end();
  } catch (e) {
    const err = invalid(e);
    extract.destroy(err);
    split.abort();
    throw err;
  }
  try {
    await finished;
    if (failure) throw failure;
  } catch (e) { split.abort(); throw e; }
  try { await tree.finish(); } catch (e) { split.abort(); throw e; }
  const reproducible = await split.finish(tree.splitBroken ? null : tree.payloadPaths, tree.payloadSizes);
  return { diffId: digestOf(hash), tarSize, size: tree.size, entries: tree.entries, reproducible };
}

/** Reads a layer stream to the end only to compute its DiffID (used when the layer already exists). */
export async function digestTar(input: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of await decompressed(input)) hash.update(chunk);
  } catch (e) { throw invalid(e); }
  return digestOf(hash);
}
