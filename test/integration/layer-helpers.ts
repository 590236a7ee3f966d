/** Test helpers for the layer store: crafted tar archives and a throwaway store. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { LayerStore } from '../../src/layer/index.js';
import { openDatabase, type Db } from '../../src/store/index.js';

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
}

/** A tar archive built entry by entry, exactly as given (no name cleaning): for crafting hostile archives. */
export async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => { pack.on('data', (c: Buffer) => chunks.push(c)); pack.on('end', resolve); pack.on('error', reject); });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: tar.Headers = {
      name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000), linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor,
    };
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') pack.entry(header, e.data ?? '', (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const gzip = (b: Buffer) => gzipSync(b);
export const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
export const streamOf = (b: Buffer) => Readable.from([b]);

export async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Entries of a tar as [name, type, extra] for assertions. */
export async function listTar(b: Buffer): Promise<Array<{ name: string; type: string; linkname?: string | null; mode: number; size: number }>> {
  const ex = tar.extract();
  const out: Array<{ name: string; type: string; linkname?: string | null; mode: number; size: number }> = [];
  ex.on('entry', (h, s, next) => { out.push({ name: h.name, type: h.type ?? '', linkname: h.linkname, mode: h.mode ?? 0, size: h.size ?? 0 }); s.on('end', () => next()); s.resume(); });
  const finished = new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); });
  ex.end(b);
  await finished;
  return out;
}

export interface Scratch { base: string; db: Db; store: LayerStore; sentinel: string; cleanup(): void }

/** A temp dir with a layer store under base/layers and a sentinel dir next to it that no archive may touch. */
export function scratch(opts: { durable?: boolean } = {}): Scratch {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layer-'));
  const db = openDatabase(path.join(base, 'berth.db'));
  const store = new LayerStore(path.join(base, 'layers'), db, opts);
  const sentinel = path.join(base, 'sentinel');
  fs.mkdirSync(sentinel);
  fs.writeFileSync(path.join(sentinel, 'keep'), 'original\n');
  return { base, db, store, sentinel, cleanup: () => { db.close(); fs.rmSync(base, { recursive: true, force: true }); } };
}

/** Everything under dir as sorted relative paths (no symlink following). */
export function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const r = rel ? rel + '/' + n : n;
      out.push(r);
      const st = fs.lstatSync(path.join(d, n));
      if (st.isDirectory()) walk(path.join(d, n), r);
    }
  };
  walk(dir, '');
  return out;
}

export function repoRoot(): string { return path.resolve(new URL('../../..', import.meta.url).pathname); }
