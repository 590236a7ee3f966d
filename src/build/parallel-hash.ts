/**
 * sha256 of large context files off the main thread. Node's HTTP parser hands out each body chunk
 * as a copy over an ArrayBuffer of its own; the chunks of large files are moved (transferred, not
 * copied) to one long-lived worker thread, which hashes them on the other core while the rest of
 * the body arrives, and keeps them. The main thread only parses the tar, where it would otherwise
 * spend most of the intake hashing (about 1.2 GB/s here even with SHA-NI), and V8 on the main
 * thread no longer sees that memory (fewer full collections there).
 *
 * The worker keeps the large files of the last build it was done with (for a while, up to a
 * limit): a file of the same path and size in the next build is compared with them byte by byte as
 * it arrives (memcmp speed) and, when equal, gets their digest without being hashed again; the
 * first difference falls back to hashing it from its start. An exact comparison decides as
 * surely as the digest does.
 *
 * A fully cached build never needs the data back: its digests are enough. What reads file content
 * (a COPY that misses, ADD, a RUN --mount bind of the context, a large Dockerfile) first calls
 * `fetch()`, which moves everything back; `close()` lets the worker drop it.
 */
import { Worker } from 'node:worker_threads';

/** Main → worker. */
export interface HashBatch {
  /** The intake it belongs to (echoed in replies). */
  owner: number;
  /** Moved here; appended to what the worker holds for the owner. */
  buffers: ArrayBuffer[];
  /** Jobs started: id, size, path in the context (a file seen in the last build is compared, not hashed). */
  begins: [number, number, string][];
  /** Flat quadruples: job id, index into what the worker holds for the owner, offset, length; in order. */
  ranges: number[];
  /** Jobs whose data ended (their digests are reported in the next reply). */
  ends: number[];
  /** Jobs given up (their hash state is dropped). */
  drops: number[];
  /** Answer with the digests ('digests'), also moving every held buffer back ('all'); or drop everything ('close'). */
  reply?: 'digests' | 'all' | 'close';
}
/**
 * Worker → main: digests of the jobs ended since the last reply (with 1 when the file was the same
 * as in the last build, so not hashed); with 'all', the held buffers in order.
 */
export interface HashReply { owner: number; digests: [number, string, number][]; buffers?: ArrayBuffer[] }

/** Files whose digest the worker computed, and those it took from the last build after comparing every byte (for tests and traces). */
export const parallelHashStats = { hashed: 0, sameAsLastBuild: 0 };

/** Files at least this big go to the worker (below it the hand-over costs about what the hash does). */
export const PARALLEL_HASH_MIN_SIZE = 256 << 10;
/** A batch goes to the worker once it holds this many bytes of file data. */
const BATCH_BYTES = 1 << 20;

/** One file hashed in the worker. */
export interface HashJob {
  readonly id: number;
  /** The file's data: complete (so far) only after `fetch()`. */
  readonly chunks: Buffer[];
  /** The sha256 (hex), once `settled()` resolved. */
  digest?: string;
}

interface Shared { worker: Worker; users: Map<number, ParallelHasher>; waiting: number; idle?: NodeJS.Timeout }
let shared: Shared | undefined;
let nextJob = 1;
let nextOwner = 1;   // 0: the worker's "ready"

/**
 * A worker with no intake for this long ends, and its memory (the last build's files, its heap:
 * ~100 MB after a 50 MB context) goes back: the worker forgets the last build after 60 s anyway.
 */
const WORKER_IDLE_MS = 61_000;

/** The worker, started on first use and kept while used; it keeps the process alive only while a reply is awaited. */
let workerUrl = new URL('./sha256-worker.js', import.meta.url);
/** Set when a worker could not start: contexts are then hashed on the main thread (see parallelHashAvailable). */
let cannotStart: Error | undefined;

/** Whether large files can go to the worker (false once a worker failed to start: the intake that met it fails, later ones hash here). */
export function parallelHashAvailable(): boolean { return !cannotStart; }

/** @internal tests: another worker script (a missing one makes the next start fail); undefined restores it and forgets a failure. */
export function setHashWorkerUrlForTests(url: URL | undefined): void {
  workerUrl = url ?? new URL('./sha256-worker.js', import.meta.url);
  if (!url) cannotStart = undefined;
}

/** @internal tests: ends the worker (the next intake starts one). */
export async function stopHashWorkerForTests(): Promise<void> {
  const s = shared;
  shared = undefined;
  await s?.worker.terminate();
}

function workerFor(user: ParallelHasher): Shared {
  if (!shared) {
    const worker = new Worker(workerUrl);
    const s: Shared = { worker, users: new Map(), waiting: 0 };
    let ready = false;   // its script loaded (it says so with owner 0)
    worker.on('message', (m: HashReply) => { if (m.owner === 0) ready = true; else s.users.get(m.owner)?.onReply(m); });
    const lost = (e?: Error) => {
      if (!ready && e) cannotStart = e;
      if (shared === s) shared = undefined;
      const users = [...s.users.values()];
      s.users.clear();
      for (const u of users) u.onWorkerLost(e ?? new Error('the hashing worker exited'));
    };
    worker.on('error', lost);
    worker.on('exit', () => lost());
    worker.unref();
    shared = s;
  }
  clearTimeout(shared.idle);
  shared.users.set(user.owner, user);
  return shared;
}

function awaiting(s: Shared, delta: number): void {
  s.waiting += delta;
  if (s.waiting === delta && delta > 0) s.worker.ref();
  else if (s.waiting === 0) s.worker.unref();
}

interface Pending { kind: 'digests' | 'all'; resolve(): void; reject(e: Error): void }

/** The worker side of one context intake. Fed only chunks whose ArrayBuffers it may take away. */
export class ParallelHasher {
  readonly owner = nextOwner++;
  private shared?: Shared;
  /** Jobs by id, until their digest is known and their data is here. */
  private readonly jobs = new Map<number, HashJob>();
  /** The batch being put together. */
  private buffers: ArrayBuffer[] = [];
  private bufferIndex = new Map<ArrayBuffer, number>();
  private ranges: (HashJob | number)[] = [];
  private begins: [number, number, string][] = [];
  private ends: number[] = [];
  private drops: number[] = [];
  private bytes = 0;
  /** Buffers the worker holds for this intake; ranges sent since it last gave them back. */
  private held = 0;
  private heldRanges: (HashJob | number)[] = [];
  private readonly pending: Pending[] = [];
  private failure?: Error;
  private closed = false;

  /** A file of `size` bytes at `path` (its name in the context). */
  begin(path: string, size: number): HashJob {
    const job: HashJob = { id: nextJob++, chunks: [] };
    this.jobs.set(job.id, job);
    this.begins.push([job.id, size, path]);
    return job;
  }

  /** `data` (a view of a buffer this hasher may take away) belongs to `job`, after what it had. */
  add(job: HashJob, data: Buffer): void {
    if (data.length === 0) return;
    const ab = data.buffer as ArrayBuffer;
    let i = this.bufferIndex.get(ab);
    if (i === undefined) {
      i = this.held + this.buffers.push(ab) - 1;
      this.bufferIndex.set(ab, i);
    }
    this.ranges.push(job, i, data.byteOffset, data.length);
    this.bytes += data.length;
  }

  end(job: HashJob): void { this.ends.push(job.id); }

  /** Whether file data is in the worker (or on its way there). */
  get remote(): boolean { return this.held > 0 || this.buffers.length > 0; }

  /** Sends the batch when it is big enough; call between chunks, never while one is being parsed. */
  flush(): void {
    if (this.bytes >= BATCH_BYTES) this.send();
  }

  /** Resolves when every job that ended has its digest. */
  settled(): Promise<void> { return this.request('digests'); }

  /** Moves every buffer back: each job's `chunks` is then complete (as far as its data came). */
  fetch(): Promise<void> {
    if (!this.remote && !this.pending.length) return Promise.resolve();
    return this.request('all');
  }

  /** Done with this intake: the worker drops what it holds for it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.jobs.values()) if (j.digest === undefined) this.drops.push(j.id);
    if (this.shared && !this.failure) this.send('close');
    this.buffers = [];
    this.bufferIndex = new Map();
    this.ranges = [];
    this.heldRanges = [];
    this.jobs.clear();
    if (!this.pending.length) this.detach();
  }

  private request(kind: 'digests' | 'all'): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the build context was released'));
    return new Promise((resolve, reject) => {
      if (!this.send(kind)) return reject(this.failure);
      this.pending.push({ kind, resolve, reject });
      awaiting(this.shared!, 1);
    });
  }

  private send(reply?: HashBatch['reply']): boolean {
    const flat: number[] = [];
    for (let k = 0; k < this.ranges.length; k += 4) flat.push((this.ranges[k] as HashJob).id, this.ranges[k + 1] as number, this.ranges[k + 2] as number, this.ranges[k + 3] as number);
    const batch: HashBatch = { owner: this.owner, buffers: this.buffers, begins: this.begins, ranges: flat, ends: this.ends, drops: this.drops, ...(reply ? { reply } : {}) };
    try {
      this.shared ??= workerFor(this);
      this.shared.worker.postMessage(batch, this.buffers);
    } catch (e) {
      this.fail(e as Error);
      return false;
    }
    this.held += this.buffers.length;
    for (const r of this.ranges) this.heldRanges.push(r);
    this.buffers = [];
    this.bufferIndex = new Map();
    this.ranges = [];
    this.begins = [];
    this.ends = [];
    this.drops = [];
    this.bytes = 0;
    return true;
  }

  /** @internal a reply (they come in the order asked). */
  onReply(m: HashReply): void {
    const p = this.pending.shift();
    if (this.shared) awaiting(this.shared, -1);
    for (const [id, digest, same] of m.digests) {
      const job = this.jobs.get(id);
      if (job) job.digest = digest;
      if (same) parallelHashStats.sameAsLastBuild++; else parallelHashStats.hashed++;
    }
    if (m.buffers) {
      const r = this.heldRanges;
      for (let k = 0; k < r.length; k += 4) {
        (r[k] as HashJob).chunks.push(Buffer.from(m.buffers[r[k + 1] as number]!, r[k + 2] as number, r[k + 3] as number));
      }
      this.heldRanges = [];
      this.held = 0;
    }
    if (this.closed && !this.pending.length) this.detach();
    p?.resolve();
  }

  /** @internal the worker died: what it held is gone with it. */
  onWorkerLost(e: Error): void {
    this.shared = undefined;
    if (this.held > 0 || this.pending.length) this.fail(e);
  }

  private detach(): void {
    const s = this.shared;
    this.shared = undefined;
    if (!s) return;
    s.users.delete(this.owner);
    if (s.users.size) return;
    clearTimeout(s.idle);
    s.idle = setTimeout(() => {
      if (shared !== s || s.users.size) return;
      shared = undefined;
      void s.worker.terminate();
    }, WORKER_IDLE_MS);
    s.idle.unref();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const pending = this.pending.splice(0);
    if (this.shared) awaiting(this.shared, -pending.length);
    for (const p of pending) p.reject(this.failure);
    this.detach();
  }
}
