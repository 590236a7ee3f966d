/**
 * Bringing a layer tar into the engine: decompress if needed and unpack it into the layer store, which keeps what it
 * needs to give back the exact tar (save, push).
 */
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidParameterError } from '../errors/index.js';
import type { LayerInfo, LayerStore } from '../layer/index.js';
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

/**
 * Unpacks a layer tar (plain or gzip) on top of `parent`. Only the layer store keeps it: the unpacked files plus a
 * tar-split, from which LayerStore.tar() gives back the exact bytes (save, push) — no second copy of the tar.
 * `content` is no longer written (kept in the signature for callers).
 */
export async function ingestLayer(
  _content: ContentStore, layers: LayerStore, parent: { chainId: string | null; diffIds: string[] },
  src: NodeJS.ReadableStream, expectedDiffId?: string,
): Promise<IngestResult> {
  let info: LayerInfo;
  try {
    info = await layers.unpack(parent.chainId, src, expectedDiffId);   // gzip is detected there
  } catch (e) { throw wrapTarError(e); }
  return { ...info, tarSize: layers.tarSize(info.chainId) ?? 0 };
}

function wrapTarError(e: unknown): Error {
  if (e instanceof Error && (e as any).status) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/unexpected end|incorrect header|invalid tar|zlib|Z_|header/i.test(msg)) return new InvalidParameterError(`archive/tar: invalid tar header or corrupt archive: ${msg}`);
  return e instanceof Error ? e : new Error(msg);
}
