/** Pure logic of the network service: address math, IPAM, rule rendering, DNS answers, /etc files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { openDatabase } from '../../src/store/index.js';
import { parseCidr, parseIPv4, formatIPv4, overlaps, contains, hostRange, macFromIPv4, formatCidr } from '../../src/network/ipv4.js';
import { Ipam } from '../../src/network/ipam.js';
import { Firewall } from '../../src/network/firewall.js';
import { EmbeddedDns, truncateForUdp, type DnsBackend } from '../../src/network/dns-server.js';
import net from 'node:net';
import { parseResolvConf, renderHosts, renderResolvConf } from '../../src/network/etc-files.js';

test('IPv4 and CIDR arithmetic', () => {
  assert.equal(formatIPv4(parseIPv4('10.213.5.254')), '10.213.5.254');
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.throws(() => parseIPv4('10.0.0.256'), /invalid IPv4/);
  assert.throws(() => parseCidr('10.0.0.1/24'), /it should be 10\.0\.0\.0\/24/);
  assert.equal(formatCidr(parseCidr('10.0.0.1/24', false)), '10.0.0.0/24');
  assert.ok(overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.0.5.0/24')));
  assert.ok(!overlaps(parseCidr('10.0.0.0/24'), parseCidr('10.0.1.0/24')));
  assert.ok(contains(parseCidr('10.0.0.0/24'), parseIPv4('10.0.0.200')));
  assert.ok(!contains(parseCidr('10.0.0.0/24'), parseIPv4('10.0.1.1')));
  const r = hostRange(parseCidr('10.0.0.0/30'));
  assert.deepEqual([formatIPv4(r.first), formatIPv4(r.last)], ['10.0.0.1', '10.0.0.2']);
  assert.equal(macFromIPv4(parseIPv4('172.17.0.2')), '02:42:ac:11:00:02');
});

test('IPAM: sequential, no double allocation, persisted, exhaustion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ipam-'));
  try {
    const db = openDatabase(join(dir, 'db'));
    const ipam = new Ipam(db);
    const first = parseIPv4('10.0.0.1');
    const last = parseIPv4('10.0.0.6');
    ipam.reserve('n1', first, 'gateway');
    assert.throws(() => ipam.reserve('n1', first, 'x'), /Address already in use/);
    const a = ipam.allocate('n1', first, last, 'e1');
    const b = ipam.allocate('n1', first, last, 'e2');
    assert.deepEqual([formatIPv4(a), formatIPv4(b)], ['10.0.0.2', '10.0.0.3']);
    ipam.release('n1', a);
    // Not reused at once: allocation continues after the last one handed out.
    assert.equal(formatIPv4(ipam.allocate('n1', first, last, 'e3')), '10.0.0.4');
    db.close();
    const db2 = openDatabase(join(dir, 'db'));
    const ipam2 = new Ipam(db2);
    const rest = [ipam2.allocate('n1', first, last, 'e4'), ipam2.allocate('n1', first, last, 'e5'), ipam2.allocate('n1', first, last, 'e6')];
    assert.deepEqual(rest.map(formatIPv4), ['10.0.0.5', '10.0.0.6', '10.0.0.2']);
    assert.throws(() => ipam2.allocate('n1', first, last, 'e7'), /no available IPv4 addresses/);
    // Pools are independent.
    assert.equal(formatIPv4(ipam2.allocate('n2', first, last, 'e1')), '10.0.0.1');
    ipam2.releasePool('n1');
    assert.deepEqual(ipam2.allocated('n1'), []);
    db2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('firewall rules: isolation order, internal networks, DNAT and masquerade', () => {
  const fw = new Firewall('abc');
  const out = fw.render(
    [{ name: 'br1', subnet: '10.1.0.0/24', internal: false }, { name: 'br2', subnet: '10.2.0.0/24', internal: true }],
    [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80, bridge: 'br1' }],
    [{ table: 'filter', chain: 'FORWARD', rule: '-j BERTH-ABC-FWD' }, { table: 'filter', chain: 'FORWARD', rule: '-j BERTH-ABC-OUT', append: true }],
  );
  const lines = out.split('\n');
  const idx = (s: string) => lines.findIndex((l) => l === s);
  const dropInto1 = idx('-A BERTH-ABC-FWD -o br1 -j DROP');
  const out2 = idx('-A BERTH-ABC-FWD -i br2 -j DROP');
  const out1 = idx('-A BERTH-ABC-OUT -i br1 -j ACCEPT');
  const intra = idx('-A BERTH-ABC-FWD -i br1 -o br1 -j ACCEPT');
  assert.ok(intra >= 0 && dropInto1 > intra && out1 > 0 && out2 > dropInto1, out);
  assert.ok(!lines.includes('-A BERTH-ABC-FWD -i br1 -j ACCEPT'), 'outbound is accepted only in the chain jumped to last');
  assert.ok(idx('-A BERTH-ABC-FWD -d 10.1.0.2/32 -o br1 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT') < dropInto1);
  assert.ok(lines.includes('-A BERTH-ABC-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80'));
  assert.ok(lines.includes('-A BERTH-ABC-POST -s 10.1.0.0/24 ! -o br1 -j MASQUERADE'));
  assert.ok(!lines.some((l) => l.includes('-s 10.2.0.0/24 ! -o br2')), 'no outbound NAT for internal networks');
  assert.ok(lines.includes('-I FORWARD 1 -j BERTH-ABC-FWD'));
  assert.ok(lines.includes('-A FORWARD -j BERTH-ABC-OUT'));
  assert.equal(lines.filter((l) => l === 'COMMIT').length, 2);
});

/** The decoded reply, loosely typed (dns-packet's types omit rcode and answer data). */
const decode = (b: Buffer | null): any => dnsPacket.decode(b!);

function query(name: string, type: 'A' | 'AAAA' | 'PTR' = 'A'): Buffer {
  return dnsPacket.encode({ type: 'query', id: 42, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

test('embedded DNS: names, aliases in random order, AAAA empty, PTR, relay and fast SERVFAIL', async () => {
  const upstream = dgram.createSocket('udp4');
  upstream.on('message', (msg, r) => {
    const q = dnsPacket.decode(msg);
    upstream.send(dnsPacket.encode({ type: 'response', id: q.id, questions: q.questions, answers: [{ type: 'A', name: q.questions![0].name, data: '9.9.9.9' }] }), r.port, r.address);
  });
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  let upstreams = [`127.0.0.1:${upstream.address().port}`];
  const backend: DnsBackend = {
    lookup: (_n, _c, name) => ({ web: ['10.0.0.2', '10.0.0.3', '10.0.0.4'], db: ['10.0.0.5'] } as Record<string, string[]>)[name] ?? null,
    reverse: (_n, _c, ip) => (ip === '10.0.0.5' ? 'db.net' : null),
    upstreams: () => upstreams,
  };
  const dns = new EmbeddedDns(backend);
  const orders = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = decode(await dns.answer('n', query('web'), '10.0.0.9'));
    assert.equal(r.id, 42);
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.flag_aa, false, 'not authoritative, as dockerd\'s resolver');
    assert.equal(r.flag_ra, true);
    const ips = r.answers.map((a: any) => a.data as string);
    assert.deepEqual([...ips].sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    orders.add(ips.join(','));
  }
  assert.ok(orders.size > 1, 'round robin: answers come in varying order');
  const aaaa = decode(await dns.answer('n', query('DB.', 'AAAA'), '10.0.0.9'));
  assert.equal(aaaa.rcode, 'NOERROR');
  assert.equal(aaaa.answers!.length, 0);
  const ptr = decode(await dns.answer('n', query('5.0.0.10.in-addr.arpa', 'PTR'), '10.0.0.9'));
  assert.equal(ptr.answers![0].data, 'db.net');
  const relayed = decode(await dns.answer('n', query('example.org'), '10.0.0.9'));
  assert.equal(relayed.answers![0].data, '9.9.9.9');
  upstreams = [];
  const t0 = Date.now();
  const fail = decode(await dns.answer('n', query('example.org'), '10.0.0.9'));
  assert.equal(fail.rcode, 'SERVFAIL');
  assert.ok(Date.now() - t0 < 100);
  assert.equal(await dns.answer('n', Buffer.from('garbage'), '10.0.0.9'), null);
  upstream.close();
});

test('/etc/hosts and /etc/resolv.conf rendering', () => {
  const hosts = renderHosts([{ ip: '10.0.0.2', names: ['web.example.org', 'web'] }]);
  assert.ok(hosts.startsWith('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'));
  assert.ok(hosts.endsWith('10.0.0.2\tweb.example.org web\n'));
  const rc = parseResolvConf('# comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8 # x\nsearch a b\noptions ndots:2 timeout:1\n');
  assert.deepEqual(rc, { nameservers: ['1.1.1.1', '8.8.8.8'], search: ['a', 'b'], options: ['ndots:2', 'timeout:1'] });
  assert.equal(renderResolvConf(rc), 'search a b\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:2 timeout:1\n');
});

test('embedded DNS over UDP and TCP; oversized UDP answers are truncated (TC) for a TCP retry', async () => {
  const many = Array.from({ length: 60 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const backend: DnsBackend = { lookup: (_n, _c, name) => (name === 'big' ? many : name === 'one' ? ['10.1.1.1'] : null), reverse: () => null, upstreams: () => [] };
  const dns = new EmbeddedDns(backend);
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  await dns.listen('n', '127.0.0.1', port);
  try {
    const udp = dgram.createSocket('udp4');
    const ask = (q: Buffer) => new Promise<any>((resolve) => { udp.once('message', (m) => resolve(dnsPacket.decode(m))); udp.send(q, port, '127.0.0.1'); });
    const one = await ask(query('one'));
    assert.equal(one.answers[0].data, '10.1.1.1');
    const big = await ask(query('big'));
    assert.ok(big.flags & dnsPacket.TRUNCATED_RESPONSE, 'TC set');
    assert.equal(big.answers.length, 0);
    udp.close();
    // TCP: two-byte length prefix, all 60 addresses.
    const viaTcp = await new Promise<any>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      const q = query('big');
      const len = Buffer.alloc(2); len.writeUInt16BE(q.length);
      let buf = Buffer.alloc(0);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { c.end(); resolve(dnsPacket.decode(buf.subarray(2))); }
      });
      c.on('error', reject);
      c.write(Buffer.concat([len, q]));
    });
    assert.equal(viaTcp.answers.length, 60);
    assert.equal(truncateForUdp(query('one'), Buffer.alloc(100)).length, 100);
  } finally {
    await dns.closeAll();
  }
  assert.equal(dns.listening('n'), false);
});
