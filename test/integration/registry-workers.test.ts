/**
 * `berth-registry serve --workers N`: several processes share the port and the storage. An
 * upload's chunks may land on different workers, its lock holds across processes (and a lock
 * left by a dead process is taken over), a dead worker is replaced, and SIGTERM stops them all.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { errorCodes, sha256, spawnRegistry, type SpawnedRegistry } from './registry-harness.js';

let reg: SpawnedRegistry;
before(async () => { reg = await spawnRegistry(['--workers', '2']); });
after(async () => { await reg?.stop(); });

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One request on a connection of its own (no keep-alive), so consecutive requests reach different workers. */
function fresh(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('two worker processes serve one port', async () => {
  assert.equal(childPids(reg.proc.pid!).length, 2);
  assert.equal((await fetch(`${reg.url}/v2/`)).status, 200);
});

test('a chunked upload whose requests land on different workers', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const digest = sha256(data);
  const start = await fresh('POST', `${reg.url}/v2/spread/app/blobs/uploads/`);
  assert.equal(start.status, 202);
  let loc = new URL(String(start.headers.location), reg.url).href;
  const step = 256 * 1024;
  for (let off = 0; off < data.length; off += step) {
    const chunk = data.subarray(off, off + step);
    const p = await fresh('PATCH', loc, chunk, { 'Content-Range': `${off}-${off + chunk.length - 1}`, 'Content-Type': 'application/octet-stream' });
    assert.equal(p.status, 202, p.body.toString());
    assert.equal(p.headers.range, `0-${off + chunk.length - 1}`);
    loc = new URL(String(p.headers.location), reg.url).href;
  }
  const put = await fresh('PUT', `${loc}?digest=${digest}`);
  assert.equal(put.status, 201, put.body.toString());
  for (let i = 0; i < 4; i++) {
    const g = await fresh('GET', `${reg.url}/v2/spread/app/blobs/${digest}`);
    assert.equal(g.status, 200);
    assert.ok(g.body.equals(data));
  }
});

test("an upload locked by another live process waits, then answers 409; a dead process's lock is taken over", async () => {
  const start = await fetch(`${reg.url}/v2/locked/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const id = start.headers.get('docker-upload-uuid')!;
  const loc = new URL(start.headers.get('location')!, reg.url).href;
  const lockFile = join(reg.storage, 'uploads', id, 'lock');
  const chunk = Buffer.from('some bytes');

  // As if another server process on the same storage were writing to it (this test process is alive).
  writeFileSync(lockFile, String(process.pid));
  const busy = await fetch(loc, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `0-${chunk.length - 1}` } });
  assert.equal(busy.status, 409);
  assert.deepEqual(await errorCodes(busy), ['BLOB_UPLOAD_INVALID']);
  assert.equal((await fetch(loc, { method: 'DELETE' })).status, 409, 'a busy upload is not cancelled');
  assert.ok(existsSync(lockFile), "another process's lock stays");

  // The holder died without cleaning up: its lock is stale.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(lockFile, dead.stdout);
  const ok = await fetch(loc, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `0-${chunk.length - 1}` } });
  assert.equal(ok.status, 202);
  assert.ok(!existsSync(lockFile), 'released after the chunk');
  const put = await fetch(`${loc}?digest=${sha256(chunk)}`, { method: 'PUT' });
  assert.equal(put.status, 201);
});

test('concurrent chunks for one upload from two connections: exactly one is appended', async () => {
  const start = await fetch(`${reg.url}/v2/race/app/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location')!, reg.url).href;
  const a = randomBytes(2 * 1024 * 1024);
  const b = randomBytes(2 * 1024 * 1024);
  const results = await Promise.all([a, b].map((c) => fresh('PATCH', loc, c, { 'Content-Range': `0-${c.length - 1}` })));
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses.filter((s) => s === 202).length, 1, `statuses ${statuses}`);
  assert.ok([409, 416].includes(statuses[1]), `statuses ${statuses}`);
  const winner = results[0].status === 202 ? a : b;
  const status = await fetch(loc);
  assert.equal(status.headers.get('range'), `0-${winner.length - 1}`);
  const put = await fetch(`${loc}?digest=${sha256(winner)}`, { method: 'PUT' });
  assert.equal(put.status, 201);
});

test('a worker that dies is replaced; SIGTERM stops the supervisor and every worker', async () => {
  const [victim] = childPids(reg.proc.pid!);
  process.kill(victim, 'SIGKILL');
  await waitFor(() => { const c = childPids(reg.proc.pid!); return c.length === 2 && !c.includes(victim); }, 'a replacement worker');
  await waitFor(async () => (await fresh('GET', `${reg.url}/v2/`)).status === 200, 'the registry answering');
  assert.match(reg.stderr(), /worker \d+ exited/);
  const workers = childPids(reg.proc.pid!);
  await reg.stop();
  for (const pid of workers) assert.ok(!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z', `worker ${pid} still running`);
});
