#!/usr/bin/env node
// Benchmark: `up -d --wait` and `down` of a 10-service project, berth compose beside Debian's docker-compose 1.29
// against the same daemon; prints the medians of the wall-clock times and of the clients' own CPU time (user +
// system: what the machine's load does not change much). Uses $DOCKER_HOST when set (the daemon must have busybox:latest),
// else starts a private berthd with the test harness (run as root, after a build: BERTH_DIST selects the output
// directory, default dist). Usage: node scripts/bench-compose.mjs [rounds=5]
// docker-compose 1.29 has no --wait: it runs `up -d`, which returns once the containers are started.
// The services use network_mode: bridge (the engine's default network), the same project for both clients; with
// compose's default project network instead, both also create and remove that network (berth is then ~1.5-1.7x).
// The services exit on SIGTERM (busybox sh as PID 1 ignores it otherwise and each stop would wait for -t).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = process.env.BERTH_DIST || 'dist';
const rounds = Number(process.argv[2] ?? 5);

let daemon;
let host = process.env.DOCKER_HOST;
if (!host) {
  const h = await import(new URL(`../${dist}/test/integration/helpers/berthd.js`, import.meta.url).href);
  daemon = await h.startBerthd();
  h.importBusybox(daemon);
  host = daemon.host;
}

const parent = mkdtempSync(join(tmpdir(), 'berth-bench-'));
const dir = join(parent, 'bench10');
mkdirSync(dir);
const services = Array.from({ length: 10 }, (_, i) => `  s${i}:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`).join('');
writeFileSync(join(dir, 'docker-compose.yml'), `services:\n${services}`);

// berth compose keeps parsed files and schema verdicts in a load cache (src/compose/load-cache.ts): here in the
// bench's own directory, warmed by the untimed first round as Python's bytecode cache is for docker-compose.
const env = { ...process.env, DOCKER_HOST: host, BERTH_DIST: dist, NO_COLOR: '1', XDG_CACHE_HOME: join(parent, 'cache') };
/** CPU seconds of the children this process has waited for (/proc/self/stat cutime + cstime, 100 Hz ticks). */
const childCpu = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
};
const time = (cmd, args) => {
  const c = childCpu();
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: dir, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, cpu: (childCpu() - c) * 1000 };
};
const berth = (args) => time(process.execPath, [join(root, 'bin', 'berth'), 'compose', ...args]);
const v1 = (args) => time('docker-compose', args);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const results = { berthUp: [], berthDown: [], v1Up: [], v1Down: [] };
try {
  berth(['up', '-d', '--wait']); berth(['down', '-t', '1']);   // warm-up, untimed
  v1(['up', '-d']); v1(['down', '-t', '1']);
  for (let i = 0; i < rounds; i++) {
    // alternate who goes first, so a change in the machine's load does not always favour the same one
    const pair = [
      () => { results.berthUp.push(berth(['up', '-d', '--wait'])); results.berthDown.push(berth(['down', '-t', '1'])); },
      () => { results.v1Up.push(v1(['up', '-d'])); results.v1Down.push(v1(['down', '-t', '1'])); },
    ];
    if (i % 2) pair.reverse();
    pair.forEach((run) => run());
  }
} finally {
  spawnSync(process.execPath, [join(root, 'bin', 'berth'), 'compose', 'down', '-t', '1'], { cwd: dir, env });
  rmSync(parent, { recursive: true, force: true });
  await daemon?.cleanup();
}
const med = (xs, k) => median(xs.map((x) => x[k]));
const row = (name, b, v, k, unit) => `${name.padEnd(24)} ${med(b, k).toFixed(0).padStart(8)} ${unit} ${med(v, k).toFixed(0).padStart(10)} ${unit} ${(med(v, k) / med(b, k)).toFixed(2).padStart(8)}x`;
console.log(`10 services, ${rounds} rounds, medians (daemon ${host})`);
console.log(`${''.padEnd(24)} ${'berth'.padStart(11)} ${'compose 1.29'.padStart(13)} ${'speedup'.padStart(9)}`);
console.log(row('up -d (--wait berth)', results.berthUp, results.v1Up, 'ms', 'ms'));
console.log(row('down', results.berthDown, results.v1Down, 'ms', 'ms'));
console.log(row('up: client CPU', results.berthUp, results.v1Up, 'cpu', 'ms'));
console.log(row('down: client CPU', results.berthDown, results.v1Down, 'cpu', 'ms'));
if (process.env.NODE_EXTRA_CA_CERTS) {
  // Node 20 parses that bundle (and its own root certificates) when it starts, before any script runs
  const boot = (e) => { const c = childCpu(); spawnSync(process.execPath, ['-e', '0'], { env: e }); return (childCpu() - c) * 1000; };
  const noCa = { ...env }; delete noCa.NODE_EXTRA_CA_CERTS;
  const w = median(Array.from({ length: 5 }, () => boot(env))); const wo = median(Array.from({ length: 5 }, () => boot(noCa)));
  console.log(`note: NODE_EXTRA_CA_CERTS is set: node's own start-up costs ${w.toFixed(0)} ms CPU with it, ${wo.toFixed(0)} ms without; every berth run above paid it (unset it to measure berth as on a machine without it)`);
}
