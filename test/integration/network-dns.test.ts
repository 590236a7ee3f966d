/**
 * Embedded DNS follows a container across network changes, through the real docker CLI and busybox.
 * A container's nameserver is one user network's DNS server (its gateway): after that network is
 * left, or removed, the container still resolves the names of the networks it stays on; a container
 * that joins its first user network starts using embedded DNS. The daemon gets its own bridges and
 * subnets (10.207–10.210); queries go only to their gateways, and the networks that could relay a
 * name to the host's resolvers are never asked for an unknown one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startBerthd, importBusybox, type Berthd } from './helpers/berthd.js';

let d: Berthd;
/** A third octet whose /24s in 10.207–10.210 no other bridge on the host routes. */
const sub = (() => {
  const routes = execFileSync('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const o = 20 + Math.floor(Math.random() * 200);
    if (![207, 208, 209, 210].some((b) => routes.includes(`10.${b}.${o}.`))) return o;
  }
  throw new Error('no free test subnet');
})();
const gw = (b: number) => `10.${b}.${sub}.1`;

function ok(args: string[], timeout = 30_000): string {
  const r = d.docker(args, { timeout });
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}\n${r.stdout}\n${d.log().slice(-2000)}`);
  return r.stdout.trim();
}

function ipOn(container: string, network: string): string {
  return ok(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]);
}

/** `nslookup name` inside the container; its exit status and output. */
function lookup(container: string, name: string, server?: string): { status: number | null; out: string } {
  const r = d.docker(['exec', container, 'nslookup', name, ...(server ? [server] : [])], { timeout: 20_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

function nameservers(container: string): string[] {
  return ok(['exec', container, 'cat', '/etc/resolv.conf']).split('\n')
    .map((l) => /^nameserver\s+(\S+)/.exec(l.trim())?.[1]).filter((x): x is string => !!x);
}

function otherLines(container: string): string[] {
  return ok(['exec', container, 'cat', '/etc/resolv.conf']).split('\n').filter((l) => l.trim() && !/^\s*nameserver\s/.test(l));
}

before(async () => {
  d = await startBerthd();
  importBusybox(d);
});

after(async () => {
  await d?.cleanup();
});

test('a container keeps name resolution after leaving the network its resolv.conf named', () => {
  // n2 is internal: without a default route the container cannot reach n1's gateway any more.
  ok(['network', 'create', '--subnet', `10.207.${sub}.0/24`, 'dns-n1']);
  ok(['network', 'create', '--internal', '--subnet', `10.208.${sub}.0/24`, 'dns-n2']);
  ok(['run', '-d', '--name', 'dns-t', '--network', 'dns-n2', 'busybox', 'sleep', '300']);
  ok(['run', '-d', '--name', 'dns-c', '--network', 'dns-n1', 'busybox', 'sleep', '300']);
  ok(['network', 'connect', 'dns-n2', 'dns-c']);
  assert.deepEqual(nameservers('dns-c'), [gw(207)]);
  const t = ipOn('dns-t', 'dns-n2');
  let r = lookup('dns-c', 'dns-t');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.out.includes(t), r.out);

  ok(['network', 'disconnect', 'dns-n1', 'dns-c']);
  assert.deepEqual(nameservers('dns-c'), [gw(208)]);
  r = lookup('dns-c', 'dns-t');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.out.includes(t), r.out);

  // The network it left is removed: nothing changes for the container.
  ok(['network', 'rm', 'dns-n1']);
  r = lookup('dns-c', 'dns-t');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.out.includes(t), r.out);
  const ping = d.docker(['exec', 'dns-c', 'ping', '-c', '1', '-W', '2', 'dns-t'], { timeout: 20_000 });
  assert.equal(ping.status, 0, ping.stdout + ping.stderr);

  ok(['rm', '-f', 'dns-c']);
});

test('removing the first of two normal networks after a disconnect keeps resolution; answers stay scoped', () => {
  ok(['network', 'create', '--subnet', `10.209.${sub}.0/24`, 'dns-m1']);
  ok(['network', 'create', '--subnet', `10.210.${sub}.0/24`, 'dns-m2']);
  ok(['run', '-d', '--name', 'dns-u', '--network', 'dns-m2', 'busybox', 'sleep', '300']);
  ok(['run', '-d', '--name', 'dns-v', '--network', 'dns-m1', 'busybox', 'sleep', '300']);
  ok(['network', 'connect', 'dns-m2', 'dns-v']);
  assert.deepEqual(nameservers('dns-v'), [gw(209)]);
  ok(['network', 'disconnect', 'dns-m1', 'dns-v']);
  ok(['network', 'rm', 'dns-m1']);
  assert.deepEqual(nameservers('dns-v'), [gw(210)]);
  const r = lookup('dns-v', 'dns-u');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.out.includes(ipOn('dns-u', 'dns-m2')), r.out);

  // A DNS server answers a container's names only to containers that share a network with it:
  // dns-x (on dns-m2 only) asks the internal dns-n2's server for dns-t (on dns-n2) and gets no
  // address (that server relays nothing, so the query never leaves the machine).
  const x = ok(['run', '-d', '--name', 'dns-x', '--network', 'dns-m2', 'busybox', 'sleep', '300']);
  assert.ok(x);
  const t = ipOn('dns-t', 'dns-n2');
  const denied = lookup('dns-x', 'dns-t', gw(208));
  assert.ok(!denied.out.includes(`Address: ${t}`) && !denied.out.includes(`Address 1: ${t}`), denied.out);
  ok(['rm', '-f', 'dns-x', 'dns-v']);
});

test('a container from the default bridge switches to embedded DNS when it joins a user network', () => {
  ok(['run', '-d', '--name', 'dns-b', 'busybox', 'sleep', '300']);
  const outside = nameservers('dns-b');
  const before = otherLines('dns-b');
  assert.ok(!outside.includes(gw(208)), outside.join(' '));
  ok(['network', 'connect', 'dns-n2', 'dns-b']);
  assert.deepEqual(nameservers('dns-b'), [gw(208)]);
  const r = lookup('dns-b', 'dns-t');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.out.includes(ipOn('dns-t', 'dns-n2')), r.out);
  // Only the nameserver lines change: search and options stay as they were.
  assert.deepEqual(otherLines('dns-b'), before);
  // Leaving its only user network gives it back the resolvers it started with.
  ok(['network', 'disconnect', 'dns-n2', 'dns-b']);
  assert.deepEqual(nameservers('dns-b'), outside);
  // A resolv.conf the user changed is left alone, as Docker leaves it.
  ok(['exec', 'dns-b', 'sh', '-c', `echo nameserver ${gw(207).replace(/1$/, '99')} > /etc/resolv.conf`]);
  ok(['network', 'connect', 'dns-n2', 'dns-b']);
  assert.deepEqual(nameservers('dns-b'), [gw(207).replace(/1$/, '99')]);
  ok(['rm', '-f', 'dns-b', 'dns-t', 'dns-u']);
  ok(['network', 'rm', 'dns-n2', 'dns-m2']);
});
