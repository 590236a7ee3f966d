/**
 * Layer unpacking on worker threads (unpack-worker.ts): a small pool of workers, each unpacking one layer at a time.
 * The bytes are handed over by transfer (no copy) with a bounded amount in flight, so a slow disk slows the download
 * rather than piling up memory.
 */
import { Worker } from 'node:worker_threads';
import { BerthError, ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../errors/index.js';
import type { UnpackResult } from './unpack.js';

const MAX_IDLE = 4;
const IN_FLIGHT = 8 << 20;
/** An idle worker is ended after this long: each holds a V8 heap of its own (~10 MB), and an idle daemon should not. */
const IDLE_MS = 30_000;
const idle: Worker[] = [];
const idleTimers = new Map<Worker, NodeJS.Timeout>();

function takeIdle(): Worker | undefined {
  const w = idle.pop();
  if (w) { clearTimeout(idleTimers.get(w)); idleTimers.delete(w); }
  return w;
}

function parkIdle(w: Worker): void {
  w.unref();
  idle.push(w);
  const timer = setTimeout(() => {
    idleTimers.delete(w);
    const i = idle.indexOf(w);
    if (i >= 0) { idle.splice(i, 1); void w.terminate(); }
  }, IDLE_MS);
  timer.unref();
  idleTimers.set(w, timer);
}

const ERRORS: Record<string, new (m: string) => BerthError> = { InvalidParameterError, NotFoundError, ConflictError, SystemError };

/** Feeds one layer's bytes (plain or gzip tar) to an unpacker running on a worker thread. */
export class OffThreadUnpack {
  private readonly worker: Worker;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private settled = false;
  readonly result: Promise<UnpackResult>;

  constructor(dir: string) {
    this.worker = takeIdle() ?? new Worker(new URL('./unpack-worker.js', import.meta.url));
    this.worker.ref();
    this.result = new Promise<UnpackResult>((resolve, reject) => {
      const finish = (release: boolean) => {
        this.settled = true;
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.wake();
        if (release && idle.length < MAX_IDLE) parkIdle(this.worker); else void this.worker.terminate();
      };
      const onMessage = (m: { type: string; n?: number; result?: UnpackResult; error?: { name: string; message: string; code?: string } }) => {
        if (m.type === 'ack') { this.inFlight -= m.n!; this.wake(); return; }
        if (m.type === 'done') { finish(true); resolve(m.result!); return; }
        if (m.type === 'error') {
          finish(true);
          const Cls = ERRORS[m.error!.name];
          const e = Cls ? new Cls(m.error!.message) : Object.assign(new Error(m.error!.message), { code: m.error!.code });
          reject(e);
        }
      };
      const onError = (e: Error) => { finish(false); reject(new SystemError(`layer unpack worker failed: ${e.message}`)); };
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
    });
    this.result.catch(() => { /* the caller awaits it */ });
    this.worker.postMessage({ type: 'start', dir });
  }

  private wake(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }

  /**
   * Hands `b` over; resolves when there is room for more. `owned`: b starts its own ArrayBuffer, which nothing else
   * uses (Buffer.alloc, or Buffer.allocUnsafe of 4 KiB or more), and is transferred — unusable afterwards. Anything else is copied.
   */
  async write(b: Buffer, owned = false): Promise<void> {
    if (this.settled) return;
    let ab: ArrayBuffer;
    if (owned && b.byteOffset === 0 && b.buffer instanceof ArrayBuffer) ab = b.buffer;
    else { ab = new ArrayBuffer(b.length); new Uint8Array(ab).set(b); }   // never a pool slab: copied into its own
    this.inFlight += b.length;
    this.worker.postMessage({ type: 'data', buf: ab, len: b.length }, [ab]);
    while (this.inFlight > IN_FLIGHT && !this.settled) await new Promise<void>((r) => this.waiters.push(r));
  }

  end(): void { if (!this.settled) this.worker.postMessage({ type: 'end' }); }

  /** Stops the unpack (result rejects); the caller removes the directory once result has settled. */
  abort(): void { if (!this.settled) this.worker.postMessage({ type: 'abort' }); }
}
