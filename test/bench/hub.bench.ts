/**
 * The Hub's benchmark figures, beside a reference measured in the same run (printed as test
 * diagnostics; the floors asserted are far below what a 2-core machine does, so only a real
 * regression fails):
 *   - authorised blob HEADs with 16 concurrent clients:
 *       berth-hub, token issue + HEAD per pair (the issue's figure: a client that fetches a token
 *       for every request),
 *       berth-hub, HEAD with a reused token (what docker does: one token per scope, many requests),
 *       reference: Debian's docker-registry (distribution 2.8) with htpasswd auth, started here on
 *       its own port and storage, HEAD with Basic credentials on every request (what its clients
 *       send; it checks the bcrypt hash each time). Skipped when /usr/bin/docker-registry is missing.
 *     The load generator is one Node process of its own (node:http, keep-alive, 16 loops), the same
 *     for all three; rounds rotate which goes first; medians and ratios are printed.
 *   - the web search page's response time with 1,000 repositories (median and p95; no reference).
 *
 *   HUB_BENCH_ROUNDS=5 HUB_BENCH_SECONDS=2 node --test dist/test/bench/hub.bench.js
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { HubStore } from '../../src/hub/index.js';
import { basic, getToken, pushImage, spawnHub, type SpawnedHub } from '../integration/hub-harness.js';

const alice = { user: 'alice', password: 'alice-password-1' };
const ROUNDS = Number(process.env.HUB_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.HUB_BENCH_SECONDS ?? 2);
const CLIENTS = 16;
const REGISTRY_BIN = '/usr/bin/docker-registry';
/** `htpasswd -B`'s default cost, as distribution's documentation makes its users' files. */
const BCRYPT_COST = 5;

let hub: SpawnedHub;
before(async () => { hub = await spawnHub(); hub.createUser(alice.user, alice.password); });
after(async () => { await hub?.stop(); });

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => { const s = sorted(xs); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const p95 = (xs: number[]): number => { const s = sorted(xs); return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]; };

/**
 * The load generator, run as its own Node process so it shares nothing with the servers or this
 * test: CLIENTS loops for SECONDS, each doing `pair` (GET token with Basic, then HEAD with that
 * token) or `head` (HEAD with a fixed Authorization header). Prints {ops, secs, failed}.
 */
const CLIENT = `
const cfg = JSON.parse(process.argv[1]);
const { request, Agent } = await import(cfg.head.startsWith('https:') ? 'node:https' : 'node:http');
const agent = new Agent({ keepAlive: true, maxSockets: cfg.clients });
const call = (method, url, auth, wantBody) => new Promise((resolve, reject) => {
  const req = request(url, { method, agent, headers: { Authorization: auth } }, (res) => {
    const chunks = [];
    res.on('data', (c) => { if (wantBody) chunks.push(c); });
    res.on('end', () => resolve({ status: res.statusCode, body: wantBody ? Buffer.concat(chunks).toString() : '' }));
    res.on('error', reject);
  });
  req.on('error', reject);
  req.end();
});
let ops = 0, failed = 0;
const t0 = performance.now();
const end = t0 + cfg.seconds * 1000;
await Promise.all(Array.from({ length: cfg.clients }, async () => {
  while (performance.now() < end) {
    try {
      let auth = cfg.auth;
      if (cfg.mode === 'pair') {
        const t = await call('GET', cfg.token, cfg.auth, true);
        if (t.status !== 200) { failed++; continue; }
        auth = 'Bearer ' + JSON.parse(t.body).token;
      }
      const h = await call('HEAD', cfg.head, auth, false);
      if (h.status === 200) ops++; else failed++;
    } catch { failed++; }
  }
}));
process.stdout.write(JSON.stringify({ ops, secs: (performance.now() - t0) / 1000, failed }));
`;

interface LoadResult { rate: number; ops: number; failed: number }

function load(cfg: { mode: 'pair' | 'head'; head: string; token?: string; auth: string }): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, JSON.stringify({ ...cfg, seconds: SECONDS, clients: CLIENTS })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => { out += c; });
    p.stderr.on('data', (c: Buffer) => { err += c; });
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code !== 0) { reject(new Error(`load client exited ${code}: ${err}`)); return; }
      const r = JSON.parse(out) as { ops: number; secs: number; failed: number };
      resolve({ rate: r.ops / r.secs, ops: r.ops, failed: r.failed });
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); const port = typeof a === 'object' && a ? a.port : 0; s.close(() => resolve(port)); });
  });
}

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await cond()) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** docker-registry with htpasswd auth on its own port and storage. */
async function startReference(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-hub-bench-ref-'));
  const port = await freePort();
  writeFileSync(join(dir, 'htpasswd'), `${alice.user}:${bcrypt.hashSync(alice.password, BCRYPT_COST)}\n`);
  // As Debian's packaged config.yml: filesystem storage with the in-memory descriptor cache, htpasswd auth.
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    'storage:',
    '  cache: { blobdescriptor: inmemory }',
    `  filesystem: { rootdirectory: ${join(dir, 'data')} }`,
    `http: { addr: "127.0.0.1:${port}" }`,
    `auth: { htpasswd: { realm: basic-realm, path: ${join(dir, 'htpasswd')} } }`,
    '',
  ].join('\n'));
  const p: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${url}/v2/`)).status === 401, 'docker-registry');
  } catch (err) { await stop(); throw err; }
  return { url, stop };
}

/** Pushes `bytes` as a blob (POST, then PUT with the digest) with Basic auth; returns the digest. */
async function pushBlobBasic(url: string, repo: string, bytes: Buffer<ArrayBuffer>, auth: string): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: auth } });
  await post.arrayBuffer();
  assert.equal(post.status, 202);
  const put = new URL(post.headers.get('location')!, url);
  put.searchParams.set('digest', digest);
  const r = await fetch(put, { method: 'PUT', body: bytes, headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' } });
  await r.arrayBuffer();
  assert.equal(r.status, 201);
  return digest;
}

test(`authorised blob HEAD, ${CLIENTS} concurrent clients, beside docker-registry with htpasswd`, async (t) => {
  const img = await pushImage(hub, 'alice/bench', 'v1', alice);
  const auth = basic(alice.user, alice.password);
  const scope = encodeURIComponent('repository:alice/bench:pull');
  const hubHead = `${hub.url}/v2/alice/bench/blobs/${img.layerDigest}`;
  const token = await getToken(hub, ['repository:alice/bench:pull'], alice);

  type Kind = 'pair' | 'reused' | 'reference';
  const runs: Record<Kind, LoadResult[]> = { pair: [], reused: [], reference: [] };
  const haveReference = existsSync(REGISTRY_BIN);
  const ref = haveReference ? await startReference() : undefined;
  try {
    let refHead: string | undefined;
    if (ref) {
      const digest = await pushBlobBasic(ref.url, 'alice/bench', randomBytes(1024), auth);
      refHead = `${ref.url}/v2/alice/bench/blobs/${digest}`;
      const h = await fetch(refHead, { method: 'HEAD', headers: { Authorization: auth } });
      assert.equal(h.status, 200);
      assert.equal((await fetch(refHead, { method: 'HEAD' })).status, 401, 'the reference checks credentials');
    }
    const kinds: Kind[] = ref ? ['pair', 'reused', 'reference'] : ['pair', 'reused'];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate who goes first, so load from elsewhere on the machine hits all alike.
      const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
      for (const k of order) {
        const r = k === 'pair' ? await load({ mode: 'pair', token: `${hub.url}/token?service=berth-hub&scope=${scope}`, head: hubHead, auth })
          : k === 'reused' ? await load({ mode: 'head', head: hubHead, auth: `Bearer ${token}` })
            : await load({ mode: 'head', head: refHead!, auth });
        runs[k].push(r);
      }
      t.diagnostic(`round ${round + 1}: ${kinds.map((k) => `${k} ${runs[k].at(-1)!.rate.toFixed(0)}/s`).join(', ')}`);
    }
  } finally {
    await ref?.stop();
  }
  const med = (k: Kind): number => median(runs[k].map((r) => r.rate));
  const rows: [string, Kind][] = [
    ['berth-hub: token issue + HEAD (pairs/s)', 'pair'],
    ['berth-hub: HEAD, reused token (/s)', 'reused'],
    ...(haveReference ? [['docker-registry htpasswd: HEAD, Basic (/s)', 'reference'] as [string, Kind]] : []),
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  t.diagnostic(`blob HEAD, ${CLIENTS} clients, medians of ${ROUNDS} x ${SECONDS} s (one Node load process, keep-alive; reference bcrypt cost ${BCRYPT_COST})`);
  t.diagnostic(`${'figure'.padEnd(w)}  ${'median'.padStart(8)}  vs reference`);
  for (const [label, k] of rows) {
    const ratio = haveReference && k !== 'reference' ? `${(med(k) / med('reference')).toFixed(2)}x` : '';
    t.diagnostic(`${label.padEnd(w)}  ${med(k).toFixed(0).padStart(8)}  ${ratio}`);
  }
  if (!haveReference) t.diagnostic(`${REGISTRY_BIN} is missing: no reference`);
  for (const k of Object.keys(runs) as Kind[]) assert.equal(runs[k].reduce((n, r) => n + r.failed, 0), 0, `${k}: failed requests`);
  assert.ok(med('pair') > 20, `${med('pair')}/s`); // floors for a loaded shared machine, not targets
  assert.ok(med('reused') > 50, `${med('reused')}/s`);
});

test('web search page with 1,000 repositories', async (t) => {
  // The search page reads only metadata: fill the database directly (WAL: safe beside the running Hub).
  const store = new HubStore(join(hub.data, 'hub.db'));
  const words = ['nginx', 'postgres', 'redis', 'python', 'node', 'golang', 'alpine', 'debian', 'mysql', 'rabbitmq'];
  store.db.transaction(() => {
    for (let i = 0; i < 1000; i++) {
      const w = words[i % words.length];
      store.ensureRepo(`alice/${w}-${i}`, i % 5 === 0 ? 'private' : 'public', `# ${w} ${i}\n\nA ${w} image, build ${i}, with **tools**.`);
    }
  })();
  store.close();
  const time = async (path: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < 40; i++) {
      const s = performance.now();
      const r = await fetch(`${hub.url}${path}`);
      const body = await r.text();
      assert.equal(r.status, 200);
      assert.ok(path.startsWith('/v1/') ? body.endsWith('}') : body.includes('</html>'), body.slice(-300));
      out.push(performance.now() - s);
    }
    return out.slice(5); // the first few warm caches up
  };
  const paths = ['/search?q=redis', '/search', '/search?q=o&page=20', '/v1/search?q=python&n=25'];
  const results: [string, number[]][] = [];
  for (const p of paths) results.push([p, await time(p)]);
  const w = Math.max(...paths.map((p) => p.length));
  t.diagnostic(`search, 1,000 repositories, 35 sequential requests each (no reference)`);
  t.diagnostic(`${'path'.padEnd(w)}  median ms  p95 ms`);
  for (const [p, xs] of results) t.diagnostic(`${p.padEnd(w)}  ${median(xs).toFixed(1).padStart(9)}  ${p95(xs).toFixed(1).padStart(6)}`);
  for (const [p, xs] of results) if (!p.startsWith('/v1/')) assert.ok(median(xs) < 1000, `${p}: search pages answer within a second even on a loaded machine`);
});
