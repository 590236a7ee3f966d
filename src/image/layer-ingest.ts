/**
 * Bringing a layer tar into the engine: decompress if needed and unpack it into the layer store, which keeps what it
 * needs to give back the exact tar (save, push).
 */
import { InvalidParameterError } from '../errors/index.js';
import type { LayerInfo, LayerStore } from '../layer/index.js';
import type { ContentStore } from './content-store.js';

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
