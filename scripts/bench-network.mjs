#!/usr/bin/env node
/**
 * Networking benchmark (issue 4), through the real docker CLI:
 *   1. throughput: a busybox httpd in a container serves a file of zeros (--mb, 200 MB); a Node client on
 *      the host downloads it through the published port 127.0.0.1:PORT and straight from the container's
 *      address (from docker inspect), interleaved, median of --rounds each: MB/s and published/direct;
 *   2. connection rate: fresh-connection HTTP GETs of a small file from the same httpd, --conns sequential
 *      and --conns × 4 with --concurrency in flight, through the published port and direct: connections/s;
 *   3. network cost at start: `docker run --rm busybox true` on the default bridge and with
 *      `--network none`, interleaved after a warm-up, median of --starts each; the difference is what a
 *      container's network adds.
 * berthd is started on its own data root, exec root, socket, cgroup parent and bridge (brtbnet, a free
 * 10.197.x.1/24); with REFERENCE_DOCKER_HOST (e.g. unix:///run/reference-docker.sock, a dockerd from
 * shared/tools/start-reference-dockerd.sh) the same figures are measured on it and shown beside.
 * Traffic goes only to 127.0.0.1 and to container addresses on the daemons' own bridges.
 *
 *   node scripts/bench-network.mjs [--rounds 5] [--mb 200] [--conns 300] [--concurrency 16] [--starts 21]
 *                                  [--sections throughput,connections,start] [--json]
 *   BERTH_DIST=dist-x          run berthd from dist-x/ instead of dist/
 *   BERTHD_LOG=/path/file      keep berthd's log there; BERTHD_ARGS="--log-level debug" adds daemon flags
 * Needs root, the docker CLI and busybox-static. Everything it starts it stops by pid; the reference
 * engine keeps running (only the bench's image tag and container are removed from it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.SHARED || join(root, '..', 'shared');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const ROUNDS = opt('--rounds', 5);
const MB = opt('--mb', 200);
const CONNS = opt('--conns', 300);
const CONCURRENCY = opt('--concurrency', 16);
const STARTS = opt('--starts', 21);
const JSON_OUT = args.includes('--json');
const si = args.indexOf('--sections');
const SECTIONS = new Set((si >= 0 ? args[si + 1] : 'throughput,connections,start').split(','));
const DIST = process.env.BERTH_DIST || 'dist';
const IMAGE = 'berth-bench-net/busybox:latest';
const TARGET_RATIO = 0.8;
const TARGET_START_MS = 25;

const work = mkdtempSync(join(tmpdir(), 'berth-bench-net-'));
const cleanups = [];
const log = (m) => process.stderr.write(`[bench-network] ${m}\n`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitUntil(fn, what, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch (e) { if (e.fatal) throw e; /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function docker(host, argv) {
  return spawnSync('docker', argv, {
    env: { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(work, 'docker-config') }, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000,
  });
}

function mustDocker(host, argv) {
  const r = docker(host, argv);
  if (r.status !== 0) throw new Error(`docker ${argv.join(' ')} failed: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

function stopProc(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, 15_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

/** A /24 in 10.197.0.0/16 that no route on the host uses (tests use 10.100-189, 10.215-220, 10.226-254). */
function freeBip() {
  const routes = spawnSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout ?? '';
  for (const o of [77, ...Array.from({ length: 40 }, (_, i) => 20 + i)]) if (!routes.includes(`10.197.${o}.`)) return `10.197.${o}.1/24`;
  throw new Error('no free 10.197.x.0/24 for the bench bridge');
}

/** Removes iptables chains BERTH-<tag>-… (a daemon keeps them when it stops with containers left). */
function removeChains(tag) {
  for (const table of ['filter', 'nat']) {
    const dump = spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' }).stdout ?? '';
    const prefix = `BERTH-${tag}-`;
    const chains = dump.split('\n').filter((l) => l.startsWith(`:${prefix}`)).map((l) => l.slice(1).split(' ')[0]);
    if (!chains.length) continue;
    for (const line of dump.split('\n')) {
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (m && !m[1].startsWith(prefix) && chains.some((c) => m[2].includes(`-j ${c}`))) spawnSync('iptables', ['-t', table, '-D', m[1], ...m[2].split(' ')]);
    }
    for (const c of chains) spawnSync('iptables', ['-t', table, '-F', c]);
    for (const c of chains) spawnSync('iptables', ['-t', table, '-X', c]);
  }
}

async function startBerthd() {
  const dir = join(work, 'berthd');
  const socket = join(dir, 'd.sock');
  const execRoot = join(dir, 'exec');
  const bridge = 'brtbnet';
  const cgroupParent = `/berth-bench-net-${randomBytes(3).toString('hex')}`;
  if (existsSync(`/sys/class/net/${bridge}`)) throw new Error(`bridge ${bridge} exists: is another bench-network running?`);
  const bip = freeBip();
  const logPath = join(work, 'berthd.log');
  const out = openSync(logPath, 'w');
  const extra = (process.env.BERTHD_ARGS ?? '').split(/\s+/).filter(Boolean);
  const p = spawn(process.execPath, [join(root, 'bin', 'berthd'), '--data-root', join(dir, 'data'), '--exec-root', execRoot, '-H', `unix://${socket}`,
    '--cgroup-parent', cgroupParent, '--bridge', bridge, '--bip', bip, '--default-address-pool', `base=10.197.128.0/17,size=24`, ...extra], {
    env: { ...process.env, BERTH_DIST: DIST }, stdio: ['ignore', out, out],
  });
  closeSync(out);
  const host = `unix://${socket}`;
  cleanups.push(async () => {
    await stopProc(p);
    if (process.env.BERTHD_LOG) copyFileSync(logPath, process.env.BERTHD_LOG);
    const tag = createHash('sha256').update(execRoot).digest('hex').slice(0, 6);
    for (const ns of (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0])) {
      if (ns.startsWith(`berth-${tag}-`)) spawnSync('ip', ['netns', 'del', ns]);
    }
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir)).sort().reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    if (existsSync(`/sys/class/net/${bridge}`)) spawnSync('ip', ['link', 'del', bridge]);
    removeChains(tag.toUpperCase());
    for (const c of ['memory', 'pids', 'cpu,cpuacct', 'cpuset', 'blkio', 'devices', 'freezer', 'net_cls,net_prio', 'perf_event', 'hugetlb', 'systemd', 'unified', 'cpu', 'cpuacct', 'net_cls', 'net_prio', 'rdma', 'misc']) {
      const cg = join('/sys/fs/cgroup', c, cgroupParent);
      if (existsSync(cg)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
  });
  await waitUntil(() => {
    if (p.exitCode !== null) throw Object.assign(new Error(`berthd exited: ${readFileSync(logPath, 'utf8').slice(-2000)}`), { fatal: true });
    return docker(host, ['version', '--format', '{{.Server.Version}}']).status === 0;
  }, 'berthd');
  log(`berthd up (${DIST}, bridge ${bridge} ${bip})`);
  return host;
}

let busyboxTar;
function ensureImage(host) {
  if (docker(host, ['image', 'inspect', IMAGE]).status === 0) return;
  if (!busyboxTar) {
    busyboxTar = join(work, 'busybox.tar');
    const r = spawnSync('bash', [join(shared, 'tools', 'make-busybox-rootfs.sh'), busyboxTar], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make-busybox-rootfs failed: ${r.stderr}`);
  }
  mustDocker(host, ['import', '-c', 'CMD ["sh"]', busyboxTar, IMAGE]);
}

/**
 * One GET over a fresh connection; resolves with the body's byte count (headers excluded). Reads into
 * one reused 1 MiB buffer (onread), so the client copies and allocates nothing per chunk.
 */
const readBuffer = Buffer.alloc(1 << 20);
function get(host, port, path) {
  return new Promise((resolve, reject) => {
    let head = '';
    let body = -1;
    const sock = net.connect({
      host, port, noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (n, buf) => {
          if (body >= 0) { body += n; return; }
          head += buf.toString('latin1', 0, n);
          const i = head.indexOf('\r\n\r\n');
          if (i < 0) return;
          if (!/^HTTP\/1\.[01] 200/.test(head)) { sock.destroy(); reject(new Error(`GET ${path}: ${head.slice(0, 40)}`)); return; }
          body = head.length - i - 4;
        },
      },
    });
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nHost: bench\r\n\r\n`));
    sock.on('end', () => resolve(Math.max(body, 0)));
    sock.on('error', reject);
  });
}

async function download(host, port) {
  const t0 = performance.now();
  const bytes = await get(host, port, '/big');
  const s = (performance.now() - t0) / 1000;
  if (bytes !== MB << 20) throw new Error(`short download from ${host}:${port}: ${bytes} bytes`);
  return bytes / 1e6 / s;
}

async function connRate(host, port, total, inFlight) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) { next++; await get(host, port, '/small'); }
  }));
  return total / ((performance.now() - t0) / 1000);
}

async function measure(label, host) {
  log(`${label}: ${host}`);
  ensureImage(host);
  try { return await measureWith(label, host); } finally { docker(host, ['rmi', IMAGE]); }
}

async function measureWith(label, host) {
  const name = `bench-net-${randomBytes(4).toString('hex')}`;
  const hostPort = await freePort();
  const result = { label };
  if (SECTIONS.has('throughput') || SECTIONS.has('connections')) try {
    // The file lives in the container's /tmp (its writable layer; page-cached after it is written).
    mustDocker(host, ['run', '-d', '--name', name, '-p', `127.0.0.1:${hostPort}:80`, IMAGE, 'sh', '-c',
      `mkdir /tmp/www && echo small >/tmp/www/small && dd if=/dev/zero of=/tmp/www/big bs=1M count=${MB} 2>/dev/null && exec httpd -f -p 80 -h /tmp/www`]);
    const ip = mustDocker(host, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]).split(/\s+/)[0];
    if (!ip) throw new Error(`container ${name} has no address`);
    await waitUntil(async () => (await get('127.0.0.1', hostPort, '/small')) > 0 && (await get(ip, 80, '/small')) > 0, `httpd in ${name}`);
    const paths = { published: ['127.0.0.1', hostPort], direct: [ip, 80] };

    // 1. Throughput, interleaved so that load from other work on the machine hits both paths alike.
    if (SECTIONS.has('throughput')) {
      for (const [h, p] of Object.values(paths)) await download(h, p); // warm-up
      const tput = { published: [], direct: [] };
      for (let i = 0; i < ROUNDS; i++) {
        for (const k of i % 2 ? ['direct', 'published'] : ['published', 'direct']) tput[k].push(await download(...paths[k]));
        log(`${label} throughput round ${i + 1}: published ${tput.published.at(-1).toFixed(0)} MB/s, direct ${tput.direct.at(-1).toFixed(0)} MB/s`);
      }
      result.throughput = { publishedMBs: median(tput.published), directMBs: median(tput.direct), samples: tput };
      result.throughput.ratio = result.throughput.publishedMBs / result.throughput.directMBs;
      // Best of each path: what the path can carry when other work on the machine lets it.
      result.throughput.bestRatio = Math.max(...tput.published) / Math.max(...tput.direct);
    }

    // 2. Connection rate: sequential and CONCURRENCY in flight, the paths interleaved as above;
    //    median of max(3, ROUNDS) runs each.
    const rate = {};
    if (SECTIONS.has('connections')) {
      const runs = { published: { sequential: [], concurrent: [] }, direct: { sequential: [], concurrent: [] } };
      for (const [h, p] of Object.values(paths)) await connRate(h, p, 50, 1); // warm-up
      for (let i = 0; i < Math.max(3, ROUNDS); i++) {
        for (const k of i % 2 ? ['direct', 'published'] : ['published', 'direct']) {
          runs[k].sequential.push(await connRate(...paths[k], CONNS, 1));
          runs[k].concurrent.push(await connRate(...paths[k], CONNS * 4, CONCURRENCY));
        }
      }
      for (const k of ['published', 'direct']) {
        rate[k] = { sequential: median(runs[k].sequential), concurrent: median(runs[k].concurrent), samples: runs[k] };
        log(`${label} connections/s ${k}: sequential ${rate[k].sequential.toFixed(0)}, ${CONCURRENCY} in flight ${rate[k].concurrent.toFixed(0)}`);
      }
    }
    if (SECTIONS.has('connections')) result.connections = rate;
  } finally {
    docker(host, ['rm', '-f', name]);
  }

  // 3. What a container's network adds to `docker run --rm`.
  if (!SECTIONS.has('start')) return result;
  const run = (netArgs) => {
    const t0 = process.hrtime.bigint();
    mustDocker(host, ['run', '--rm', ...netArgs, IMAGE, 'true']);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (let i = 0; i < 3; i++) { run([]); run(['--network', 'none']); }
  const bridge = []; const none = [];
  for (let i = 0; i < STARTS; i++) {
    if (i % 2) { none.push(run(['--network', 'none'])); bridge.push(run([])); } else { bridge.push(run([])); none.push(run(['--network', 'none'])); }
  }
  result.start = {
    bridgeMs: median(bridge), noneMs: median(none), addedMs: median(bridge) - median(none),
    pairedAddedMs: median(bridge.map((b, i) => b - none[i])), samples: { bridge, none },
  };
  log(`${label} docker run --rm: bridge ${result.start.bridgeMs.toFixed(1)} ms, none ${result.start.noneMs.toFixed(1)} ms`);
  return result;
}

function table(rows, targets) {
  const f0 = (x) => (x === undefined ? '—' : x.toFixed(0));
  const f1 = (x) => (x === undefined ? '—' : x.toFixed(1));
  const f2 = (x) => (x === undefined ? '—' : x.toFixed(2));
  const lines = [
    ['throughput via 127.0.0.1:published (MB/s)', (r) => f0(r.throughput?.publishedMBs)],
    ['throughput direct to container (MB/s)', (r) => f0(r.throughput?.directMBs)],
    ['published / direct', (r) => f2(r.throughput?.ratio)],
    ['  (best published / best direct)', (r) => f2(r.throughput?.bestRatio)],
    ['connections/s published, sequential', (r) => f0(r.connections?.published.sequential)],
    ['connections/s direct, sequential', (r) => f0(r.connections?.direct.sequential)],
    [`connections/s published, ${CONCURRENCY} in flight`, (r) => f0(r.connections?.published.concurrent)],
    [`connections/s direct, ${CONCURRENCY} in flight`, (r) => f0(r.connections?.direct.concurrent)],
    ['docker run --rm, default bridge (ms)', (r) => f1(r.start?.bridgeMs)],
    ['docker run --rm, --network none (ms)', (r) => f1(r.start?.noneMs)],
    ['network cost at start (ms): bridge − none', (r) => f1(r.start?.addedMs)],
    ['  (median of the paired differences)', (r) => f1(r.start?.pairedAddedMs)],
  ];
  const out = [`| (medians; ${ROUNDS} × ${MB} MB downloads, ${CONNS} sequential / ${CONNS * 4} concurrent GETs, ${STARTS} starts) | ${rows.map((r) => r.label).join(' | ')} |`,
    `|---|${rows.map(() => '---:').join('|')}|`];
  for (const [name, fn] of lines) out.push(`| ${name} | ${rows.map(fn).join(' | ')} |`);
  const b = rows[0];
  const verdict = (t) => (t === undefined ? 'not measured' : t.met ? 'met' : 'NOT met');
  out.push('', 'Targets (berthd):',
    `- published/direct throughput ${f2(b.throughput?.ratio)} ≥ ${TARGET_RATIO}: ${verdict(targets.publishedOverDirect)}`,
    `- network cost at start ${f1(b.start?.addedMs)} ms ≤ ${TARGET_START_MS} ms: ${verdict(targets.networkStartCostMs)}`);
  return out.join('\n');
}

let failed = false;
try {
  const rows = [];
  rows.push(await measure('berthd', await startBerthd()));
  if (process.env.REFERENCE_DOCKER_HOST) rows.push(await measure('reference dockerd', process.env.REFERENCE_DOCKER_HOST));
  const b = rows[0];
  const targets = {
    publishedOverDirect: b.throughput && { value: b.throughput.ratio, target: TARGET_RATIO, met: b.throughput.ratio >= TARGET_RATIO },
    networkStartCostMs: b.start && { value: b.start.addedMs, target: TARGET_START_MS, met: b.start.addedMs <= TARGET_START_MS },
  };
  if (JSON_OUT) process.stdout.write(JSON.stringify({ rounds: ROUNDS, mb: MB, conns: CONNS, concurrency: CONCURRENCY, starts: STARTS, engines: rows, targets }, null, 2) + '\n');
  else process.stdout.write(table(rows, targets) + '\n');
} catch (e) {
  failed = true;
  log(`failed: ${e.stack ?? e}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${e}`));
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
