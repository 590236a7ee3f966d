/**
 * The network service against the real kernel: bridges, namespaces, veths, iptables, embedded DNS
 * and published ports. Namespaces stand in for containers (busybox runs inside them through
 * `ip netns exec`); all addresses live on bridges this test creates, all traffic stays on them
 * and on loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { openDatabase, type Db } from '../../src/store/index.js';
import { NetworkService, ServiceNetworking } from '../../src/network/index.js';

const tag = `t${randomBytes(3).toString('hex')}`;
/** A third octet for this run whose /24s (10.213.<octet+k>, 10.214/217/218.<octet>) no other bridge on the host routes. */
const octet = (() => {
  const routes = execFileSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const o = 20 + (randomBytes(1)[0] % 100);
    const prefixes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50, 60].map((k) => `10.213.${o + k}.`).concat([214, 217, 218].map((b) => `10.${b}.${o}.`));
    if (!prefixes.some((p) => routes.includes(p))) return o;
  }
  throw new Error('no free test subnet');
})();
const subnet = (k: number) => `10.213.${octet + k}.0/24`;
let dir: string;
let db: Db;
let svc: NetworkService;
const procs: ChildProcess[] = [];
/** Per-namespace /etc overrides (`ip netns exec` bind-mounts them): removed at the end. */
const etcDirs: string[] = [];
let upstream: dgram.Socket;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** Runs busybox inside a namespace; resolves with the exit code and output. */
function inNs(ns: string, args: string[], timeoutSec = 5): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'busybox', 'timeout', String(timeoutSec), 'busybox', ...args]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

function background(ns: string, args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', ns, 'busybox', ...args], { stdio: 'ignore' });
  procs.push(p);
  return p;
}

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/index.html', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A "container": sandbox + endpoint on a network, with the resolv.conf the service writes. */
async function container(name: string, network: string, cfg: { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string } } = {}) {
  const id = randomBytes(32).toString('hex');
  const { netnsPath } = await svc.createSandbox(id, 'bridge');
  const ns = netnsPath!.split('/').pop()!;
  const ep = await svc.connect(id, name, network, cfg);
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  etcDirs.push(`/etc/netns/${ns}`);
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, svc.resolvConfFor(id, {}));
  writeFileSync(`/etc/netns/${ns}/hosts`, svc.hostsFileFor(id, { hostname: id.slice(0, 12) }));
  return { id, ns, ep };
}

function newService(database: Db): NetworkService {
  return new NetworkService({
    db: database, execRoot: dir, bridgeName: `brt-${tag}`, bip: `10.213.${octet + 50}.1/24`, instanceId: tag,
    defaultAddressPools: [{ base: `10.214.${octet}.0/24`, size: 28 }],
    upstreamResolvers: [`127.0.0.1:${(upstream.address()).port}`],
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-net-'));
  // A fake "host resolver" on loopback: answers every A query with 10.99.99.99.
  upstream = dgram.createSocket('udp4');
  upstream.on('message', (msg, r) => {
    const q = dnsPacket.decode(msg);
    upstream.send(dnsPacket.encode({
      type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions,
      answers: q.questions![0].type === 'A' ? [{ type: 'A', name: q.questions![0].name, ttl: 5, data: '10.99.99.99' }] : [],
    }), r.port, r.address);
  });
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  db = openDatabase(join(dir, 'berth.db'));
  svc = newService(db);
  await svc.init();
});

after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await svc.cleanupAll();
  for (const d of etcDirs) rmSync(d, { recursive: true, force: true });
  try { rmdirSync('/etc/netns'); } catch { /* not empty: someone else's namespaces use it */ }
  db.close();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
  // Nothing of this instance may remain in the kernel.
  const links = sh('ip', ['-o', 'link']);
  assert.ok(!links.includes(`brt-${tag}`), 'default bridge removed');
  assert.ok(!sh('ip', ['netns', 'list']).includes(svc.netnsPrefix), 'namespaces removed');
  assert.ok(!sh('iptables-save', []).includes(`BERTH-${tag.toUpperCase()}`), 'iptables chains removed');
});

test('predefined networks exist and the default bridge uses the configured name and subnet', () => {
  const names = svc.list().map((n) => n.Name).sort();
  assert.deepEqual(names, ['bridge', 'host', 'none']);
  const b = svc.inspect('bridge');
  assert.equal(b.Driver, 'bridge');
  assert.equal(b.IPAM.Config[0].Subnet, `10.213.${octet + 50}.0/24`);
  assert.equal(b.Options['com.docker.network.bridge.name'], `brt-${tag}`);
  assert.ok(existsSync(`/sys/class/net/brt-${tag}`));
  assert.equal(svc.inspect('host').Driver, 'host');
  assert.equal(svc.inspect('none').Driver, 'null');
});

test('two endpoints on a user network reach each other by name (ping, TCP) through the embedded DNS', async () => {
  const { Id } = await svc.create({ Name: `front-${tag}`, IPAM: { Config: [{ Subnet: subnet(0) }] }, Labels: { t: '1' } });
  const a = await container('alpha', Id);
  const b = await container('beta', Id);
  assert.equal(a.ep.Gateway, `10.213.${octet}.1`);
  assert.match(a.ep.IPAddress, new RegExp(`^10\\.213\\.${octet}\\.\\d+$`));
  assert.notEqual(a.ep.IPAddress, b.ep.IPAddress);
  assert.equal(a.ep.MacAddress.slice(0, 5), '02:42');

  const look = await inNs(a.ns, ['nslookup', 'beta', a.ep.Gateway]);
  assert.equal(look.code, 0, look.out);
  assert.ok(look.out.includes(b.ep.IPAddress), look.out);
  const short = await inNs(a.ns, ['nslookup', b.id.slice(0, 12), a.ep.Gateway]);
  assert.ok(short.out.includes(b.ep.IPAddress), short.out);

  const ping = await inNs(a.ns, ['ping', '-c', '1', '-W', '2', 'beta']);
  assert.equal(ping.code, 0, ping.out);

  mkdirSync(join(dir, 'www'), { recursive: true });
  writeFileSync(join(dir, 'www', 'index.html'), 'hello from beta\n');
  background(b.ns, ['httpd', '-f', '-p', '8080', '-h', join(dir, 'www')]);
  await waitFor('httpd in beta', async () => (await inNs(a.ns, ['wget', '-q', '-O', '-', 'http://beta:8080/index.html'], 3)).out.includes('hello'));

  // Other names go to the host's resolvers (here a loopback fake); inspect lists both endpoints.
  const ext = await inNs(a.ns, ['nslookup', 'example.invalid', a.ep.Gateway]);
  assert.ok(ext.out.includes('10.99.99.99'), ext.out);
  const info = svc.inspect(`front-${tag}`);
  assert.equal(Object.keys(info.Containers).length, 2);
  assert.equal(info.Containers[a.id].Name, 'alpha');
  assert.equal(info.Containers[a.id].IPv4Address, `${a.ep.IPAddress}/24`);
  assert.equal(svc.list({ label: ['t=1'] }).length, 1);
});

test('three endpoints sharing an alias are all answered; another network cannot reach them', async () => {
  const { Id } = await svc.create({ Name: `alias-${tag}`, IPAM: { Config: [{ Subnet: subnet(1) }] } });
  const eps = [];
  for (const n of ['w1', 'w2', 'w3']) eps.push(await container(n, Id, { Aliases: ['web'] }));
  const client = await container('client', Id);
  const look = await inNs(client.ns, ['nslookup', 'web', client.ep.Gateway]);
  assert.equal(look.code, 0, look.out);
  for (const e of eps) assert.ok(look.out.includes(e.ep.IPAddress), `${e.ep.IPAddress} in ${look.out}`);
  assert.deepEqual(eps[0].ep.Aliases, ['web']);

  const other = await svc.create({ Name: `other-${tag}`, IPAM: { Config: [{ Subnet: subnet(2) }] } });
  const stranger = await container('stranger', other.Id);
  const drops = () => {
    const bridge = svc.kernelNames().bridges.find((b) => sh('ip', ['-o', 'addr', 'show', 'dev', b]).includes(`10.213.${octet + 1}.1/`))!;
    const line = sh('iptables-save', ['-c', '-t', 'filter']).split('\n').find((l) => l.endsWith(`-A BERTH-${tag.toUpperCase()}-FWD -o ${bridge} -j DROP`));
    return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? -1);
  };
  const dropsBefore = drops();
  const ping = await inNs(stranger.ns, ['ping', '-c', '1', '-W', '1', eps[0].ep.IPAddress]);
  assert.notEqual(ping.code, 0, 'other network must not reach the container');
  // Dropped by berth's isolation rule (not merely by the host's FORWARD policy).
  assert.ok(drops() > dropsBefore, `isolation rule counted the packet (${dropsBefore} -> ${drops()})`);
  const direct = await inNs(client.ns, ['ping', '-c', '1', '-W', '2', eps[0].ep.IPAddress]);
  assert.equal(direct.code, 0, direct.out);
  // Names of the other network are not answered there (relayed upstream instead).
  const look2 = await inNs(stranger.ns, ['nslookup', 'w1', stranger.ep.Gateway]);
  assert.ok(!look2.out.includes(eps[0].ep.IPAddress), look2.out);
});

test('internal network: no default route; none mode: only loopback; host mode: no namespace', async () => {
  const { Id } = await svc.create({ Name: `int-${tag}`, Internal: true, IPAM: { Config: [{ Subnet: subnet(3) }] } });
  const c = await container('inside', Id);
  const routes = sh('ip', ['-n', c.ns, 'route']);
  assert.ok(!routes.includes('default'), routes);
  assert.ok(routes.includes(`10.213.${octet + 3}.0/24`), routes);

  const noneId = randomBytes(32).toString('hex');
  const { netnsPath } = await svc.createSandbox(noneId, 'none');
  await svc.connect(noneId, 'lonely', 'none', {});
  const links = sh('ip', ['-n', netnsPath!.split('/').pop()!, '-o', 'link']).trim().split('\n');
  assert.equal(links.length, 1);
  assert.match(links[0], /lo: <LOOPBACK,UP/);

  const hostId = randomBytes(32).toString('hex');
  assert.equal((await svc.createSandbox(hostId, 'host')).netnsPath, null);
  await svc.connect(hostId, 'hosty', 'host', {});
  assert.deepEqual(await svc.publishPorts(hostId, { '80/tcp': [{ HostPort: '80' }] }), {});
  await assert.rejects(svc.connect(hostId, 'hosty', `int-${tag}`, {}), /cannot join any other network|host network/);
  await svc.releaseSandbox(noneId);
  await svc.releaseSandbox(hostId);
});

test('--network container: shares the namespace', async () => {
  const { Id } = await svc.create({ Name: `share-${tag}`, IPAM: { Config: [{ Subnet: subnet(4) }] } });
  const owner = await container('owner', Id);
  const joinerId = randomBytes(32).toString('hex');
  const { netnsPath } = await svc.createSandbox(joinerId, { container: owner.id });
  assert.equal(netnsPath, `/var/run/netns/${owner.ns}`);
  assert.ok(svc.hostsFileFor(joinerId, { hostname: 'j' }).includes(`${owner.ep.IPAddress}\tj`));
  await svc.releaseSandbox(joinerId);
  assert.ok(existsSync(`/var/run/netns/${owner.ns}`));
});

test('a bridge namespace exists from createSandbox; loopback comes up with the first veth, or for a joiner', async () => {
  const { Id } = await svc.create({ Name: `ns-${tag}`, IPAM: { Config: [{ Subnet: subnet(11) }] } });
  const ids = [0, 1].map(() => randomBytes(32).toString('hex'));
  const ns = (id: string) => `${svc.netnsPrefix}${id.slice(0, 12)}`;
  try {
    // Made at once (the runtime joins it before any endpoint exists); the veth's batch brings lo up.
    await svc.createSandbox(ids[0], 'bridge');
    assert.ok(NetworkService.netnsExists(ns(ids[0])));
    assert.doesNotMatch(sh('ip', ['-n', ns(ids[0]), '-o', 'link', 'show', 'lo']), /<LOOPBACK,UP/);
    const ep = await svc.connect(ids[0], 'first', Id, {});
    assert.match(sh('ip', ['-n', ns(ids[0]), '-o', 'addr']), new RegExp(`eth0\\s+inet ${ep.IPAddress.replace(/\./g, '\\.')}/24`));
    assert.match(sh('ip', ['-n', ns(ids[0]), '-o', 'link', 'show', 'lo']), /<LOOPBACK,UP/);
    assert.match(sh('ip', ['-n', ns(ids[0]), 'route']), /default via/);
    // container: on an owner with no endpoint yet brings the owner's loopback up.
    await svc.createSandbox(ids[1], 'bridge');
    const joiner = randomBytes(32).toString('hex');
    assert.equal((await svc.createSandbox(joiner, { container: ids[1] })).netnsPath, `/var/run/netns/${ns(ids[1])}`);
    assert.match(sh('ip', ['-n', ns(ids[1]), '-o', 'link', 'show', 'lo']), /<LOOPBACK,UP/);
    await svc.releaseSandbox(joiner);
  } finally {
    for (const id of ids) await svc.releaseSandbox(id);
    await svc.remove(Id);
  }
  for (const id of ids) assert.ok(!NetworkService.netnsExists(ns(id)));
});

test('a sandbox released in the background: the container can start again at once; an orphaned namespace goes at init', async () => {
  const id = randomBytes(32).toString('hex');
  const ns = `${svc.netnsPrefix}${id.slice(0, 12)}`;
  await svc.createSandbox(id, 'bridge');
  const first = await svc.connect(id, 'again', 'bridge', {});
  await svc.releaseSandbox(id, { background: true });
  // A restart of the same container right away: the new namespace is made after the old one went.
  await svc.createSandbox(id, 'bridge');
  const second = await svc.connect(id, 'again', 'bridge', {});
  assert.notEqual(second.IPAddress, first.IPAddress, 'addresses are handed out round-robin');
  assert.match(sh('ip', ['-n', ns, '-o', 'addr', 'show', 'eth0']), new RegExp(`inet ${second.IPAddress.replace(/\./g, '\\.')}/`));
  await svc.releaseSandbox(id);
  assert.ok(!NetworkService.netnsExists(ns));

  // A namespace of this instance that no sandbox owns (a daemon stopped while deleting it).
  const orphan = `${svc.netnsPrefix}0rphan${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', orphan]);
  try {
    await svc.shutdown();
    svc = newService(db);
    await svc.init();
    assert.ok(!NetworkService.netnsExists(orphan), 'swept at init');
  } finally {
    if (NetworkService.netnsExists(orphan)) sh('ip', ['netns', 'del', orphan]);
  }
});

test('published port is reachable on 127.0.0.1 and on the host address, and survives a service restart', async () => {
  const { Id } = await svc.create({ Name: `pub-${tag}`, IPAM: { Config: [{ Subnet: subnet(5) }] } });
  const web = await container('web', Id);
  mkdirSync(join(dir, 'pub'), { recursive: true });
  writeFileSync(join(dir, 'pub', 'index.html'), 'published\n');
  background(web.ns, ['httpd', '-f', '-p', '80', '-h', join(dir, 'pub')]);
  const port = await freePort();
  const ports = await svc.publishPorts(web.id, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }, { HostPort: '' }] });
  assert.deepEqual(ports['80/tcp'][0], { HostIp: '127.0.0.1', HostPort: String(port) });
  assert.equal(ports['80/tcp'][1].HostIp, '0.0.0.0');
  const randomPort = ports['80/tcp'][1].HostPort;
  assert.ok(Number(randomPort) > 0);
  await waitFor('published port', async () => (await httpGet('127.0.0.1', port).catch(() => '')).includes('published'));

  // The same host port again: Docker's error, and nothing half-made.
  const other = await container('web2', Id);
  await assert.rejects(svc.publishPorts(other.id, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] }),
    (err: Error) => /Bind for 127\.0\.0\.1:\d+ failed: port is already allocated/.test(err.message) && (err as any).status === 409);
  assert.deepEqual(svc.ports(other.id), {});
  // A host process holding a port is detected as well.
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
  const taken = (squatter.address() as net.AddressInfo).port;
  await assert.rejects(svc.publishPorts(other.id, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(taken) }] }), /port is already allocated/);
  squatter.close();

  // Restart: a new service on the same database; the rules were wiped meanwhile (firewall reload).
  await svc.shutdown();
  sh('iptables', ['-t', 'nat', '-F', `BERTH-${tag.toUpperCase()}-DNAT`]);
  await assert.rejects(httpGet('127.0.0.1', port));
  svc = newService(db);
  await svc.init();
  assert.equal((await httpGet('127.0.0.1', port)).trim(), 'published');
  // The port is held again: nobody else can bind it.
  await assert.rejects(new Promise<void>((resolve, reject) => {
    const s = net.createServer(); s.once('error', reject); s.listen(port, '127.0.0.1', () => { s.close(); resolve(); });
  }), /EADDRINUSE/);
  // And from another container on the same network, through the host's address (hairpin).
  const via = await inNs(other.ns, ['wget', '-q', '-O', '-', `http://${web.ep.Gateway}:${randomPort}/index.html`], 3);
  assert.ok(via.out.includes('published'), via.out);
  await svc.releaseSandbox(web.id);
  await assert.rejects(httpGet('127.0.0.1', port));
});

test('bad input gives Docker-style errors and leaves nothing half-made', async () => {
  await svc.create({ Name: `ov1-${tag}`, IPAM: { Config: [{ Subnet: subnet(6) }] } });
  const before = svc.list().length;
  await assert.rejects(svc.create({ Name: `ov2-${tag}`, IPAM: { Config: [{ Subnet: `10.213.${octet + 6}.128/25` }] } }),
    (e: any) => e.status === 403 && /Pool overlaps with other one on this address space/.test(e.message));
  await assert.rejects(svc.create({ Name: `ov1-${tag}` }), (e: any) => e.status === 409 && /already exists/.test(e.message));
  await assert.rejects(svc.create({ Name: `gw-${tag}`, IPAM: { Config: [{ Subnet: subnet(7), Gateway: '10.1.0.1' }] } }),
    (e: any) => e.status === 400 && /invalid gateway 10\.1\.0\.1/.test(e.message));
  await assert.rejects(svc.create({ Name: `bridge` }), (e: any) => e.status === 403);
  assert.equal(svc.list().length, before);

  const c = await container('fixed', `ov1-${tag}`, { IPAMConfig: { IPv4Address: `10.213.${octet + 6}.77` } });
  assert.equal(c.ep.IPAddress, `10.213.${octet + 6}.77`);
  const id2 = randomBytes(32).toString('hex');
  await svc.createSandbox(id2, 'bridge');
  await assert.rejects(svc.connect(id2, 'x', `ov1-${tag}`, { IPAMConfig: { IPv4Address: '10.9.9.9' } }),
    (e: any) => e.status === 400 && /no configured subnet or ip-range contain the IP address 10\.9\.9\.9/.test(e.message));
  await assert.rejects(svc.connect(id2, 'x', `ov1-${tag}`, { IPAMConfig: { IPv4Address: `10.213.${octet + 6}.77` } }),
    (e: any) => /Address already in use/.test(e.message));
  await assert.rejects(svc.connect(id2, 'x', 'no-such-net', {}), (e: any) => e.status === 404 && /network no-such-net not found/.test(e.message));
  await assert.rejects(svc.remove('no-such-net'), (e: any) => e.status === 404);
  assert.deepEqual(svc.allocations(`ov1-${tag}`).map((a) => a.address), [`10.213.${octet + 6}.1`, `10.213.${octet + 6}.77`]);

  await assert.rejects(svc.remove(`ov1-${tag}`), (e: any) => e.status === 403 && /has active endpoints/.test(e.message));
  await assert.rejects(svc.remove('bridge'), /pre-defined network and cannot be removed/);
  await svc.disconnect(c.id, `ov1-${tag}`);
  await svc.remove(`ov1-${tag}`);
  await svc.releaseSandbox(id2);
  await svc.releaseSandbox(c.id);
});

test('addresses are never handed out twice, also after a restart', async () => {
  const { Id } = await svc.create({ Name: `ipam-${tag}`, IPAM: { Config: [{ Subnet: subnet(8), IPRange: `10.213.${octet + 8}.16/30` }] } });
  const a = await container('i1', Id);
  const b = await container('i2', Id);
  await svc.shutdown();
  svc = newService(db);
  await svc.init();
  const c = await container('i3', Id);
  const ips = [a, b, c].map((x) => x.ep.IPAddress);
  assert.equal(new Set(ips).size, 3);
  for (const ip of ips) assert.match(ip, new RegExp(`^10\\.213\\.${octet + 8}\\.(16|17|18|19)$`));
  const d = await container('i4', Id);
  assert.equal(new Set([...ips, d.ep.IPAddress]).size, 4);
  const id5 = randomBytes(32).toString('hex');
  await svc.createSandbox(id5, 'bridge');
  // The /30 range holds four addresses: the fifth endpoint finds the pool exhausted.
  await assert.rejects(svc.connect(id5, 'i5', Id, {}), /no available IPv4 addresses/);
  await svc.releaseSandbox(id5);
});

test('default bridge: no DNS, hosts file with links and host-gateway, resolv.conf from the host', async () => {
  const a = await container('da', 'bridge');
  const b = await container('db', 'bridge');
  assert.equal(a.ep.Gateway, `10.213.${octet + 50}.1`);
  assert.equal(a.ep.DNSNames, null);
  const hosts = svc.hostsFileFor(a.id, { hostname: 'web', domainname: 'example.org', extraHosts: ['gw:host-gateway', 'x:1.2.3.4'], links: [{ alias: 'dbalias', containerId: b.id }] });
  assert.ok(hosts.includes(`10.213.${octet + 50}.1\tgw`), hosts);
  assert.ok(hosts.includes('1.2.3.4\tx'));
  assert.ok(hosts.includes(`${b.ep.IPAddress}\tdbalias ${b.id.slice(0, 12)} db`), hosts);
  assert.ok(hosts.includes(`${a.ep.IPAddress}\tweb.example.org web`), hosts);
  const rc = svc.resolvConfFor(a.id, { dns: ['10.0.0.2'], dnsSearch: ['corp'], dnsOptions: ['ndots:2'] });
  assert.equal(rc, 'search corp\nnameserver 10.0.0.2\noptions ndots:2\n');
  const ping = await inNs(a.ns, ['ping', '-c', '1', '-W', '2', b.ep.IPAddress]);
  assert.equal(ping.code, 0, ping.out);
  await assert.rejects(svc.connect(randomBytes(8).toString('hex'), 'z', 'bridge', {}), /no network sandbox/);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('a container on two networks resolves names of both; disconnect moves the default route; concurrent use is safe', async () => {
  const [n1, n2] = await Promise.all([svc.create({ Name: `m1-${tag}` }), svc.create({ Name: `m2-${tag}` })]);
  const s1 = svc.inspect(n1.Id).IPAM.Config[0].Subnet;
  const s2 = svc.inspect(n2.Id).IPAM.Config[0].Subnet;
  assert.notEqual(s1, s2, 'concurrent creates get different automatic subnets');
  assert.match(s1, new RegExp(`^10\\.214\\.${octet}\\.\\d+/28$`));
  const [p1, p2] = await Promise.all([container('peer1', n1.Id), container('peer2', n2.Id)]);
  const multi = await container('multi', n1.Id);
  const ep2 = await svc.connect(multi.id, 'multi', n2.Id, { Aliases: ['m'] });
  assert.equal(svc.networkSettings(multi.id).Networks[`m2-${tag}`].IPAddress, ep2.IPAddress);
  assert.equal(sh('ip', ['-n', multi.ns, '-o', 'link']).split('\n').filter((l) => / eth\d@/.test(l)).length, 2);
  for (const [name, ip] of [['peer1', p1.ep.IPAddress], ['peer2', p2.ep.IPAddress]]) {
    const r = await inNs(multi.ns, ['nslookup', name, multi.ep.Gateway]);
    assert.ok(r.out.includes(ip), `${name}: ${r.out}`);
  }
  assert.match(sh('ip', ['-n', multi.ns, 'route', 'show', 'default']), new RegExp(`via ${multi.ep.Gateway.replace(/\./g, '\\.')}`));
  await svc.disconnect(multi.id, n1.Id);
  assert.match(sh('ip', ['-n', multi.ns, 'route', 'show', 'default']), new RegExp(`via ${ep2.Gateway.replace(/\./g, '\\.')}`));
  const ping = await inNs(multi.ns, ['ping', '-c', '1', '-W', '2', 'peer2']);
  assert.equal(ping.code, 0, ping.out);
  await assert.rejects(svc.disconnect(multi.id, n1.Id), /is not connected to network/);
  await svc.disconnect(multi.id, n1.Id, true);
  // Many endpoints at once: distinct addresses.
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => container(`par${i}`, n2.Id)));
  assert.equal(new Set(many.map((m) => m.ep.IPAddress)).size, 6);
  for (const m of many) await svc.releaseSandbox(m.id);
});

test('UDP ports publish too, and a container reaches its own published port through the host (hairpin)', async () => {
  const { Id } = await svc.create({ Name: `udp-${tag}`, IPAM: { Config: [{ Subnet: subnet(9) }] } });
  const c = await container('udp', Id);
  // busybox nc has no UDP mode here: a tiny node receiver inside the namespace prints what arrives.
  const rx = spawn('ip', ['netns', 'exec', c.ns, process.execPath, '-e',
    `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>process.stdout.write(m));s.bind(5353)`], { stdio: ['ignore', 'pipe', 'ignore'] });
  procs.push(rx);
  let got = '';
  rx.stdout!.on('data', (d) => { got += d; });
  const ports = await svc.publishPorts(c.id, { '5353/udp': [{ HostIp: '127.0.0.1' }] });
  const hp = Number(ports['5353/udp'][0].HostPort);
  const sock = dgram.createSocket('udp4');
  try {
    await waitFor('UDP datagram through the published port', () => {
      sock.send('ping-udp\n', hp, '127.0.0.1');
      return got.includes('ping-udp');
    });
  } finally {
    sock.close();
    rx.kill('SIGKILL');
  }

  mkdirSync(join(dir, 'hp'), { recursive: true });
  writeFileSync(join(dir, 'hp', 'index.html'), 'myself\n');
  background(c.ns, ['httpd', '-f', '-p', '80', '-h', join(dir, 'hp')]);
  const web = await svc.publishPorts(c.id, { '80/tcp': [{}] });
  const port = web['80/tcp'][0].HostPort;
  assert.deepEqual(Object.keys(svc.ports(c.id)).sort(), ['5353/udp', '80/tcp']);
  await waitFor('hairpin', async () => (await inNs(c.ns, ['wget', '-q', '-O', '-', `http://${c.ep.Gateway}:${port}/index.html`], 3)).out.includes('myself'));
});

test('prune removes unused user networks (label filter), keeps used and predefined ones', async () => {
  const used = await svc.create({ Name: `pr-used-${tag}`, Labels: { prune: 'yes' } });
  await svc.create({ Name: `pr-free-${tag}`, Labels: { prune: 'yes' } });
  await svc.create({ Name: `pr-other-${tag}`, Labels: { prune: 'no' } });
  const c = await container('pruneuser', used.Id);
  assert.deepEqual(svc.list({ dangling: ['true'], label: ['prune=yes'] }).map((n) => n.Name), [`pr-free-${tag}`]);
  const res = await svc.prune({ label: ['prune=yes'] });
  assert.deepEqual(res.NetworksDeleted, [`pr-free-${tag}`]);
  assert.ok(svc.list({ name: [`pr-other-${tag}`] }).length === 1);
  assert.ok(svc.list({ type: ['builtin'] }).length === 3);
  await svc.releaseSandbox(c.id);
  const again = await svc.prune({ label: ['prune=yes'] });
  assert.deepEqual(again.NetworksDeleted, [`pr-used-${tag}`]);
  const bridgeGone = !existsSync(`/sys/class/net/br-${used.Id.slice(0, 12)}`);
  assert.ok(bridgeGone, 'bridge of the pruned network removed');
});

test('ServiceNetworking turns a container record into endpoints, ports, hosts and resolv.conf', async () => {
  const { Id } = await svc.create({ Name: `rec-${tag}`, IPAM: { Config: [{ Subnet: subnet(10) }] } });
  const records = new Map<string, { Id: string; Name: string }>();
  const adapter = new ServiceNetworking(svc, { resolveContainer: (ref) => records.get(ref) ?? [...records.values()].find((r) => r.Id.startsWith(ref)) });
  const dbRec = { Id: randomBytes(32).toString('hex'), Name: 'dbrec', Config: { Hostname: 'dbrec' }, HostConfig: { NetworkMode: 'default' } };
  records.set('dbrec', dbRec);
  const web = {
    Id: randomBytes(32).toString('hex'), Name: 'webrec',
    Config: { Hostname: 'webhost', Domainname: 'example.org', ExposedPorts: { '80/tcp': {}, '443/tcp': {} } },
    HostConfig: {
      NetworkMode: 'default', PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, PublishAllPorts: true,
      ExtraHosts: ['gw:host-gateway'], Links: ['/dbrec:/webrec/database'], Dns: ['10.0.0.2'],
    },
    NetworkingConfig: { EndpointsConfig: { [`rec-${tag}`]: { Aliases: ['www'] } } },
  };
  const dbUp = await adapter.setUp(dbRec);
  const up = await adapter.setUp(web);
  try {
    assert.match(up.netnsPath!, /^\/var\/run\/netns\/berth-/);
    assert.deepEqual(Object.keys(up.settings.Networks).sort(), ['bridge', `rec-${tag}`].sort());
    assert.equal(up.settings.IPAddress, up.settings.Networks.bridge.IPAddress);
    assert.deepEqual(up.settings.Networks[`rec-${tag}`].Aliases, ['www']);
    assert.equal(up.settings.Ports['80/tcp'][0].HostIp, '127.0.0.1');
    assert.ok(Number(up.settings.Ports['443/tcp'][0].HostPort) > 0, 'PublishAllPorts maps every exposed port');
    assert.ok(up.hosts.includes(`${dbUp.settings.IPAddress}\tdatabase ${dbRec.Id.slice(0, 12)} dbrec`), up.hosts);
    assert.ok(up.hosts.includes(`${up.settings.IPAddress}\twebhost.example.org webhost`), up.hosts);
    assert.ok(up.hosts.includes(`10.213.${octet + 50}.1\tgw`), up.hosts);
    // Also on a user-defined network: its embedded DNS, which relays other names to --dns.
    assert.deepEqual(up.resolvConf.split('\n').filter((l) => l.startsWith('nameserver')), [`nameserver ${up.settings.Networks[`rec-${tag}`].Gateway}`]);
    // Only the default bridge: the --dns servers (or the host's) directly, as Docker.
    assert.equal(dbUp.resolvConf.split('\n').filter((l) => l.startsWith('nameserver')).includes(`nameserver ${dbUp.settings.Gateway}`), false);

    const hostRec = { Id: randomBytes(32).toString('hex'), Name: 'h', Config: {}, HostConfig: { NetworkMode: 'host' } };
    const hostUp = await adapter.setUp(hostRec);
    assert.equal(hostUp.netnsPath, 'host');
    assert.deepEqual(Object.keys(hostUp.settings.Networks), ['host']);
    await adapter.tearDown(hostRec);

    const joiner = { Id: randomBytes(32).toString('hex'), Name: 'j', Config: { Hostname: 'j' }, HostConfig: { NetworkMode: 'container:dbrec' } };
    const jUp = await adapter.setUp(joiner);
    assert.equal(jUp.netnsPath, dbUp.netnsPath);
    await adapter.tearDown(joiner);

    // NetworkMode by ID prefix, EndpointsConfig by name: one endpoint, with the configured alias.
    const byId = { Id: randomBytes(32).toString('hex'), Name: 'byid', Config: {}, HostConfig: { NetworkMode: Id.slice(0, 10) },
      NetworkingConfig: { EndpointsConfig: { [`rec-${tag}`]: { Aliases: ['aka'] } } } };
    const byIdUp = await adapter.setUp(byId);
    assert.deepEqual(Object.keys(byIdUp.settings.Networks), [`rec-${tag}`]);
    assert.deepEqual(byIdUp.settings.Networks[`rec-${tag}`].Aliases, ['aka']);
    await adapter.tearDown(byId);

    const bad = { Id: randomBytes(32).toString('hex'), Name: 'bad', Config: {}, HostConfig: { NetworkMode: 'no-such-network' } };
    await assert.rejects(adapter.setUp(bad), /network no-such-network not found/);
    assert.ok(!sh('ip', ['netns', 'list']).includes(`berth-${tag}-${bad.Id.slice(0, 12)}`), 'failed setUp leaves no namespace');
  } finally {
    await adapter.tearDown(web);
    await adapter.tearDown(dbRec);
  }
  assert.equal(Object.keys(svc.inspect(`rec-${tag}`).Containers).length, 0);
});

test('outbound traffic of a normal network is forwarded and masqueraded; a second daemon\'s containers stay isolated', async () => {
  // An "outside" host of this test's own: a namespace behind a veth with 10.217.<octet>.0/30.
  const outNs = `brtout-${tag}`;
  const outIf = `vo-${tag}`;
  sh('ip', ['netns', 'add', outNs]);
  let svc2: NetworkService | undefined;
  let db2: Db | undefined;
  try {
    execFileSync('ip', ['-batch', '-'], { input: `link add ${outIf} type veth peer name eth0 netns ${outNs}\naddr add 10.217.${octet}.1/30 dev ${outIf}\nlink set ${outIf} up\n` });
    execFileSync('ip', ['-n', outNs, '-batch', '-'], { input: `link set lo up\nlink set eth0 up\naddr add 10.217.${octet}.2/30 dev eth0\n` });
    const { Id } = await svc.create({ Name: `out-${tag}`, IPAM: { Config: [{ Subnet: subnet(11) }] } });
    const c = await container('goesout', Id);
    // The outside namespace has no route back to the container's subnet: a reply proves MASQUERADE.
    const ping = await inNs(c.ns, ['ping', '-c', '1', '-W', '2', `10.217.${octet}.2`]);
    assert.equal(ping.code, 0, ping.out);

    db2 = openDatabase(join(dir, 'second.db'));
    svc2 = new NetworkService({
      db: db2, execRoot: dir, bridgeName: `brs-${tag}`, bip: `10.213.${octet + 60}.1/24`, instanceId: `${tag}b`,
      defaultAddressPools: [{ base: `10.218.${octet}.0/24`, size: 28 }], upstreamResolvers: [],
    });
    await svc2.init();
    const otherId = randomBytes(32).toString('hex');
    const { netnsPath } = await svc2.createSandbox(otherId, 'bridge');
    await svc2.connect(otherId, 'foreign', 'bridge', {});
    const foreignNs = netnsPath!.split('/').pop()!;
    const bridge = svc.kernelNames().bridges.find((b) => sh('ip', ['-o', 'addr', 'show', 'dev', b]).includes(`10.213.${octet + 11}.1/`))!;
    const drops = () => {
      const line = sh('iptables-save', ['-c', '-t', 'filter']).split('\n').find((l) => l.endsWith(`-A BERTH-${tag.toUpperCase()}-FWD -o ${bridge} -j DROP`));
      return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? -1);
    };
    const before = drops();
    const cross = await inNs(foreignNs, ['ping', '-c', '1', '-W', '1', c.ep.IPAddress]);
    assert.notEqual(cross.code, 0, 'another daemon\'s container must not reach this one');
    assert.ok(drops() > before, 'dropped by this instance\'s isolation rule, not accepted by the other daemon\'s chain');
    // The other daemon's container still goes out.
    const out2 = await inNs(foreignNs, ['ping', '-c', '1', '-W', '2', `10.217.${octet}.2`]);
    assert.equal(out2.code, 0, out2.out);
    await svc2.releaseSandbox(otherId);
  } finally {
    if (svc2) await svc2.cleanupAll();
    db2?.close();
    execFileSync('ip', ['netns', 'del', outNs]);
    try { execFileSync('ip', ['link', 'del', outIf], { stdio: 'ignore' }); } catch { /* went with the namespace */ }
  }
});
