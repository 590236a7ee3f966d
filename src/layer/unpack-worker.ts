/**
 * Worker thread side of LayerStore.stageSink(): unpacks one layer at a time from the bytes the main thread sends
 * (transferred, not copied), so gunzip bookkeeping, the DiffID hash, the tar parsing and the file writes of a pull
 * run beside the main thread's download, blob hash and blob file.
 *
 *   main → worker: { type: 'start', dir } · { type: 'data', buf, len } · { type: 'end' } · { type: 'abort' }
 *   worker → main: { type: 'ack', n } (bytes taken) · { type: 'done', result } · { type: 'error', error }
 */
import { parentPort } from 'node:worker_threads';
import { PassThrough } from 'node:stream';
import * as path from 'node:path';
import { unpackTar } from './unpack.js';

const port = parentPort!;
let input: PassThrough | null = null;

port.on('message', (m: { type: string; dir?: string; buf?: ArrayBuffer; len?: number }) => {
  switch (m.type) {
    case 'start': {
      const src = input = new PassThrough({ highWaterMark: 4 << 20 });
      unpackTar(src, path.join(m.dir!, 'diff'), { splitDir: m.dir! }).then(
        (result) => { if (input === src) input = null; port.postMessage({ type: 'done', result }); },
        (e: Error & { code?: string }) => {
          if (input === src) input = null;
          src.destroy();
          port.postMessage({ type: 'error', error: { name: e?.name ?? 'Error', message: e?.message ?? String(e), code: e?.code } });
        },
      );
      return;
    }
    case 'data': {
      const n = m.len!;
      const b = Buffer.from(m.buf!, 0, n);
      // Acknowledged once the unpacker has room again: the main thread keeps only a few MiB in flight.
      if (!input) { port.postMessage({ type: 'ack', n }); return; }
      input.write(b, () => port.postMessage({ type: 'ack', n }));
      return;
    }
    case 'end': input?.end(); return;
    case 'abort': input?.destroy(new Error('layer download stopped')); return;
  }
});
