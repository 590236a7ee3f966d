/**
 * Worker thread of parallel-hash.ts: per intake (owner), keeps the buffers moved here and hashes
 * the ranges of them each job is given, in order; replies with the digests of the jobs that ended,
 * moving the buffers back when asked ('all'), or drops everything ('close').
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashBatch, HashReply } from './parallel-hash.js';

interface Owner { held: ArrayBuffer[]; digests: [number, string][] }
const owners = new Map<number, Owner>();
const jobs = new Map<number, Hash>();
const port = parentPort!;

port.on('message', (m: HashBatch) => {
  let o = owners.get(m.owner);
  if (!o) { o = { held: [], digests: [] }; owners.set(m.owner, o); }
  for (const b of m.buffers) o.held.push(b);
  const r = m.ranges;
  for (let k = 0; k < r.length; k += 4) {
    let h = jobs.get(r[k]!);
    if (!h) { h = createHash('sha256'); jobs.set(r[k]!, h); }
    h.update(new Uint8Array(o.held[r[k + 1]!]!, r[k + 2]!, r[k + 3]!));
  }
  for (const id of m.ends) {
    const h = jobs.get(id) ?? createHash('sha256');
    jobs.delete(id);
    o.digests.push([id, h.digest('hex')]);
  }
  for (const id of m.drops) jobs.delete(id);
  if (m.reply === 'close') {
    owners.delete(m.owner);
    return;
  }
  if (!m.reply) return;
  const reply: HashReply = { owner: m.owner, digests: o.digests };
  o.digests = [];
  if (m.reply === 'all') {
    reply.buffers = o.held;
    o.held = [];
    port.postMessage(reply, reply.buffers);
  } else {
    port.postMessage(reply);
  }
});
