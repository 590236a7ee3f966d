/**
 * Bringing a layer tar into the engine: decompress if needed, then in one pass keep the exact
 * tar bytes (content store, digest = DiffID, used by save and push) and unpack it (layer store).
 */
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidParameterError } from '../errors/index.js';
import type { LayerInfo, LayerStore } from '../layer/index.js';
import { chainIdOf } from '../layer/index.js';
import type { ContentStore } from './content-store.js';

/** Peeks at the first bytes and returns a stream of the uncompressed tar. */
export async function decompressed(src: NodeJS.ReadableStream): Promise<Readable> {
  const input = src as Readable;
  const first: Buffer = await new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = input.read() as Buffer | null;
      if (chunk === null) return;
      cleanup(); resolve(chunk);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.alloc(0)); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const cleanup = () => { input.off('readable', onReadable); input.off('end', onEnd); input.off('error', onError); };
    input.on('readable', onReadable); input.on('end', onEnd); input.on('error', onError);
  });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.write(first);
  input.pipe(out);
  input.on('error', (e) => out.destroy(e));
  if (first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip();
    out.pipe(gunzip);
    out.on('error', (e) => gunzip.destroy(e));
    gunzip.on('error', () => { /* surfaced to the consumer */ });
    return gunzip;
  }
  if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd) {
    input.destroy();
    throw new InvalidParameterError('zstd-compressed layers are not supported');
  }
  return out;
}

export interface IngestResult extends LayerInfo { tarSize: number }

export async function ingestLayer(
  content: ContentStore, layers: LayerStore, parent: { chainId: string | null; diffIds: string[] },
  src: NodeJS.ReadableStream, expectedDiffId?: string,
): Promise<IngestResult> {
  if (expectedDiffId) {
    const chain = chainIdOf([...parent.diffIds, expectedDiffId]);
    if (layers.has(chain) && content.has(expectedDiffId)) {
      (src as Readable).resume();
      await new Promise<void>((r) => { (src as Readable).once('end', r); (src as Readable).once('close', r); (src as Readable).once('error', () => r()); });
      return { ...layers.get(chain), tarSize: content.size(expectedDiffId) };
    }
  }
  const tar = await decompressed(src);
  const toContent = new PassThrough({ highWaterMark: 1 << 20 });
  const toLayer = new PassThrough({ highWaterMark: 1 << 20 });
  tar.pipe(toContent); tar.pipe(toLayer);
  tar.on('error', (e) => { toContent.destroy(e); toLayer.destroy(e); });
  const [stored, info] = await Promise.allSettled([
    content.put(toContent, expectedDiffId),
    layers.unpack(parent.chainId, toLayer, expectedDiffId),
  ]);
  if (info.status === 'rejected') {
    if (stored.status === 'fulfilled' && !layers.list().some((l) => l.diffId === stored.value.digest)) content.delete(stored.value.digest);
    throw wrapTarError(info.reason);
  }
  if (stored.status === 'rejected') throw wrapTarError(stored.reason);
  return { ...info.value, tarSize: stored.value.size };
}

function wrapTarError(e: unknown): Error {
  if (e instanceof Error && (e as any).status) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/unexpected end|incorrect header|invalid tar|zlib|Z_|header/i.test(msg)) return new InvalidParameterError(`archive/tar: invalid tar header or corrupt archive: ${msg}`);
  return e instanceof Error ? e : new Error(msg);
}
