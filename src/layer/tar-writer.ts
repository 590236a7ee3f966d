/**
 * Deterministic tar output of a directory tree, shared by diffTar (overlay upper dir → Docker layer) and tarDirectory
 * (docker export, build contexts). Entries come in sorted depth-first order with sorted names; atime/ctime/uname/gname
 * are left out so the same tree always gives the same bytes. The walk is driven by the consumer: it waits whenever
 * the output is backpressured, so nothing bigger than a read chunk is buffered.
 */
import { Readable } from 'node:stream';
import * as fs from 'node:fs';
import * as path from 'node:path';
import tar from 'tar-stream';
import { createRequire } from 'node:module';

export interface WalkOptions {
  /** Overlay upper dir semantics: char device 0/0 → `.wh.NAME`, opaque dirs (relative paths) → `DIR/.wh..wh..opq`. */
  overlay?: { opaqueDirs: Set<string> };
  /** Name the root itself gets in the archive ('' = no root entry, children are top-level). */
  rootName?: string;
  /** Return false to leave a path out (for a directory: its whole subtree). rel is relative to the walked dir. */
  filter?: (rel: string, stat: fs.Stats) => boolean;
  /** Force every entry's owner (build contexts are sent as root:root). */
  owner?: { uid: number; gid: number };
  /** xattrs to record (PAX SCHILY.xattr.*), by path relative to the walked dir. */
  xattrs?: Map<string, Array<[string, Buffer]>>;
}

const READ_CHUNK = 256 * 1024;

type Pack = ReturnType<typeof tar.pack>;
type Header = tar.Headers & { pax?: Record<string, string | Buffer> };

/** tar-stream's pack is a streamx Readable; its public static isBackpressured says whether its buffer is full. */
function isBackpressured(pack: Pack): boolean {
  const ctor = Object.getPrototypeOf(pack).constructor as { isBackpressured?: (s: unknown) => boolean };
  return ctor.isBackpressured ? ctor.isBackpressured(pack) : false;
}

function majorOf(rdev: number): number { return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn)); }
function minorOf(rdev: number): number { return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn)); }

/** The tar of `root` as a Node readable stream. `prepare` runs first (e.g. reading opaque xattrs). */
export function tarTree(root: string, opts: WalkOptions, prepare?: () => Promise<WalkOptions>): Readable {
  const pack: Pack = tar.pack();
  const binaryPax = allowBinaryPax(pack);
  let waiters: Array<() => void> = [];
  const wake = () => { const w = waiters; waiters = []; for (const f of w) f(); };
  const out = new Readable({
    read() { pack.resume(); wake(); },
    destroy(err, cb) { if (!pack.destroyed) pack.destroy(err ?? new Error('tar output closed')); wake(); cb(err); },
  });
  pack.on('data', (c: Buffer) => { if (!out.push(c)) pack.pause(); else wake(); });
  pack.on('end', () => out.push(null));
  pack.on('error', (e: Error) => { if (!out.destroyed) out.destroy(e); });

  const room = async () => {
    while (isBackpressured(pack) && !pack.destroyed) {
      await new Promise<void>((r) => waiters.push(r));
    }
    if (pack.destroyed) throw new Error('tar output closed');
  };
  const addVoid = async (header: Header) => {
    await room();
    // a 'file' entry is only complete once ended: give empty ones (whiteout markers) an empty body
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    let resolve!: () => void, reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    if (header.type === 'file') pack.entry({ ...header, size: 0 } as tar.Headers, Buffer.alloc(0), cb);
    else pack.entry(header as tar.Headers, cb);
    await done;
  };
  const addFile = async (header: Header, file: string) => {
    await room();
    const size = header.size ?? 0;
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header as tar.Headers, (err) => (err ? reject(err) : resolve()));
        sink.on('error', reject);
        void (async () => {
          let left = size;
          while (left > 0) {
            const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
            let n = fs.readSync(fd, buf, 0, buf.length, null);
            // The file shrank while we read it (a running container): pad with zeros so the archive stays valid.
            if (n === 0) { buf.fill(0); n = buf.length; }
            left -= n;
            if (!sink.write(n === buf.length ? buf : buf.subarray(0, n))) {
              await new Promise<void>((r, j) => {
                const onDrain = () => { sink.off('close', onClose); r(); };
                const onClose = () => { sink.off('drain', onDrain); j(new Error('tar output closed')); };
                sink.once('drain', onDrain);
                sink.once('close', onClose);
              });
            }
          }
          sink.end();
        })().catch((e) => { sink.destroy(e); reject(e); });
      });
    } finally { fs.closeSync(fd); }
  };

  const run = async () => {
    const o = prepare ? await prepare() : opts;
    const seen = new Map<string, string>();          // dev:ino → first archive name (hard links)
    const prefix = o.rootName ? o.rootName.replace(/\/+$/, '') + '/' : '';

    const emit = async (abs: string, rel: string, st: fs.Stats): Promise<void> => {
      const isRoot = rel === '';
      const name = isRoot ? (o.rootName ?? '').replace(/\/+$/, '') || (st.isDirectory() ? '' : path.basename(root)) : prefix + rel;
      const uid = o.owner?.uid ?? st.uid;
      const gid = o.owner?.gid ?? st.gid;
      const base: Header = { name, mode: st.mode & 0o7777, uid, gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
      const xa = binaryPax ? o.xattrs?.get(rel) : undefined;
      if (xa) base.pax = Object.fromEntries(xa.map(([n, v]) => [`SCHILY.xattr.${n}`, v]));
      if (st.isDirectory()) {
        if (!isRoot || o.rootName) await addVoid({ ...base, name: name + '/', type: 'directory' });
        if (o.overlay?.opaqueDirs.has(rel)) {
          await addVoid({ ...base, pax: undefined, name: (name === '' ? '' : name + '/') + '.wh..wh..opq', mode: st.mode & 0o777, type: 'file', size: 0 });
        }
        const names = fs.readdirSync(abs).sort();
        for (const n of names) {
          const cabs = abs + '/' + n;
          const crel = isRoot ? n : rel + '/' + n;
          const cst = fs.lstatSync(cabs);
          if (o.filter && !o.filter(crel, cst)) continue;
          await emit(cabs, crel, cst);
        }
        return;
      }
      if (o.overlay && st.isCharacterDevice() && st.rdev === 0) {
        const i = name.lastIndexOf('/');
        await addVoid({ ...base, pax: undefined, name: name.slice(0, i + 1) + '.wh.' + name.slice(i + 1), mode: 0o600, type: 'file', size: 0 });
        return;
      }
      if (st.isSocket()) return;                      // sockets cannot be archived (Docker skips them too)
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = seen.get(key);
        if (first !== undefined) { await addVoid({ ...base, type: 'link', linkname: first, size: 0 }); return; }
        seen.set(key, name);
      }
      if (st.isFile()) await addFile({ ...base, type: 'file', size: st.size }, abs);
      else if (st.isSymbolicLink()) await addVoid({ ...base, type: 'symlink', linkname: fs.readlinkSync(abs) });
      else if (st.isFIFO()) await addVoid({ ...base, type: 'fifo' });
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await addVoid({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: majorOf(st.rdev), devminor: minorOf(st.rdev) });
      }
    };
    await emit(root, '', fs.lstatSync(root));
    pack.finalize();
  };
  run().catch((e: Error) => { if (!pack.destroyed) pack.destroy(e); if (!out.destroyed) out.destroy(e); });
  return out;
}

/**
 * tar-stream writes PAX values as UTF-8 strings, which would mangle binary xattrs such as security.capability.
 * This replaces the pack's PAX encoder (same layout as tar-stream 3's own) with one that writes Buffer values as raw
 * bytes. Returns false (xattrs are then left out) if this tar-stream is not the shape it was written for.
 */
function allowBinaryPax(pack: Pack): boolean {
  const p = pack as unknown as { _encodePax?: unknown; push(b: Buffer): boolean };
  if (typeof p._encodePax !== 'function') return false;
  let headers: { encode(h: object): Buffer | null };
  try { headers = createRequire(import.meta.url)('tar-stream/headers.js'); } catch { return false; }
  const record = (key: string, value: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let digits = String(body.length).length;
    while (String(body.length + digits).length > digits) digits++;
    return Buffer.concat([Buffer.from(String(body.length + digits)), body]);
  };
  p._encodePax = (header: Header) => {
    const recs: Buffer[] = [];
    if (header.name) recs.push(record('path', Buffer.from(header.name)));
    if (header.linkname) recs.push(record('linkpath', Buffer.from(header.linkname)));
    for (const [k, v] of Object.entries(header.pax ?? {})) recs.push(record(k, Buffer.isBuffer(v) ? v : Buffer.from(String(v))));
    const paxData = Buffer.concat(recs);
    const paxHeader = {
      name: 'PaxHeader', mode: header.mode, uid: header.uid, gid: header.gid, size: paxData.length, mtime: header.mtime,
      type: 'pax-header', linkname: header.linkname && 'PaxHeader', uname: header.uname, gname: header.gname,
      devmajor: header.devmajor, devminor: header.devminor,
    };
    p.push(headers.encode(paxHeader)!);
    p.push(paxData);
    const pad = paxData.length & 511;
    if (pad) p.push(Buffer.alloc(512 - pad));
    p.push(headers.encode({ ...paxHeader, size: header.size, type: header.type })!);
  };
  return true;
}
