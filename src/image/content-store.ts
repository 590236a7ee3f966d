/**
 * Blobs by digest under <data-root>/content/sha256/ab/<hex>: written to a temporary name,
 * digest computed while streaming, fsynced, then renamed into place — a crash never leaves
 * a partial blob under a real digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, promises as fsp, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function assertDigest(d: string): void {
  if (!DIGEST.test(d)) throw new InvalidParameterError(`invalid digest: ${d}`);
}

export class ContentStore {
  private readonly tmpDir: string;

  constructor(private readonly root: string) {
    this.tmpDir = join(root, 'tmp');
    mkdirSync(this.tmpDir, { recursive: true });
  }

  path(digest: string): string {
    assertDigest(digest);
    const hex = digest.slice(7);
    return join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  has(digest: string): boolean { return DIGEST.test(digest) && existsSync(this.path(digest)); }

  size(digest: string): number {
    try { return statSync(this.path(digest)).size; } catch { throw new NotFoundError(`blob ${digest} not found`); }
  }

  read(digest: string, start?: number): NodeJS.ReadableStream {
    if (!this.has(digest)) throw new NotFoundError(`blob ${digest} not found`);
    return createReadStream(this.path(digest), start ? { start } : undefined);
  }

  async readBytes(digest: string): Promise<Buffer> {
    if (!this.has(digest)) throw new NotFoundError(`blob ${digest} not found`);
    return fsp.readFile(this.path(digest));
  }

  /** Stores a stream; verifies `expected` when given. Returns digest and size. */
  async put(src: NodeJS.ReadableStream, expected?: string): Promise<{ digest: string; size: number }> {
    const tmp = join(this.tmpDir, randomBytes(8).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({ transform(chunk, _e, cb) { hash.update(chunk); size += chunk.length; cb(null, chunk); } });
    try {
      const out = createWriteStream(tmp);
      await pipeline(src, counter, out);
      const digest = 'sha256:' + hash.digest('hex');
      if (expected && expected !== digest) throw new InvalidParameterError(`digest mismatch: expected ${expected}, got ${digest}`);
      await this.commit(tmp, digest);
      return { digest, size };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async putBytes(data: Buffer | string): Promise<{ digest: string; size: number }> {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const digest = 'sha256:' + createHash('sha256').update(buf).digest('hex');
    if (this.has(digest)) return { digest, size: buf.length };
    const tmp = join(this.tmpDir, randomBytes(8).toString('hex'));
    try {
      await fsp.writeFile(tmp, buf);
      await this.commit(tmp, digest);
    } finally { rmSync(tmp, { force: true }); }
    return { digest, size: buf.length };
  }

  private async commit(tmp: string, digest: string): Promise<void> {
    const fh = await fsp.open(tmp, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    const dest = this.path(digest);
    await fsp.mkdir(join(dest, '..'), { recursive: true });
    await fsp.rename(tmp, dest);
  }

  delete(digest: string): void { rmSync(this.path(digest), { force: true }); }

  /** Removes temporary files a crash left behind. */
  sweep(): void {
    for (const f of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, f), { force: true, recursive: true });
  }
}
