#!/usr/bin/env node
// Benchmark: `up -d --wait` and `down` of a 10-service project, berth compose beside Debian's docker-compose 1.29
// against the same daemon; prints the medians. Uses $DOCKER_HOST when set (the daemon must have busybox:latest),
// else starts a private berthd with the test harness (run as root, after a build: BERTH_DIST selects the output
// directory, default dist). Usage: node scripts/bench-compose.mjs [rounds=5]
// docker-compose 1.29 has no --wait: it runs `up -d`, which returns once the containers are started.
// The services use network_mode: bridge, because docker-compose 1.29 cannot yet attach containers to a user
// network on berthd (see the compose report).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
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
const time = (cmd, args) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: dir, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
};
const berth = (args) => time(process.execPath, [join(root, 'bin', 'berth'), 'compose', ...args]);
const v1 = (args) => time('docker-compose', args);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const results = { berthUp: [], berthDown: [], v1Up: [], v1Down: [] };
try {
  berth(['up', '-d', '--wait']); berth(['down', '-t', '1']);   // warm-up, untimed
  v1(['up', '-d']); v1(['down', '-t', '1']);
  for (let i = 0; i < rounds; i++) {
    results.berthUp.push(berth(['up', '-d', '--wait']));
    results.berthDown.push(berth(['down', '-t', '1']));
    results.v1Up.push(v1(['up', '-d']));
    results.v1Down.push(v1(['down', '-t', '1']));
  }
} finally {
  spawnSync(process.execPath, [join(root, 'bin', 'berth'), 'compose', 'down', '-t', '1'], { cwd: dir, env });
  rmSync(parent, { recursive: true, force: true });
  await daemon?.cleanup();
}
const row = (name, b, v) => `${name.padEnd(22)} ${b.toFixed(0).padStart(8)} ms ${v.toFixed(0).padStart(10)} ms ${(v / b).toFixed(2).padStart(8)}x`;
console.log(`10 services, ${rounds} rounds, medians (daemon ${host})`);
console.log(`${''.padEnd(22)} ${'berth'.padStart(11)} ${'compose 1.29'.padStart(13)} ${'speedup'.padStart(9)}`);
console.log(row('up -d (--wait berth)', median(results.berthUp), median(results.v1Up)));
console.log(row('down', median(results.berthDown), median(results.v1Down)));
