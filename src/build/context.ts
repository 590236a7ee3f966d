/**
 * The build context: the request body (a tar, maybe gzip) parsed as it arrives and held in memory,
 * each regular file's sha256 computed on the way. A fully cached build never writes it to disk:
 * the Dockerfile, .dockerignore and the COPY/ADD source hashes come from memory, and a COPY that
 * misses the cache copies from memory into the image. Only a RUN --mount bind of the context needs
 * it on disk (`materialise`). A context larger than the memory limit is written out as it arrives
 * (as dockerd does) and read from disk.
 *
 * Either way the context has the same shape: entry names cleaned and resolved inside the directory
 * (nothing lands outside it), modes from the headers, owner the daemon's, implicit parents as mkdir
 * makes them; so the cache keys are the same whether the context stayed in memory or not.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync, closeSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeSync,
} from 'node:fs';
import { totalmem } from 'node:os';
import { dirname } from 'node:path';
import { createGunzip, type Gunzip } from 'node:zlib';
import { InvalidParameterError } from '../errors/index.js';
import { compressionOf } from '../layer/index.js';
import { hostFs, hostFsWithDigests, writeBuffers, type EntryStat, type FsView } from './fs-view.js';
import { cleanRelative, resolveInRoot } from './scoped-path.js';
import { ParallelHasher, PARALLEL_HASH_MIN_SIZE, parallelHashAvailable, type HashJob } from './parallel-hash.js';
import { TarParser, type TarHeader, type TarSink } from './tar-parse.js';

/** sha256 (hex) of each regular file's content by host path, with the size it had. */
export type ContentDigests = Map<string, { size: number; digest: string }>;

/** How much of a context is kept in memory before it is written to disk instead. */
const DEFAULT_MEMORY_LIMIT = Math.min(256 << 20, Math.floor(totalmem() / 8));

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Directories mkdir -p creates for entries whose parents the tar does not list. */
const IMPLICIT_DIR_MODE = 0o777 & ~process.umask();
const UID = process.getuid?.() ?? 0;
const GID = process.getgid?.() ?? 0;

function fsError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

function entryPath(dir: string, h: TarHeader, fs: FsView): string | undefined {
  const rel = cleanRelative(h.name);
  if (rel === '.') return undefined;
  if (rel === '..' || rel.startsWith('../')) throw new InvalidParameterError(`invalid context entry: ${h.name}`);
  return resolveInRoot(dir, rel, false, fs);
}

// ---- on disk ----------------------------------------------------------------------------------------

/** Writes entries into a directory (which must exist) as they come. */
class DiskWriter {
  readonly digests: ContentDigests = new Map();
  private readonly dirTimes: [string, Date][] = [];
  private file?: { fd: number; path: string; mode: number; mtime: Date; hash?: Hash; size: number };

  /** `hashing`: compute the digests (not when writing out a context whose digests are known). */
  constructor(private readonly dir: string, private readonly hashing = true) {}

  begin(h: TarHeader): void {
    const path = entryPath(this.dir, h, hostFs);
    if (path === undefined) return;
    mkdirSync(dirname(path), { recursive: true });
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date(0);
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        rmSync(path, { force: true, recursive: true });
        this.file = { fd: openSync(path, 'w', mode), path, mode, mtime, hash: this.hashing ? createHash('sha256') : undefined, size: 0 };
        break;
      case 'directory': {
        let st;
        try { st = lstatSync(path); } catch { /* new */ }
        if (st && !st.isDirectory()) rmSync(path, { force: true });
        mkdirSync(path, { recursive: true });
        chmodSync(path, mode);
        this.dirTimes.push([path, mtime]);
        break;
      }
      case 'symlink':
        rmSync(path, { force: true, recursive: true });
        symlinkSync(h.linkname ?? '', path);
        lutimesSync(path, mtime, mtime);
        break;
      case 'link': {
        const target = resolveInRoot(this.dir, cleanRelative(h.linkname ?? ''), false);
        rmSync(path, { force: true, recursive: true });
        linkSync(target, path);
        const known = this.digests.get(target);
        if (known) this.digests.set(path, known);
        break;
      }
      default:
        break;   // devices, fifos: nothing a build copies
    }
  }

  data(chunk: Buffer): void {
    const f = this.file;
    if (!f) return;
    f.hash?.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(f.fd, chunk, off);
    f.size += chunk.length;
  }

  /** A whole file's data at once (a context written out from memory). */
  dataAll(chunks: readonly Buffer[]): void {
    const f = this.file;
    if (!f) return;
    for (const c of chunks) { f.hash?.update(c); f.size += c.length; }
    writeBuffers(f.fd, chunks);
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    closeSync(f.fd);
    chmodSync(f.path, f.mode);
    utimesSync(f.path, f.mtime, f.mtime);
    if (f.hash) this.digests.set(f.path, { size: f.size, digest: f.hash.digest('hex') });
  }

  /** Directory times last: creating their children changed them. */
  finish(): void {
    for (const [p, t] of this.dirTimes.reverse()) { try { if (lstatSync(p).isDirectory()) utimesSync(p, t, t); } catch { /* gone */ } }
    this.dirTimes.length = 0;
  }

  abort(): void {
    if (this.file) { try { closeSync(this.file.fd); } catch { /* closed */ } this.file = undefined; }
  }
}

// ---- in memory -----------------------------------------------------------------------------------------

interface MemNode {
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (& 0o7777). */
  perm: number;
  mtime: Date;
  size: number;
  digest?: string;
  chunks?: Buffer[];
  /** A large file hashed in the worker: its `chunks` are complete only once the tree is loaded. */
  job?: HashJob;
  target?: string;
  children?: Map<string, MemNode>;
  /** A directory the tar lists: its time is the header's, not changed by its children. */
  explicit?: boolean;
}

class MemStat implements EntryStat {
  readonly mode: number;
  readonly uid = UID;
  readonly gid = GID;
  readonly size: number;
  readonly rdev = 0;
  readonly atime: Date;
  readonly mtime: Date;
  constructor(private readonly node: MemNode) {
    const type = node.type === 'file' ? S_IFREG : node.type === 'dir' ? S_IFDIR : S_IFLNK;
    this.mode = type | (node.type === 'symlink' ? 0o777 : node.perm);
    this.size = node.type === 'file' ? node.size : node.type === 'dir' ? 4096 : Buffer.byteLength(node.target ?? '');
    this.atime = node.mtime;
    this.mtime = node.mtime;
  }
  isFile(): boolean { return this.node.type === 'file'; }
  isDirectory(): boolean { return this.node.type === 'dir'; }
  isSymbolicLink(): boolean { return this.node.type === 'symlink'; }
}

/** The context's tree in memory, addressed by the host paths it would have under `root`. */
class MemoryTree implements FsView {
  readonly rootNode: MemNode = { type: 'dir', perm: IMPLICIT_DIR_MODE, mtime: new Date(), size: 0, children: new Map() };
  private readonly prefix: string;
  private file?: { node: MemNode; hash?: Hash };
  /** Files hashed in the worker. */
  private readonly jobNodes: MemNode[] = [];
  /**
   * Set when the body's buffers may be taken away (see parallel-hash.ts): large files are hashed in
   * the worker, which keeps their data until `load()`; small files' data is copied out of the
   * buffers (which may go to the worker).
   */
  hasher?: ParallelHasher;

  constructor(readonly root: string) { this.prefix = root.endsWith('/') ? root : root + '/'; }

  /** The node at `path`; symlinks before the last component followed inside the root (as the kernel would, scoped). */
  find(path: string, followLast = false): MemNode | undefined {
    if (path === this.root) return this.rootNode;
    if (!path.startsWith(this.prefix)) return undefined;
    let pending = path.slice(this.prefix.length).split('/');
    const stack: MemNode[] = [this.rootNode];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') { if (stack.length > 1) stack.pop(); continue; }
      const dir = stack[stack.length - 1]!;
      const next = dir.children?.get(part);
      if (!next) return undefined;
      if (next.type === 'symlink' && (followLast || pending.some((p) => p !== '' && p !== '.'))) {
        if (++links > 255) return undefined;
        const target = next.target ?? '';
        if (target.startsWith('/')) stack.length = 1;
        pending = [...target.split('/'), ...pending];
        continue;
      }
      if (pending.length > 0 && next.type !== 'dir') return undefined;
      stack.push(next);
    }
    return stack[stack.length - 1];
  }

  private need(path: string, syscall: string, followLast = false): MemNode {
    const n = this.find(path, followLast);
    if (!n) throw fsError('ENOENT', syscall, path);
    return n;
  }

  lstat(path: string): EntryStat { return new MemStat(this.need(path, 'lstat')); }

  readdir(path: string): string[] {
    const n = this.need(path, 'scandir', true);
    if (n.type !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return [...n.children!.keys()];
  }

  readlink(path: string): string {
    const n = this.need(path, 'readlink');
    if (n.type !== 'symlink') throw fsError('EINVAL', 'readlink', path);
    return n.target ?? '';
  }

  digest(path: string): string | undefined { return this.find(path, true)?.digest; }

  contents(path: string): readonly Buffer[] | undefined {
    const n = this.find(path, true);
    if (n?.job && this.remote) throw new Error(`internal error: ${path} is read before the build context was loaded`);
    return n?.type === 'file' ? n.chunks : undefined;
  }

  /** mkdir -p of a host path inside the root; a non-directory on the way is an error, as for mkdir. */
  private mkdirAll(path: string): MemNode {
    if (path === this.root) return this.rootNode;
    let cur = this.rootNode;
    for (const part of path.slice(this.prefix.length).split('/')) {
      if (!part) continue;
      let next = cur.children!.get(part);
      if (!next) {
        next = { type: 'dir', perm: IMPLICIT_DIR_MODE, mtime: new Date(), size: 0, children: new Map() };
        this.setChild(cur, part, next);
      } else if (next.type !== 'dir') {
        throw fsError('ENOTDIR', 'mkdir', path);
      }
      cur = next;
    }
    return cur;
  }

  private setChild(parent: MemNode, name: string, node: MemNode): void {
    parent.children!.set(name, node);
    if (!parent.explicit) parent.mtime = new Date();
  }

  /** Starts an entry; returns the array its data will be held in. */
  begin(h: TarHeader): Buffer[] {
    const path = entryPath(this.root, h, this);
    if (path === undefined) return [];
    if (path === this.root || !path.startsWith(this.prefix)) throw new InvalidParameterError(`invalid context entry: ${h.name}`);
    const parent = this.mkdirAll(dirname(path));
    const name = path.slice(path.lastIndexOf('/') + 1);
    const perm = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date(0);
    switch (h.type) {
      case 'file':
      case 'contiguous-file': {
        // a large file is hashed in the worker while the body arrives
        const job = this.hasher && (h.size ?? 0) >= PARALLEL_HASH_MIN_SIZE ? this.hasher.begin(path.slice(this.prefix.length), h.size!) : undefined;
        const node: MemNode = job ? { type: 'file', perm, mtime, size: 0, chunks: job.chunks, job } : { type: 'file', perm, mtime, size: 0, chunks: [] };
        this.setChild(parent, name, node);
        this.file = job ? { node } : { node, hash: createHash('sha256') };
        if (job) this.jobNodes.push(node);
        return node.chunks!;
      }
      case 'directory': {
        const have = parent.children!.get(name);
        if (have?.type === 'dir') { have.perm = perm; have.mtime = mtime; have.explicit = true; }
        else this.setChild(parent, name, { type: 'dir', perm, mtime, size: 0, children: new Map(), explicit: true });
        break;
      }
      case 'symlink':
        this.setChild(parent, name, { type: 'symlink', perm: 0o777, mtime, size: 0, target: h.linkname ?? '' });
        break;
      case 'link': {
        const targetPath = resolveInRoot(this.root, cleanRelative(h.linkname ?? ''), false, this);
        const target = this.find(targetPath);
        if (!target) throw fsError('ENOENT', 'link', targetPath);
        if (target.type === 'dir') throw fsError('EPERM', 'link', targetPath);
        this.setChild(parent, name, target);   // the same node: a hard link
        break;
      }
      default:
        break;   // devices, fifos: nothing a build copies
    }
    return [];
  }

  data(chunk: Buffer): void {
    const f = this.file;
    if (!f) return;
    if (f.node.job) this.hasher!.add(f.node.job, chunk);
    else { f.hash!.update(chunk); f.node.chunks!.push(this.hasher ? Buffer.from(chunk) : chunk); }
    f.node.size += chunk.length;
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    if (f.node.job) this.hasher!.end(f.node.job);
    else f.node.digest = f.hash!.digest('hex');
  }

  /** Resolves when every file's digest is known (their data may still be in the worker). */
  async settled(): Promise<void> {
    if (!this.hasher) return;
    await this.hasher.settled();
    for (const n of this.jobNodes) n.digest = n.job!.digest;
  }

  /** Whether file data is still in the worker. */
  get remote(): boolean { return !!this.hasher?.remote; }

  /** Whether reading `path` needs `load()` first. */
  isRemote(path: string): boolean { return this.remote && !!this.find(path, true)?.job; }

  /** Brings every file's data back from the worker. */
  async load(): Promise<void> { if (this.hasher?.remote) await this.hasher.fetch(); }

  /** What the tree held is given up (the build ended, the context spilled to disk, or the intake failed). */
  release(): void {
    this.file = undefined;
    this.rootNode.children!.clear();
    this.hasher?.close();
    this.hasher = undefined;
  }

  remove(path: string): void {
    const parent = this.find(dirname(path), true);
    const name = path.slice(path.lastIndexOf('/') + 1);
    const node = parent?.children?.get(name);
    if (node && node.type !== 'dir') { parent!.children!.delete(name); if (!parent!.explicit) parent!.mtime = new Date(); }
  }
}

// ---- the context ---------------------------------------------------------------------------------------

interface LoggedEntry { h: TarHeader; chunks: Buffer[] }

/** A received build context; `fs` reads it wherever it is (memory or `dir`). */
export class BuildContext {
  private materialised: boolean;
  private readonly removed: string[] = [];
  /** Bytes of the body and when its first and last came (performance.now()), for the build trace. */
  received = { bytes: 0, firstByteAt: 0, lastByteAt: 0 };

  /** @internal built by receiveContext */
  constructor(readonly dir: string, readonly fs: FsView, private readonly tree: MemoryTree | undefined, private readonly log: LoggedEntry[]) {
    this.materialised = !tree;
  }

  /** Whether the context is held in memory (not written to `dir` as it arrived). */
  get inMemory(): boolean { return !!this.tree; }

  exists(path: string): boolean {
    try { this.fs.lstat(path); return true; } catch { return false; }
  }

  /**
   * Whether some file's data is still in the hashing worker (see parallel-hash.ts): `load()` before
   * reading file content (`fs.contents`, `readFile` of a large file, `materialise`). A fully cached
   * build needs only the digests and never loads.
   */
  get remote(): boolean { return !!this.tree?.remote; }

  /** Whether `readFile(path)` needs `load()` first. */
  needsLoad(path: string): boolean { return !!this.tree?.isRemote(path); }

  /** Brings all file data into this thread. */
  async load(): Promise<void> { await this.tree?.load(); }

  /** A regular file's content (symlinks followed); throws when it is missing or not a file. */
  readFile(path: string): Buffer {
    if (!this.tree) return readFileSync(path);
    const node = this.tree.find(path, true);
    if (!node) throw fsError('ENOENT', 'open', path);
    if (node.type !== 'file') throw fsError('EISDIR', 'read', path);
    if (this.tree.isRemote(path)) throw new Error(`internal error: ${path} is read before the build context was loaded`);
    return Buffer.concat(node.chunks!, node.size);
  }

  /**
   * The build is over: the memory the context was held in is let go (here and in the worker). The
   * context must not be read after this.
   */
  release(): void {
    this.tree?.release();
    this.log.length = 0;
  }

  /** Removes a file (not a directory) from the context, as the daemon does with an ignored Dockerfile. */
  remove(path: string): void {
    this.tree?.remove(path);
    this.removed.push(path);
    if (this.materialised) { try { if (!lstatSync(path).isDirectory()) rmSync(path, { force: true }); } catch { /* gone */ } }
  }

  /** Writes the context out to `dir` (once), for what needs it on disk (a RUN --mount bind of the context). */
  materialise(): void {
    if (this.materialised) return;
    if (this.remote) throw new Error('internal error: the build context is written out before it was loaded');
    mkdirSync(this.dir, { recursive: true });
    const w = new DiskWriter(this.dir, false);
    for (const e of this.log) {
      w.begin(e.h);
      w.dataAll(e.chunks);
      w.end();
    }
    w.finish();
    for (const p of this.removed) { try { if (!lstatSync(p).isDirectory()) rmSync(p, { force: true }); } catch { /* gone */ } }
    this.materialised = true;
  }
}

export interface ReceiveOptions {
  /** Bytes held in memory before the context goes to disk instead (default 256 MiB or 1/8 of RAM). */
  memoryLimit?: number;
  /**
   * The body's chunks are the receiver's to take: each a Buffer over an ArrayBuffer of its own that
   * nothing else uses (what node's HTTP parser hands out for a request body). Large files are then
   * hashed in a worker thread (their buffers moved there and back, see parallel-hash.ts).
   */
  ownsChunks?: boolean;
}

/** Reads a context tar (plain or gzip) from `body`; `dir` must exist (it is used when the context does not stay in memory). */
export function receiveContext(body: NodeJS.ReadableStream, dir: string, opts: ReceiveOptions = {}): Promise<BuildContext> {
  const limit = opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
  let tree: MemoryTree | undefined = new MemoryTree(dir);
  let log: LoggedEntry[] = [];
  let current: LoggedEntry | undefined;
  let held = 0;
  let disk: DiskWriter | undefined;

  /** Over the limit: what came so far is written out (all of it here: see drained), the rest follows straight to disk. */
  const spill = () => {
    const w = new DiskWriter(dir);
    for (const e of log) {
      w.begin(e.h);
      w.dataAll(e.chunks);
      if (e !== current) w.end();
    }
    disk = w;
    tree!.release();
    tree = undefined;
    log = [];
    current = undefined;
  };

  const sink: TarSink = {
    entry(h) {
      if (disk) return disk.begin(h);
      current = { h, chunks: tree!.begin(h) };
      log.push(current);
    },
    data(chunk) {
      if (disk) return disk.data(chunk);
      tree!.data(chunk);
      held += chunk.length;
    },
    end() {
      if (disk) return disk.end();
      tree!.end();
      current = undefined;
    },
  };
  const parser = new TarParser(sink);

  return new Promise<BuildContext>((resolve, reject) => {
    let settled = false;
    let gunzip: Gunzip | undefined;
    let first = true;
    /** A spill waiting for the worker to give back the data it holds (the body is paused meanwhile). */
    let spilling: Promise<void> | undefined;
    const received = { bytes: 0, firstByteAt: 0, lastByteAt: 0 };
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      disk?.abort();
      tree?.release();
      gunzip?.destroy();
      (body as { resume?: () => void }).resume?.();   // drain what is left, so the response can be sent
      reject(e instanceof InvalidParameterError ? e : new InvalidParameterError(`failed to read the build context: ${(e as Error).message}`));
    };
    const feed = (chunk: Buffer) => {
      if (settled) return;
      try {
        parser.push(chunk);
        if (tree && held > limit) {
          const hasher = tree.hasher;
          if (!hasher) return spill();
          body.pause();
          spilling = hasher.fetch().then(() => {
            spilling = undefined;
            if (settled) return;
            try { spill(); } catch (e) { return fail(e); }
            body.resume();
          }, fail);
          return;
        }
        tree?.hasher?.flush();   // between chunks: the parser holds no part of this one
      } catch (e) { fail(e); }
    };
    const done = () => {
      if (settled) return;
      if (spilling) { void spilling.then(done); return; }
      try {
        parser.finish();
        const finish = (ctx: BuildContext) => {
          if (settled) return;
          ctx.received = received;
          settled = true;
          resolve(ctx);
        };
        if (disk) {
          disk.finish();
          finish(new BuildContext(dir, hostFsWithDigests(disk.digests), undefined, []));
        } else {
          const t = tree!;
          // the worker's last digests, and the buffers it still holds
          if (!t.hasher) finish(new BuildContext(dir, t, t, log));
          else t.settled().then(() => finish(new BuildContext(dir, t, t, log)), fail);
        }
      } catch (e) { fail(e); }
    };
    body.on('data', (chunk: Buffer) => {
      if (settled) return;
      received.bytes += chunk.length;
      if (first) {
        first = false;
        received.firstByteAt = performance.now();
        const compression = compressionOf(chunk);
        if (compression === 'gzip') {
          gunzip = createGunzip({ chunkSize: 1 << 16 });
          gunzip.on('data', feed);
          gunzip.on('end', done);
          gunzip.on('error', fail);
        } else if (compression) {
          return fail(new InvalidParameterError(`${compression}-compressed build contexts are not supported`));
        } else if (opts.ownsChunks && parallelHashAvailable()) {
          tree!.hasher = new ParallelHasher();
        }
      }
      if (!gunzip) {
        // a chunk that shares its buffer is not given away (only the HTTP parser's own copies are)
        if (tree?.hasher && (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== chunk.length)) chunk = Buffer.from(chunk);
        return feed(chunk);
      }
      if (!gunzip.write(chunk)) { body.pause(); gunzip.once('drain', () => body.resume()); }
    });
    let ended = false;
    body.on('end', () => { ended = true; received.lastByteAt = performance.now(); if (gunzip) gunzip.end(); else done(); });
    body.on('error', fail);
    body.on('close', () => { if (!ended) fail(new Error('the connection closed before the context was complete')); });
  });
}
