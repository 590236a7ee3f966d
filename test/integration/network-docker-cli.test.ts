/**
 * Networking end to end: a private berthd driven by the real docker CLI with busybox containers.
 * The daemon gets its own bridge and subnets (harness); traffic stays on them and on loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startBerthd, importBusybox, waitFor, type Berthd } from './helpers/berthd.js';

let d: Berthd;
/** A third octet whose /24s in 10.221–10.225 no other bridge on the host routes. */
const sub = (() => {
  const routes = execFileSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const o = 20 + Math.floor(Math.random() * 200);
    if (![221, 222, 223, 224, 225].some((b) => routes.includes(`10.${b}.${o}.`))) return o;
  }
  throw new Error('no free test subnet');
})();

function ok(args: string[], timeout = 30_000): string {
  const r = d.docker(args, { timeout });
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}\n${r.stdout}`);
  return r.stdout.trim();
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 3000 }, (res) => {
      let b = ''; res.on('data', (x) => { b += x; }); res.on('end', () => resolve(b));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

before(async () => {
  d = await startBerthd();
  importBusybox(d);
});

after(async () => {
  await d?.cleanup();
});

test('docker CLI: user network, names, aliases, isolation, internal, none, container:, ports, bad input', async () => {
  ok(['network', 'create', '--subnet', `10.221.${sub}.0/24`, '--label', 'x=y', 'front']);
  ok(['network', 'create', '--subnet', `10.222.${sub}.0/24`, 'back']);
  ok(['network', 'create', '--internal', '--subnet', `10.223.${sub}.0/24`, 'sealed']);
  const ls = ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']);
  for (const n of ['bridge bridge', 'host host', 'none null', 'front bridge', 'back bridge', 'sealed bridge']) assert.ok(ls.includes(n), ls);

  // Two containers reach each other by name (ping and TCP).
  ok(['run', '-d', '--name', 'web', '--network', 'front', '--network-alias', 'svc', 'busybox', 'sh', '-c',
    "trap 'exit 0' TERM; mkdir -p /www; echo hi-from-web > /www/index.html; httpd -f -p 80 -h /www & wait"]);
  const ping = d.docker(['run', '--rm', '--network', 'front', 'busybox', 'ping', '-c', '1', '-W', '2', 'web'], { timeout: 30_000 });
  assert.equal(ping.status, 0, ping.stderr + ping.stdout);
  const get = d.docker(['run', '--rm', '--network', 'front', 'busybox', 'sh', '-c', 'timeout 8 wget -qO- http://web/; exit $?'], { timeout: 30_000 });
  assert.ok(get.stdout.includes('hi-from-web'), get.stderr + get.stdout);
  const ip = ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "front").IPAddress}}', 'web']);
  assert.match(ip, new RegExp(`^10\\.221\\.${sub}\\.\\d+$`));

  // Three containers with one alias: all answered.
  for (const n of ['a1', 'a2']) ok(['run', '-d', '--name', n, '--network', 'front', '--network-alias', 'svc', 'busybox', 'sleep', '300']);
  const look = ok(['run', '--rm', '--network', 'front', 'busybox', 'nslookup', 'svc']);
  for (const n of ['web', 'a1', 'a2']) {
    const addr = ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "front").IPAddress}}', n]);
    assert.ok(look.includes(addr), `${n} ${addr} in ${look}`);
  }

  // Another network cannot reach them; an internal network has no default route.
  const cross = d.docker(['run', '--rm', '--network', 'back', 'busybox', 'ping', '-c', '1', '-W', '1', ip], { timeout: 30_000 });
  assert.notEqual(cross.status, 0);
  const routes = ok(['run', '--rm', '--network', 'sealed', 'busybox', 'ip', 'route']);
  assert.ok(!routes.includes('default'), routes);
  // none: only loopback; container: shares the namespace.
  const links = ok(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']);
  assert.equal(links.split('\n').length, 1, links);
  const shared = ok(['run', '--rm', '--network', 'container:web', 'busybox', 'ip', '-o', '-4', 'addr']);
  assert.ok(shared.includes(ip), shared);

  // Published port on 127.0.0.1, and -P for every EXPOSEd port.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  ok(['run', '-d', '--name', 'pub', '-p', `127.0.0.1:${port}:80`, '--expose', '81', '-P', 'busybox', 'sh', '-c',
    "trap 'exit 0' TERM; mkdir -p /www; echo published > /www/index.html; httpd -f -p 80 -h /www & wait"]);
  assert.equal((await waitFor(async () => (await httpGet(port).catch(() => '')).trim(), 'published port')), 'published');
  const portOut = ok(['port', 'pub']);
  assert.ok(portOut.includes(`80/tcp -> 127.0.0.1:${port}`), portOut);
  assert.match(portOut, /81\/tcp -> 0\.0\.0\.0:\d+/);

  // Bad input: Docker-style errors, nothing half-made.
  const overlap = d.docker(['network', 'create', '--subnet', `10.221.${sub}.128/25`, 'clash']);
  assert.notEqual(overlap.status, 0);
  assert.match(overlap.stderr, /Pool overlaps with other one on this address space/);
  const outside = d.docker(['run', '--rm', '--network', 'front', '--ip', '10.9.9.9', 'busybox', 'true']);
  assert.notEqual(outside.status, 0);
  assert.match(outside.stderr, /no configured subnet or ip-range contain the IP address 10\.9\.9\.9/);
  const taken = d.docker(['run', '-d', '--name', 'pub2', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '300']);
  assert.notEqual(taken.status, 0);
  assert.match(taken.stderr, /port is already allocated/);
  const unknown = d.docker(['run', '--rm', '--network', 'nope', 'busybox', 'true']);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /network nope not found/);
  const busy = d.docker(['network', 'rm', 'front']);
  assert.notEqual(busy.status, 0);
  assert.match(busy.stderr, /has active endpoints/);

  ok(['rm', '-f', 'web', 'a1', 'a2', 'pub']);
  d.docker(['rm', '-f', 'pub2']);
  ok(['network', 'rm', 'front', 'back', 'sealed']);
});

/** A loopback port free right now, for TCP or UDP. */
async function freePort(udp = false): Promise<number> {
  if (udp) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

test('docker CLI: ps filters publish, expose, volume and isolation; exposed-only ports in ps and inspect', async () => {
  const pt = await freePort();
  const pu = await freePort(true);
  const hostDir = mkdtempSync(join(tmpdir(), 'berth-ps-'));
  try {
    ok(['run', '-d', '--name', 'fa', '-p', `127.0.0.1:${pt}:80`, '-v', 'vol1:/data', 'busybox', 'sleep', '300']);
    ok(['run', '-d', '--name', 'fb', '-p', `127.0.0.1:${pu}:90/udp`, '--expose', '5000', '--expose', '6001', 'busybox', 'sleep', '300']);
    ok(['run', '-d', '--name', 'fc', '--expose', '4444', '--expose', '5555/udp', '-v', `${hostDir}:/srv`, 'busybox', 'sleep', '300']);
    // Created, never started: it has no ports, so port filters never list it.
    ok(['create', '--name', 'fd', '--expose', '5000', '-v', 'vol1:/data', 'busybox', 'sleep', '300']);
    const names = (...args: string[]) => ok(['ps', ...args, '--format', '{{.Names}}']).split('\n').filter(Boolean).sort().join(' ');

    // publish: the host port of a binding (tcp by default); expose: a container port, published or not.
    assert.equal(names('-f', `publish=${pt}`), 'fa');
    assert.equal(names('-f', `publish=${pt}/tcp`), 'fa');
    assert.equal(names('-f', `publish=${pu}/udp`), 'fb');
    assert.equal(names('-f', `publish=${pu}`), '');
    assert.equal(names('-f', 'publish=80'), '');
    assert.equal(names('-f', `publish=${pt - 1}-${pt + 1}`), 'fa');
    assert.equal(names('-f', 'expose=80'), 'fa');
    assert.equal(names('-a', '-f', 'expose=5000'), 'fb');
    assert.equal(names('-f', 'expose=6000-6001'), 'fb');
    assert.equal(names('-f', 'expose=4444'), 'fc');
    assert.equal(names('-f', 'expose=5555/udp'), 'fc');
    assert.equal(names('-f', 'expose=5555'), '');
    assert.equal(names('-f', 'expose=4444', '-f', 'expose=90/udp'), 'fb fc');
    assert.equal(names('-f', `publish=${pt}`, '-f', 'expose=4444'), 'fa fc');
    // volume: a named volume, a bind source, or a mount destination.
    assert.equal(names('-f', 'volume=vol1'), 'fa');
    assert.equal(names('-a', '-f', 'volume=vol1'), 'fa fd');
    assert.equal(names('-f', 'volume=/data'), 'fa');
    assert.equal(names('-f', 'volume=/srv'), 'fc');
    assert.equal(names('-f', `volume=${hostDir}`), 'fc');
    assert.equal(names('-f', 'volume=nope'), '');
    // isolation is Windows-only: dockerd on Linux ignores it.
    assert.equal(names('-f', 'isolation=default'), 'fa fb fc');

    // A bad port spec is refused with dockerd words (400), not ignored.
    for (const [spec, msg] of [
      ['publish=abc', 'error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax'],
      ['expose=6001-6000', 'error while looking up for expose 6001-6000: invalid range specified for port: 6001-6000'],
      ['publish=70000/udp', 'error while looking up for publish 70000/udp: strconv.ParseUint: parsing "70000": value out of range'],
      ['expose=127.0.0.1:80', "filter for 'expose' should not contain ':': 127.0.0.1:80"],
    ]) {
      const bad = d.docker(['ps', '-f', spec]);
      assert.notEqual(bad.status, 0, spec);
      assert.ok(bad.stderr.includes(msg), `${spec}: ${bad.stderr}`);
    }
    const api = await d.api('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ publish: ['abc'] }))}`);
    assert.equal(api.status, 400, api.body);

    // Exposed but unpublished ports show without a binding; published ones keep theirs.
    assert.equal(ok(['ps', '-f', 'name=^fc$', '--format', '{{.Ports}}']), '4444/tcp, 5555/udp');
    assert.equal(ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'fc']), '{"4444/tcp":null,"5555/udp":null}');
    assert.equal(ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'fa']), `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${pt}"}]}`);
    assert.equal(ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'fb']),
      `{"5000/tcp":null,"6001/tcp":null,"90/udp":[{"HostIp":"127.0.0.1","HostPort":"${pu}"}]}`);
    const fbPorts = ok(['ps', '-f', 'name=^fb$', '--format', '{{.Ports}}']);
    for (const p of ['5000/tcp', '6001/tcp', `127.0.0.1:${pu}->90/udp`]) assert.ok(fbPorts.includes(p), fbPorts);
    // Stopped: no ports at all.
    ok(['stop', '-t', '0', 'fc']);
    assert.equal(ok(['ps', '-a', '-f', 'name=^fc$', '--format', '{{.Ports}}']), '');
    assert.equal(ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'fc']), '{}');
    assert.equal(ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'fd']), '{}');
    // ... and no address in the list either (it was released), as in inspect.
    const listed = (await d.api('GET', '/containers/json?all=1')).json.find((c: any) => c.Names[0] === '/fc');
    assert.equal(listed.NetworkSettings.Networks.bridge.IPAddress, '');
    assert.equal(listed.NetworkSettings.Networks.bridge.EndpointID, '');
    assert.equal(ok(['inspect', '-f', '{{.NetworkSettings.Networks.bridge.IPAddress}}', 'fc']).trim(), '');
  } finally {
    d.docker(['rm', '-f', 'fa', 'fb', 'fc', 'fd']);
    d.docker(['volume', 'rm', 'vol1']);
    rmSync(hostDir, { recursive: true, force: true });
  }
});

test('docker CLI: 50 run --rm cycles leave nothing behind; a published port survives a daemon restart (live restore)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-it-'));
  const bridge = `brn${dir.split('-').pop()!.slice(0, 8).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`;
  const args = ['--live-restore', '--bridge', bridge, '--bip', `10.224.${sub}.1/24`, '--default-address-pool', `base=10.225.${sub}.0/24,size=28`];
  let d1 = await startBerthd({ dir, extraArgs: args, keep: true });
  try {
    importBusybox(d1);
    const vethsBefore = execFileSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).trim();
    for (let i = 0; i < 50; i++) {
      const r = d1.docker(['run', '--rm', 'busybox', 'true'], { timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
    }
    // A container's namespace is deleted in the background once it has exited.
    await waitFor(() => d1.netnsLeft().length === 0, 'namespaces gone', 10_000);
    await waitFor(() => execFileSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).trim() === vethsBefore, 'veths gone', 10_000);

    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const run = d1.docker(['run', '-d', '--name', 'keep', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c',
      "trap 'exit 0' TERM; mkdir -p /www; echo survives > /www/index.html; httpd -f -p 80 -h /www & wait"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(await waitFor(async () => (await httpGet(port).catch(() => '')).trim(), 'published port'), 'survives');
    await d1.stop();
    // While the daemon is down the kernel keeps forwarding.
    assert.equal((await httpGet(port)).trim(), 'survives');
    d1 = await startBerthd({ dir, extraArgs: args, keep: true });
    assert.equal((await httpGet(port)).trim(), 'survives');
    const p = d1.docker(['port', 'keep']);
    assert.ok(p.stdout.includes(`127.0.0.1:${port}`), p.stdout + p.stderr);
    const rm = d1.docker(['rm', '-f', 'keep']);
    assert.equal(rm.status, 0, rm.stderr);
    await assert.rejects(httpGet(port));
  } finally {
    d1.docker(['rm', '-f', 'keep']);
    await d1.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker CLI: IPv6 is off in a namespace of the container\'s own, as dockerd has it for networks without IPv6', () => {
  const inet6 = (args: string[]) => ok(['run', '--rm', ...args, 'busybox', 'sh', '-c', 'cat /proc/sys/net/ipv6/conf/all/disable_ipv6; ip -o addr | grep -c inet6 || true']);
  assert.equal(inet6([]), '1\n0', 'default bridge: no ::1, no link-local address');
  assert.equal(inet6(['--network', 'none']), '1\n0');
  assert.equal(inet6(['--sysctl', 'net.ipv6.conf.all.disable_ipv6=0', '--network', 'none']), '0\n1', 'the container\'s own --sysctl wins: ::1 on lo');
  // The host's namespace is left as it is.
  const host = ok(['run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6']);
  assert.equal(host, readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim());
});

test('docker CLI: in a namespace of its own any user binds ports below 1024 and pings, as with dockerd since 20.10', () => {
  const sysctls = (args: string[]) => ok(['run', '--rm', ...args, 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start', '/proc/sys/net/ipv4/ping_group_range']);
  assert.equal(sysctls([]), '0\n0\t2147483647');
  assert.equal(sysctls(['--network', 'none']), '0\n0\t2147483647');
  assert.equal(sysctls(['--sysctl', 'net.ipv4.ip_unprivileged_port_start=100']), '100\n0\t2147483647', 'the container\'s own --sysctl wins');
  // A user that is not root listens on port 80 (nc exits after the one connection; the loop waits for the listener or for nc to fail).
  const listen = ok(['run', '--rm', '-u', '1000', 'busybox', 'sh', '-c', 'nc -l -p 80 </dev/null & for i in $(seq 200); do netstat -ltn | grep -q ":80 " && break; kill -0 $! 2>/dev/null || break; sleep 0.05; done; netstat -ltn | grep -c ":80 "; echo | nc 127.0.0.1 80; wait']);
  assert.equal(listen, '1');
  const host = ok(['run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']);
  assert.equal(host, readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim(), 'the host\'s namespace is left as it is');
});

test('docker CLI: drivers berth does not have are refused as a dockerd without them refuses them', () => {
  const overlay = d.docker(['network', 'create', '--driver', 'overlay', 'ov']);
  assert.equal(overlay.stderr, 'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.\n');
  assert.equal(d.docker(['network', 'create', '--driver', 'nosuch', 'ns']).stderr, 'Error response from daemon: plugin "nosuch" not found\n');
  assert.equal(d.docker(['volume', 'create', '--driver', 'nosuch', 'nv']).stderr, 'Error response from daemon: create nv: error looking up volume plugin nosuch: plugin "nosuch" not found\n');
  assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=ov']).stdout + d.docker(['volume', 'ls', '-q']).stdout.split('\n').filter((v) => v === 'nv').join(''), '');
});
