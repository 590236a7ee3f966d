/**
 * tar-split: keeps everything of a layer tar except the file contents (headers, padding, end blocks), so the exact
 * original bytes — and so the DiffID — can be reproduced later from the unpacked layer (docker save after a load or
 * an import), without keeping a second copy of every layer. The same idea as Docker's vbatts/tar-split.
 *
 * On disk, next to diff/: `tar-split.gz` is a gzip of records — 0x01 len:u32 bytes (raw tar bytes) and
 * 0x02 size:u64 (the next regular file's content) — and `tar-split.json` lists those files' paths, in order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, createGunzip } from 'node:zlib';
import { SystemError } from '../errors/index.js';

export const SPLIT_FILE = 'tar-split.gz';
export const SPLIT_PATHS = 'tar-split.json';

const RAW = 1;
const FILE = 2;
const BATCH = 256 * 1024;

/** Follows the block structure of a tar stream the way tar-stream parses it, separating file contents from the rest. */
export class SplitWriter {
  private readonly gzip: ReturnType<typeof createGzip> | null;
  private readonly done: Promise<void>;
  private hdr: Buffer = Buffer.alloc(0);
  private rawLeft = 0;          // bytes to copy as raw (non-file data, padding, long-header data)
  private payloadLeft = 0;      // bytes of file content to leave out
  private padAfterPayload = 0;
  private paxData: Buffer[] | null = null;
  private paxLeft = 0;
  private paxSize: number | undefined;
  readonly sizes: number[] = [];
  broken: string | null = null;
  /** Raw xattrs (PAX SCHILY.xattr.*) by entry index; tar-stream decodes PAX values as UTF-8, which mangles binary. */
  readonly xattrs = new Map<number, Array<[string, Buffer]>>();
  private pendingXattrs: Array<[string, Buffer]> | null = null;
  private entryIndex = 0;

  /** dir null: only follow the structure (for xattrs), keep no split. */
  constructor(private readonly dir: string | null) {
    if (dir === null) { this.gzip = null; this.done = Promise.resolve(); return; }
    const gzip = this.gzip = createGzip({ level: 1 });
    const out = fs.createWriteStream(path.join(dir, SPLIT_FILE));
    this.done = new Promise((resolve, reject) => {
      out.on('close', () => resolve());
      out.on('error', reject);
      gzip.on('error', reject);
    });
    this.done.catch(() => { /* reported by finish() */ });
    gzip.pipe(out);
  }

  // Records are gathered into one buffer and handed to gzip in big pieces: every zlib write is a thread-pool job.
  private out = Buffer.allocUnsafe(BATCH);
  private outLen = 0;

  private emit(b: Buffer): void {
    if (this.outLen + b.length > BATCH) this.flush();
    if (b.length > BATCH) { this.gzip!.write(Buffer.from(b)); return; }
    b.copy(this.out, this.outLen);
    this.outLen += b.length;
  }

  private flush(): void {
    if (this.outLen === 0) return;
    this.gzip!.write(this.out.subarray(0, this.outLen));
    this.out = Buffer.allocUnsafe(BATCH);
    this.outLen = 0;
  }

  private raw(b: Buffer): void {
    if (b.length === 0 || this.gzip === null) return;
    const h = Buffer.allocUnsafe(5);
    h[0] = RAW;
    h.writeUInt32BE(b.length, 1);
    this.emit(h);
    this.emit(b);
  }

  private payload(size: number): void {
    this.sizes.push(size);
    if (this.gzip === null) return;
    const h = Buffer.allocUnsafe(9);
    h[0] = FILE;
    h.writeBigUInt64BE(BigInt(size), 1);
    this.emit(h);
  }

  /** Feeds the next bytes of the uncompressed tar. */
  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - off);
        this.payloadLeft -= n; off += n;
        if (this.payloadLeft === 0) this.rawLeft = this.padAfterPayload;
        continue;
      }
      if (this.paxLeft > 0) {
        const n = Math.min(this.paxLeft, chunk.length - off);
        const piece = chunk.subarray(off, off + n);
        this.paxData!.push(piece);
        this.raw(piece);
        this.paxLeft -= n; off += n;
        if (this.paxLeft === 0) this.endPax();
        continue;
      }
      if (this.rawLeft > 0) {
        const n = Math.min(this.rawLeft, chunk.length - off);
        this.raw(chunk.subarray(off, off + n));
        this.rawLeft -= n; off += n;
        continue;
      }
      const need = 512 - this.hdr.length;
      const n = Math.min(need, chunk.length - off);
      this.hdr = this.hdr.length === 0 && n === 512 ? chunk.subarray(off, off + 512) : Buffer.concat([this.hdr, chunk.subarray(off, off + n)]);
      off += n;
      if (this.hdr.length === 512) { const h = this.hdr; this.hdr = Buffer.alloc(0); this.header(h); }
    }
  }

  private header(h: Buffer): void {
    this.raw(h);
    if (isZeroBlock(h)) return;                      // end-of-archive block
    const type = h[156]!;
    const size = decodeSize(h.subarray(124, 136));
    const pad = (512 - (size % 512)) % 512;
    switch (type) {
      case 0x78:                                      // 'x' pax header: its data is raw, and may override the size
        this.paxData = []; this.paxLeft = size; this.rawLeft = 0; this.padAfterPax = pad;
        if (size === 0) this.endPax();
        return;
      case 0x67: case 0x4c: case 0x4b: case 0x4e:     // 'g' global pax, GNU long name / link name: raw
        this.rawLeft = size + pad;
        return;
    }
    const eff = this.paxSize ?? size;
    this.paxSize = undefined;
    if (this.pendingXattrs) { this.xattrs.set(this.entryIndex, this.pendingXattrs); this.pendingXattrs = null; }
    this.entryIndex++;
    const effPad = (512 - (eff % 512)) % 512;
    const nameEndsWithSlash = (() => { const i = h.indexOf(0); const end = i < 0 || i > 100 ? 100 : i; return end > 0 && h[end - 1] === 0x2f; })();
    // tar-stream: typeflag NUL or '0' with a name ending in '/' is a directory (old tars)
    const isDir = type === 0x35 || ((type === 0 || type === 0x30) && nameEndsWithSlash);
    const isFile = !isDir && (type === 0 || type === 0x30 || type === 0x37);
    if (isDir || eff === 0) return;                  // tar-stream reads no data for directories
    if (isFile) { this.payload(eff); this.payloadLeft = eff; this.padAfterPayload = effPad; return; }
    this.rawLeft = eff + effPad;                     // data of other entry types stays raw
  }

  private padAfterPax = 0;

  private endPax(): void {
    const data = Buffer.concat(this.paxData ?? []);
    this.paxData = null;
    this.paxSize = undefined;
    this.pendingXattrs = null;
    // records: "<len> <key>=<value>\n", len counting the whole record; values are raw bytes
    let off = 0;
    while (off < data.length) {
      const sp = data.indexOf(0x20, off);
      if (sp < 0) break;
      const len = parseInt(data.subarray(off, sp).toString('latin1'), 10);
      if (!(len > 0) || off + len > data.length) break;
      const rec = data.subarray(sp + 1, off + len - 1);
      const eq = rec.indexOf(0x3d);
      if (eq > 0) {
        const key = rec.subarray(0, eq).toString('utf8');
        if (key === 'size') this.paxSize = parseInt(rec.subarray(eq + 1).toString('latin1'), 10);
        else if (key.startsWith('SCHILY.xattr.')) (this.pendingXattrs ??= []).push([key.slice(13), Buffer.from(rec.subarray(eq + 1))]);
      }
      off += len;
    }
    this.rawLeft = this.padAfterPax;
  }

  /**
   * Completes the split with the paths of the files whose contents were left out (in order), or throws it away
   * when the layer cannot be reproduced (`paths` null, or what tar-stream saw differs from what the split saw).
   */
  async finish(paths: Array<string | null> | null, sizes: number[]): Promise<boolean> {
    if (this.gzip === null || this.dir === null) return false;
    this.flush();
    this.gzip.end();
    await this.done;
    const ok = paths !== null && this.broken === null && this.hdr.length === 0 && this.payloadLeft === 0
      && paths.length === this.sizes.length && paths.every((p) => p !== null)
      && sizes.length === this.sizes.length && sizes.every((s, i) => s === this.sizes[i]);
    if (!ok) { discardSplit(this.dir); return false; }
    fs.writeFileSync(path.join(this.dir, SPLIT_PATHS), JSON.stringify({ version: 1, paths }));
    return true;
  }

  /** Stops writing (failed unpack); the caller removes the directory. */
  abort(): void { this.gzip?.destroy(); }
}

export function discardSplit(dir: string): void {
  fs.rmSync(path.join(dir, SPLIT_FILE), { force: true });
  fs.rmSync(path.join(dir, SPLIT_PATHS), { force: true });
}

export function hasSplit(dir: string): boolean {
  return fs.existsSync(path.join(dir, SPLIT_PATHS)) && fs.existsSync(path.join(dir, SPLIT_FILE));
}

const ZERO_BLOCK = Buffer.alloc(512);
function isZeroBlock(h: Buffer): boolean { return h[0] === 0 && h.equals(ZERO_BLOCK); }

function decodeSize(b: Buffer): number {
  if (b[0]! & 0x80) {                                // base-256
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** The original layer tar, rebuilt from the split and the unpacked files under `diffDir`. */
export function splitTarStream(layerDir: string, diffDir: string): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const { paths } = JSON.parse(fs.readFileSync(path.join(layerDir, SPLIT_PATHS), 'utf8')) as { paths: string[] };
    const src = fs.createReadStream(path.join(layerDir, SPLIT_FILE)).pipe(createGunzip());
    let buf: Buffer = Buffer.alloc(0);
    let k = 0;
    let rawLeft = 0;
    for await (const c of src as AsyncIterable<Buffer>) {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      for (;;) {
        if (rawLeft > 0) {
          if (buf.length === 0) break;
          const n = Math.min(rawLeft, buf.length);
          yield buf.subarray(0, n);
          buf = buf.subarray(n); rawLeft -= n;
          continue;
        }
        if (buf.length < 1) break;
        if (buf[0] === RAW) {
          if (buf.length < 5) break;
          rawLeft = buf.readUInt32BE(1); buf = buf.subarray(5);
        } else if (buf[0] === FILE) {
          if (buf.length < 9) break;
          const size = Number(buf.readBigUInt64BE(1)); buf = buf.subarray(9);
          const rel = paths[k++];
          if (rel === undefined) throw new SystemError(`layer tar-split in ${layerDir} is inconsistent`);
          yield* fileContent(path.join(diffDir, rel), size);
        } else {
          throw new SystemError(`layer tar-split in ${layerDir} is corrupt`);
        }
      }
    }
    if (rawLeft > 0 || buf.length > 0 || k !== paths.length) throw new SystemError(`layer tar-split in ${layerDir} is truncated`);
  }
  return Readable.from(gen(), { objectMode: false });
}

async function* fileContent(file: string, size: number): AsyncGenerator<Buffer> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const b = Buffer.allocUnsafe(Math.min(left, 1 << 20));
      const { bytesRead } = await fh.read(b, 0, b.length, null);
      if (bytesRead === 0) throw new SystemError(`layer file ${file} is shorter than recorded: the layer was modified`);
      left -= bytesRead;
      yield bytesRead === b.length ? b : b.subarray(0, bytesRead);
    }
  } finally { await fh.close(); }
}
