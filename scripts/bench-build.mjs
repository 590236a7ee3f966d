#!/usr/bin/env node
// Classic-builder benchmark, as section (d) of ../shared/tools/engine-bench.sh: FROM busybox, 3x RUN,
// COPY of a 50 MB file, ENV/WORKDIR/CMD; cold (--no-cache) and fully cached, median of RUNS (5).
// Runs against a private berthd and, when it answers, the reference engine (REFERENCE_DOCKER_HOST,
// default unix:///run/reference-docker.sock) in the same run, build by build in turn (SETTLE_MS, default 500, between
// builds), and prints both and their ratio.
//   BERTH_DIST=dist-x node scripts/bench-build.mjs      (needs root and a built tree)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = process.env.BERTH_DIST || 'dist';
const { startBerthd, importBusybox, busyboxRootfs } = await import(join(root, dist, 'test/integration/helpers/berthd.js'));
const RUNS = Number(process.env.RUNS || 5);
/** A pause after each build, so what an engine still does after its CLI returned (dockerd removes the build's temp dirs) does not land on the next measured build. */
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 500);
const settle = new Int32Array(new SharedArrayBuffer(4));
const MB = Number(process.env.BUILD_FILE_MB || 50);
const refHost = process.env.REFERENCE_DOCKER_HOST ?? 'unix:///run/reference-docker.sock';
const prefix = `benchbuild${process.pid}`;

const ctx = mkdtempSync(join(tmpdir(), 'berth-bench-build-'));
const fd = openSync(join(ctx, 'big.bin'), 'w');
for (let i = 0; i < MB; i++) writeSync(fd, randomBytes(1 << 20));
closeSync(fd);

function dockerfile(image) {
  return `FROM ${image}
RUN echo hello > /hello.txt && mkdir -p /app/data
RUN for i in $(seq 1 1000); do echo "line $i"; done > /app/data/lines.txt && wc -l /app/data/lines.txt
RUN echo "app:x:1000:1000::/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group && id app
COPY big.bin /app/big.bin
ENV APP_MODE=bench APP_HOME=/app
WORKDIR /app
CMD ["sh", "-c", "ls -la /app"]
`;
}

/** CPU time (ms, user + system) of a process (all its threads) or of one thread, from /proc. */
const cpuMs = (pid, tid) => {
  try {
    const f = readFileSync(tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 1000 / 100;   // clock ticks (USER_HZ 100)
  } catch { return NaN; }
};

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** One engine: its docker env, the image to build FROM and the tag; built holds every final image ID. */
function engine(name, host, image, tag) {
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0' };
  const built = new Set();
  const dir = mkdtempSync(join(ctx, 'ctx-'));
  // the same context for both engines, each with its own Dockerfile (FROM differs)
  spawnSync('ln', [join(ctx, 'big.bin'), join(dir, 'big.bin')]);
  writeFileSync(join(dir, 'Dockerfile'), dockerfile(image));
  const run = (args) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('docker', ['build', '--force-rm', ...args, '-t', tag, dir], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`docker build failed on ${host}: ${r.stderr || r.stdout}`);
    const id = spawnSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { env, encoding: 'utf8' }).stdout.trim();
    if (id) built.add(id);
    if (SETTLE_MS > 0) Atomics.wait(settle, 0, 0, SETTLE_MS);
    return { ms, hits: (r.stdout.match(/ ---> Using cache/g) ?? []).length };
  };
  return { name, env, built, run, cold: [], cached: [], hits: [], cpu: [] };
}

/**
 * The engines take turns, build by build (cold: all engines, RUNS times; then cached the same way),
 * so a change in the machine's load (2 shared cores) hits both alike and the ratio stays fair.
 */
function measure(engines) {
  for (let i = 0; i < RUNS; i++) for (const e of engines) e.cold.push(e.run(['--no-cache']).ms);
  for (let i = 0; i < RUNS; i++) {
    for (const e of engines) {
      const c0 = e.pid ? [cpuMs(e.pid), cpuMs(e.pid, e.pid)] : undefined;
      const r = e.run([]);
      if (c0) e.cpu.push([cpuMs(e.pid) - c0[0], cpuMs(e.pid, e.pid) - c0[1]]);
      e.cached.push(r.ms); e.hits.push(r.hits);
    }
  }
  for (const e of engines) {
    results[e.name] = { cold: median(e.cold), cached: median(e.cached), coldAll: e.cold, cachedAll: e.cached, hits: e.hits };
    if (e.cpu.length) results[e.name].cpu = [median(e.cpu.map((c) => c[0])), median(e.cpu.map((c) => c[1]))];
  }
}

const results = {};
const d = await startBerthd();
const refEnv = { ...process.env, DOCKER_HOST: refHost };
const refImage = `${prefix}-busybox:latest`;
let ref;
try {
  importBusybox(d);
  const engines = [engine('berthd', d.host, 'busybox', `${prefix}:latest`)];
  engines[0].pid = d.proc.pid;   // its CPU per cached build (the machine is shared: wall times are noisy)
  const refUp = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env: refEnv, encoding: 'utf8', timeout: 10_000 });
  if (refUp.status === 0) {
    const imp = spawnSync('docker', ['import', '-c', 'CMD ["sh"]', busyboxRootfs(), refImage], { env: refEnv, encoding: 'utf8' });
    if (imp.status !== 0) throw new Error(`import on the reference failed: ${imp.stderr}`);
    ref = engine(`reference (dockerd ${refUp.stdout.trim()})`, refHost, refImage, `${prefix}:latest`);
    engines.push(ref);
  } else {
    console.log(`reference engine at ${refHost} not answering; berthd only`);
  }
  measure(engines);
} finally {
  await d.cleanup();
  // removing each final image also removes its untagged intermediate parents
  if (ref) spawnSync('docker', ['rmi', '-f', `${prefix}:latest`, ...ref.built, refImage], { env: refEnv });
  rmSync(ctx, { recursive: true, force: true });
}

console.log(`classic build, ${MB} MB COPY, median of ${RUNS} (ms)`);
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(32)} cold ${r.cold.toFixed(0).padStart(6)}   cached ${r.cached.toFixed(0).padStart(6)}   (cold ${r.coldAll.map((x) => x.toFixed(0)).join(' ')}; cached ${r.cachedAll.map((x) => x.toFixed(0)).join(' ')}; cache hits ${r.hits.join(' ')})`);
  if (r.cpu) console.log(`${''.padEnd(32)} CPU per cached build (median, in the settle pause too): ${r.cpu[0].toFixed(0)} ms, main thread ${r.cpu[1].toFixed(0)} ms`);
}
const names = Object.keys(results);
if (names.length === 2) {
  const [b, ref] = [results[names[0]], results[names[1]]];
  console.log(`ratio berthd/reference: cold ${(b.cold / ref.cold).toFixed(2)} (target <= 0.8), cached ${(b.cached / ref.cached).toFixed(2)} (target <= 0.4)`);
}
