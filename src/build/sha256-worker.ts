/**
 * Worker thread of parallel-hash.ts: per intake (owner), keeps the buffers moved here and hashes
 * the ranges of them each job is given, in order; replies with the digests of the jobs that ended,
 * moving the buffers back when asked ('all'), or drops everything ('close').
 *
 * What a closed intake held for its finished files is kept as the "last build" (up to
 * LAST_BUILD_MAX bytes, for LAST_BUILD_MS): a job for the same path and size is compared with it
 * as its data comes, and takes its digest when every byte is equal; at the first difference it is
 * hashed from its start (its data is all here).
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashBatch, HashReply } from './parallel-hash.js';

const LAST_BUILD_MAX = 128 << 20;
const LAST_BUILD_MS = 60_000;

/** A file's data as views of held buffers, in order, and its digest. */
interface Known { size: number; digest: string; parts: Uint8Array[] }

interface Job {
  path: string;
  size: number;
  parts: Uint8Array[];
  /** The last build's file being compared with (until a difference). */
  same?: Known;
  /** Where the comparison is: part index and offset in it. */
  at: [number, number];
  hash?: Hash;
  digest?: string;
}

interface Owner { held: ArrayBuffer[]; digests: [number, string, number][]; finished: Job[] }

const owners = new Map<number, Owner>();
const jobs = new Map<number, Job>();
let lastBuild = new Map<string, Known>();
let forget: NodeJS.Timeout | undefined;
const port = parentPort!;

/** Compares `data` with `known` from position `at` on (moving it); false at the first difference. */
function sameBytes(data: Uint8Array, known: Known, at: [number, number]): boolean {
  let off = 0;
  while (off < data.length) {
    const part = known.parts[at[0]];
    if (!part) return false;
    const n = Math.min(part.length - at[1], data.length - off);
    if (Buffer.compare(data.subarray(off, off + n), part.subarray(at[1], at[1] + n)) !== 0) return false;
    off += n;
    at[1] += n;
    if (at[1] === part.length) { at[0]++; at[1] = 0; }
  }
  return true;
}

function hashFromStart(job: Job): Hash {
  const h = createHash('sha256');
  for (const p of job.parts) h.update(p);
  return h;
}

port.on('message', (m: HashBatch) => {
  let o = owners.get(m.owner);
  if (!o) { o = { held: [], digests: [], finished: [] }; owners.set(m.owner, o); }
  for (const b of m.buffers) o.held.push(b);
  for (const [id, size, path] of m.begins) {
    const known = lastBuild.get(path);
    jobs.set(id, { path, size, parts: [], at: [0, 0], ...(known && known.size === size ? { same: known } : { hash: createHash('sha256') }) });
  }
  const r = m.ranges;
  for (let k = 0; k < r.length; k += 4) {
    const job = jobs.get(r[k]!);
    if (!job) continue;
    const data = new Uint8Array(o.held[r[k + 1]!]!, r[k + 2]!, r[k + 3]!);
    job.parts.push(data);
    if (job.same && !sameBytes(data, job.same, job.at)) {
      job.same = undefined;
      job.hash = hashFromStart(job);
    } else if (job.hash) {
      job.hash.update(data);
    }
  }
  for (const id of m.ends) {
    const job = jobs.get(id);
    if (!job) continue;
    jobs.delete(id);
    const complete = job.same && job.at[0] === job.same.parts.length && job.at[1] === 0;
    job.digest = complete ? job.same!.digest : (job.hash ?? hashFromStart(job)).digest('hex');
    job.same = undefined;
    o.digests.push([id, job.digest, complete ? 1 : 0]);
    o.finished.push(job);
  }
  for (const id of m.drops) jobs.delete(id);
  if (m.reply === 'close') {
    owners.delete(m.owner);
    remember(o.finished);
    return;
  }
  if (!m.reply) return;
  const reply: HashReply = { owner: m.owner, digests: o.digests };
  o.digests = [];
  if (m.reply === 'all') {
    reply.buffers = o.held;
    o.held = [];
    o.finished = [];   // their data goes back
    port.postMessage(reply, reply.buffers);
  } else {
    port.postMessage(reply);
  }
});

/** The files of the intake closed last become the "last build" (in place of the one before). */
function remember(finished: Job[]): void {
  const next = new Map<string, Known>();
  let total = 0;
  for (const j of finished) {
    if (total + j.size > LAST_BUILD_MAX) break;
    total += j.size;
    next.set(j.path, { size: j.size, digest: j.digest!, parts: j.parts });
  }
  if (!next.size) return;
  lastBuild = next;
  if (forget) clearTimeout(forget);
  forget = setTimeout(() => { lastBuild = new Map(); forget = undefined; }, LAST_BUILD_MS);
}

port.postMessage({ owner: 0, digests: [] } satisfies HashReply);   // loaded: a failure after this is not a failure to start
