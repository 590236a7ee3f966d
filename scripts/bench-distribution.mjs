#!/usr/bin/env node
/**
 * Push-then-pull benchmark of a 100 MB image in two layers (2 x 50 MB of random bytes, as in
 * shared/tools/engine-bench.sh) through the real docker CLI:
 *   berthd ⇄ berth registry, berthd ⇄ docker-registry, and (when REFERENCE_DOCKER_HOST names a
 *   running reference dockerd) dockerd ⇄ docker-registry.
 * Every round starts an empty registry (fresh storage), times `docker push`, removes the image,
 * times `docker pull`. Prints medians (ms) as a table; `--json` prints them as JSON.
 *
 * Section blob-get: blob GET throughput with 16 concurrent clients, berth-registry beside
 * docker-registry, both holding the same blobs (one small, one large). The load generator is
 * wrk (C, its own process, the same command for both servers; installed with apt-get when
 * missing, else a Node client in its own process). Rounds alternate which server goes first;
 * medians of requests/s, MiB/s and the ratio berth / docker-registry are printed.
 *
 *   node scripts/bench-distribution.mjs [--sections pushpull,blob-get] [--rounds 5] [--layer-mb 50] [--json]
 *        [--blob-sizes 65536,16777216] [--blob-rounds 5] [--blob-seconds 3] [--workers N]
 *   --json: with --sections pushpull alone, the push/pull rows as before; otherwise { pushpull, blobGet }.
 *   BERTH_DIST=dist-x  run berthd/berth-registry from dist-x/ instead of dist/
 * Needs root (berthd), docker CLI, /usr/bin/docker-registry. Everything it starts it stops by pid.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(opt('--rounds', process.env.PP_ROUNDS ?? 5));
const LAYER_MB = Number(opt('--layer-mb', process.env.PP_LAYER_MB ?? 50));
const JSON_OUT = args.includes('--json');
const SECTIONS = String(opt('--sections', process.env.DIST_SECTIONS ?? 'pushpull,blob-get')).split(',');
const BLOB_SIZES = String(opt('--blob-sizes', process.env.BLOB_SIZES ?? `${64 << 10},${16 << 20}`)).split(',').map(Number);
const BLOB_ROUNDS = Number(opt('--blob-rounds', process.env.BLOB_ROUNDS ?? 5));
const BLOB_SECONDS = Number(opt('--blob-seconds', process.env.BLOB_SECONDS ?? 3));
const CONCURRENCY = 16;
/** berth-registry's --workers for the blob-get section (default: its own default, one per CPU). */
const WORKERS = opt('--workers', process.env.BERTH_REGISTRY_WORKERS);
const DIST = process.env.BERTH_DIST || 'dist';
const work = mkdtempSync(join(tmpdir(), 'berth-bench-dist-'));
const cleanups = [];
const log = (m) => process.stderr.write(`[bench-distribution] ${m}\n`);

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitUntil(fn, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopProc(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, 10_000).unref();
  });
}

/** A registry process on a fresh storage folder: kind 'berth' or 'docker-registry'. */
async function startRegistry(kind, { extraArgs = [], descriptorCache = false } = {}) {
  const dir = mkdtempSync(join(work, `${kind}-`));
  const port = await freePort();
  let p;
  if (kind === 'berth') {
    p = spawn(process.execPath, [join(root, 'bin', 'berth-registry'), 'serve', '--listen', `127.0.0.1:${port}`, '--storage', join(dir, 'data'), ...extraArgs], {
      env: { ...process.env, BERTH_DIST: DIST }, stdio: ['ignore', 'ignore', 'inherit'],
    });
  } else {
    const cfg = join(dir, 'config.yml');
    // descriptorCache: as Debian's packaged config.yml (and engine-bench.sh), an in-memory blob descriptor cache.
    const cache = descriptorCache ? '  cache: { blobdescriptor: inmemory }\n' : '';
    writeFileSync(cfg, `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage:\n${cache}  filesystem: { rootdirectory: ${join(dir, 'data')} }\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    p = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'ignore'] });
  }
  const address = `127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`http://${address}/v2/`)).status === 200, `${kind} on ${address}`);
  return { address, stop: async () => { await stopProc(p); rmSync(dir, { recursive: true, force: true }); } };
}

async function startBerthd() {
  const dir = mkdtempSync(join(work, 'berthd-'));
  const socket = join(dir, 'd.sock');
  const p = spawn(process.execPath, [join(root, 'bin', 'berthd'), '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '-H', `unix://${socket}`], {
    env: { ...process.env, BERTH_DIST: DIST }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const host = `unix://${socket}`;
  await waitUntil(() => docker(host, ['version', '--format', '{{.Server.Version}}']).status === 0, 'berthd');
  cleanups.push(async () => {
    await stopProc(p);
    for (const m of readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir)).reverse()) spawnSync('umount', ['-l', m]);
  });
  return host;
}

function docker(host, argv, input) {
  return spawnSync('docker', argv, { env: { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(work, 'docker-config') }, encoding: 'utf8', input, maxBuffer: 64 << 20 });
}

function timed(host, argv) {
  const t0 = process.hrtime.bigint();
  const r = docker(host, argv);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`docker ${argv.join(' ')} failed: ${r.stderr}${r.stdout.slice(-500)}`);
  return ms;
}

/** A docker-archive (docker save format) with two layers of random bytes, built with plain tar. */
function makeArchive() {
  const dir = join(work, 'archive');
  mkdirSync(dir);
  const diffIds = [];
  const layerPaths = [];
  for (const n of [1, 2]) {
    const ldir = join(work, `l${n}`);
    mkdirSync(ldir);
    const fd = openSync(join(ldir, `l${n}.bin`), 'w');
    for (let i = 0; i < LAYER_MB; i++) writeSync(fd, randomBytes(1 << 20));
    closeSync(fd);
    const tarPath = join(dir, `layer${n}.tar`);
    const r = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', ldir, '-cf', tarPath, `l${n}.bin`]);
    if (r.status !== 0) throw new Error('tar failed');
    rmSync(ldir, { recursive: true, force: true });
    diffIds.push('sha256:' + createHash('sha256').update(readFileSync(tarPath)).digest('hex'));
    layerPaths.push(`layer${n}.tar`);
  }
  const config = JSON.stringify({
    architecture: 'amd64', os: 'linux', created: new Date().toISOString(),
    config: { Cmd: ['/l1.bin'] }, rootfs: { type: 'layers', diff_ids: diffIds },
    history: [{ created_by: 'COPY l1.bin /l1.bin' }, { created_by: 'COPY l2.bin /l2.bin' }],
  });
  const configName = createHash('sha256').update(config).digest('hex') + '.json';
  writeFileSync(join(dir, configName), config);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['bench/big:latest'], Layers: layerPaths }]));
  const out = join(work, 'image.tar');
  spawnSync('tar', ['-C', dir, '-cf', out, '.']);
  rmSync(dir, { recursive: true, force: true });
  return out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function measure(label, host, kind, archive) {
  const pushes = [];
  const pulls = [];
  // Load the image once; afterwards it exists only under the registry's name, as in engine-bench.
  let loaded = false;
  for (let round = 1; round <= ROUNDS; round++) {
    const reg = await startRegistry(kind);
    try {
      const ref = `${reg.address}/bench/big:latest`;
      if (!loaded) {
        const l = docker(host, ['load', '-i', archive]);
        if (l.status !== 0) throw new Error(`docker load failed: ${l.stderr}`);
        loaded = true;
        docker(host, ['tag', 'bench/big:latest', ref]);
        docker(host, ['rmi', 'bench/big:latest']);
      } else {
        // The previous round's registry had another port: retag.
        const prev = docker(host, ['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=*/bench/big']).stdout.trim().split('\n')[0];
        docker(host, ['tag', prev, ref]);
        docker(host, ['rmi', prev]);
      }
      pushes.push(timed(host, ['push', ref]));
      const rm = docker(host, ['rmi', ref]);
      if (rm.status !== 0) throw new Error(`rmi failed: ${rm.stderr}`);
      pulls.push(timed(host, ['pull', ref]));
      log(`${label} round ${round}: push ${pushes.at(-1).toFixed(0)} ms, pull ${pulls.at(-1).toFixed(0)} ms`);
    } finally { await reg.stop(); }
  }
  // Leave nothing behind in the engine.
  const left = docker(host, ['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=*/bench/big']).stdout.trim();
  for (const r of left.split('\n').filter(Boolean)) docker(host, ['rmi', r]);
  return { label, push: median(pushes), pull: median(pulls), pushes, pulls };
}

// ---- blob GET under concurrency ------------------------------------------------------------

/** wrk when present (apt-get install it once if missing, as bench.sh does for its tools). */
function loadGenerator() {
  const has = () => spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
  if (!has()) spawnSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return has() ? 'wrk' : 'node';
}

/** A Node client in its own process: CONCURRENCY loops of GET for `seconds`; prints requests/s. */
const NODE_CLIENT = `
const [url, seconds, n] = process.argv.slice(1);
const { request, Agent } = await import('node:http');
const agent = new Agent({ keepAlive: true, maxSockets: Number(n) });
let done = 0, errors = 0; const t0 = performance.now(); const end = t0 + Number(seconds) * 1000;
const one = () => new Promise((resolve) => { request(url, { agent }, (res) => { if (res.statusCode !== 200) errors++; res.on('data', () => {}); res.on('end', resolve); }).on('error', () => { errors++; resolve(); }).end(); });
await Promise.all(Array.from({ length: Number(n) }, async () => { while (performance.now() < end) { await one(); done++; } }));
process.stdout.write(JSON.stringify({ rps: done / ((performance.now() - t0) / 1000), errors }));
`;

function runLoad(tool, url) {
  if (tool === 'wrk') {
    // Two client threads (the machine's cores), 16 connections, keep-alive: the same for both servers.
    const r = spawnSync('wrk', ['-t', '2', '-c', String(CONCURRENCY), '-d', `${BLOB_SECONDS}s`, url], { encoding: 'utf8' });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
    const bad = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
    const sockErr = /Socket errors: (.*)/.exec(r.stdout);
    if (r.status !== 0 || !Number.isFinite(rps)) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
    if (bad) throw new Error(`${bad[1]} non-2xx answers from ${url}`);
    if (sockErr && /(connect|read|write) [1-9]/.test(sockErr[1])) log(`wrk socket errors against ${url}: ${sockErr[1]}`);
    return rps;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', NODE_CLIENT, url, String(BLOB_SECONDS), String(CONCURRENCY)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node client failed: ${r.stderr}`);
  const { rps, errors } = JSON.parse(r.stdout);
  if (errors) throw new Error(`${errors} failed requests against ${url}`);
  return rps;
}

/** Pushes one blob (POST, then PUT with the body and digest: both registries take that) and reads it back. */
async function putBlob(address, repo, bytes) {
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  const post = await fetch(`http://${address}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST upload on ${address}: ${post.status} ${await post.text()}`);
  const put = new URL(post.headers.get('location'), `http://${address}`);
  put.searchParams.set('digest', digest);
  const r = await fetch(put, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  if (r.status !== 201) throw new Error(`PUT upload on ${address}: ${r.status} ${await r.text()}`);
  const url = `http://${address}/v2/${repo}/blobs/${digest}`;
  const back = Buffer.from(await (await fetch(url)).arrayBuffer());
  if (!back.equals(bytes)) throw new Error(`${url} did not give back the bytes pushed`);
  return url;
}

const fmtSize = (n) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : `${n / 1024} KiB`);

async function measureBlobGet() {
  const tool = loadGenerator();
  const workers = WORKERS !== undefined ? ['--workers', String(WORKERS)] : [];
  const servers = [
    { label: 'berth-registry', reg: await startRegistry('berth', { extraArgs: workers }) },
    { label: 'docker-registry', reg: await startRegistry('docker-registry', { descriptorCache: true }) },
  ];
  try {
    // Push every blob first: a keep-alive connection left idle through long rounds may be closed under fetch.
    const blobs = [];
    for (const size of BLOB_SIZES) {
      const bytes = randomBytes(size);
      const urls = [];
      for (const s of servers) urls.push(await putBlob(s.reg.address, 'bench/blob', bytes));
      blobs.push({ size, urls });
    }
    const rows = [];
    for (const { size, urls } of blobs) {
      const rps = servers.map(() => []);
      for (let round = 0; round < BLOB_ROUNDS; round++) {
        // Alternate who goes first, so a burst of load from elsewhere on the machine hits both alike.
        const order = round % 2 ? [1, 0] : [0, 1];
        for (const i of order) rps[i].push(runLoad(tool, urls[i]));
        log(`blob GET ${fmtSize(size)} round ${round + 1}: ${servers.map((s, i) => `${s.label} ${rps[i].at(-1).toFixed(0)}/s`).join(', ')}`);
      }
      const med = rps.map(median);
      rows.push({
        size, client: tool, concurrency: CONCURRENCY, seconds: BLOB_SECONDS, rounds: BLOB_ROUNDS,
        berth: { rps: med[0], mibps: med[0] * size / (1 << 20), runs: rps[0] },
        reference: { rps: med[1], mibps: med[1] * size / (1 << 20), runs: rps[1] },
        ratio: med[0] / med[1],
      });
    }
    return rows;
  } finally {
    for (const s of servers) await s.reg.stop();
  }
}

async function main() {
  const out = {};
  if (SECTIONS.includes('pushpull')) {
    log(`building a ${2 * LAYER_MB} MB image in two layers`);
    const archive = makeArchive();
    const berthd = await startBerthd();
    const rows = [];
    rows.push(await measure('berthd ⇄ berth registry', berthd, 'berth', archive));
    rows.push(await measure('berthd ⇄ docker-registry', berthd, 'docker-registry', archive));
    if (process.env.REFERENCE_DOCKER_HOST) rows.push(await measure('dockerd ⇄ docker-registry', process.env.REFERENCE_DOCKER_HOST, 'docker-registry', archive));
    out.pushpull = rows;
    if (!JSON_OUT) {
      const w = Math.max(...rows.map((r) => r.label.length));
      process.stdout.write(`${'pair'.padEnd(w)}  push median ms  pull median ms   (${ROUNDS} rounds, 2 x ${LAYER_MB} MB)\n`);
      for (const r of rows) process.stdout.write(`${r.label.padEnd(w)}  ${r.push.toFixed(0).padStart(14)}  ${r.pull.toFixed(0).padStart(14)}\n`);
    }
  }
  if (SECTIONS.includes('blob-get')) {
    const rows = await measureBlobGet();
    out.blobGet = rows;
    if (!JSON_OUT) {
      const c = rows[0];
      process.stdout.write(`\nblob GET, ${CONCURRENCY} concurrent clients (${c.client}, keep-alive; median of ${c.rounds} x ${c.seconds} s, alternating)\n`);
      process.stdout.write(`${'blob size'.padEnd(10)}  ${'berth-registry'.padStart(22)}  ${'docker-registry'.padStart(22)}  berth/reference  target\n`);
      for (const r of rows) {
        const cell = (x) => `${x.rps.toFixed(0)}/s ${x.mibps.toFixed(0)} MiB/s`.padStart(22);
        process.stdout.write(`${fmtSize(r.size).padEnd(10)}  ${cell(r.berth)}  ${cell(r.reference)}  ${(`${r.ratio.toFixed(2)}x`).padStart(15)}  >= 1.00x ${r.ratio >= 1 ? 'met' : 'NOT met'}\n`);
      }
    }
  }
  if (JSON_OUT) process.stdout.write(JSON.stringify(SECTIONS.length === 1 && SECTIONS[0] === 'pushpull' ? out.pushpull : out, null, 2) + '\n');
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
