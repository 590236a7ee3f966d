#!/usr/bin/env node
/**
 * Push-then-pull benchmark of a 100 MB image in two layers (2 x 50 MB of random bytes, as in
 * shared/tools/engine-bench.sh) through the real docker CLI:
 *   berthd ⇄ berth registry, berthd ⇄ docker-registry, and (when REFERENCE_DOCKER_HOST names a
 *   running reference dockerd) dockerd ⇄ docker-registry.
 * Every round starts an empty registry (fresh storage), times `docker push`, removes the image,
 * times `docker pull`. Prints medians (ms) as a table; `--json` prints them as JSON.
 *
 *   node scripts/bench-distribution.mjs [--rounds 5] [--layer-mb 50] [--json]
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
async function startRegistry(kind) {
  const dir = mkdtempSync(join(work, `${kind}-`));
  const port = await freePort();
  let p;
  if (kind === 'berth') {
    p = spawn(process.execPath, [join(root, 'bin', 'berth-registry'), 'serve', '--listen', `127.0.0.1:${port}`, '--storage', join(dir, 'data')], {
      env: { ...process.env, BERTH_DIST: DIST }, stdio: ['ignore', 'ignore', 'inherit'],
    });
  } else {
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage:\n  filesystem: { rootdirectory: ${join(dir, 'data')} }\nhttp:\n  addr: 127.0.0.1:${port}\n`);
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

async function main() {
  log(`building a ${2 * LAYER_MB} MB image in two layers`);
  const archive = makeArchive();
  const berthd = await startBerthd();
  const rows = [];
  rows.push(await measure('berthd ⇄ berth registry', berthd, 'berth', archive));
  rows.push(await measure('berthd ⇄ docker-registry', berthd, 'docker-registry', archive));
  if (process.env.REFERENCE_DOCKER_HOST) rows.push(await measure('dockerd ⇄ docker-registry', process.env.REFERENCE_DOCKER_HOST, 'docker-registry', archive));
  if (JSON_OUT) { process.stdout.write(JSON.stringify(rows, null, 2) + '\n'); return; }
  const w = Math.max(...rows.map((r) => r.label.length));
  process.stdout.write(`${'pair'.padEnd(w)}  push median ms  pull median ms   (${ROUNDS} rounds, 2 x ${LAYER_MB} MB)\n`);
  for (const r of rows) process.stdout.write(`${r.label.padEnd(w)}  ${r.push.toFixed(0).padStart(14)}  ${r.pull.toFixed(0).padStart(14)}\n`);
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
