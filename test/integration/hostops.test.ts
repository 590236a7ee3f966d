/**
 * berth-hostops, the helper that mounts and makes named network namespaces and container endpoints
 * (veth pairs through rtnetlink) for the daemon: real mounts, namespaces, bridges and veths,
 * checked from the kernel's side (mountinfo, ip(8)).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNetns, addVethPair, deleteLinkByName, deleteNetns, loopbackUp, makeFifo, mount, runTool, spawnDetached, umount, HostOpError, MNT_DETACH, MS_BIND } from '../../src/hostops/index.js';
import { Socket } from 'node:net';

const mounted = (p: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

/** The helper process of this test process. */
function helperPid(): string | undefined {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('berth-hostops') && readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(process.pid); } catch { return false; }
  });
}

test('mount, bind and umount through the helper; errors carry the errno name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-hostops-'));
  const target = join(dir, 'm');
  const bound = join(dir, 'b');
  execFileSync('mkdir', ['-p', target, bound]);
  try {
    await mount({ source: 'tmpfs', target, fstype: 'tmpfs', data: 'size=1m,mode=0700' });
    assert.ok(mounted(target), 'the tmpfs is in mountinfo');
    writeFileSync(join(target, 'f'), 'hello');
    await mount({ source: target, target: bound, flags: MS_BIND });
    assert.equal(readFileSync(join(bound, 'f'), 'utf8'), 'hello', 'the bind mount shows the tmpfs');
    await umount(bound);
    await umount(target, MNT_DETACH);
    assert.ok(!mounted(target) && !mounted(bound));
    await assert.rejects(umount(target), (e: HostOpError) => e.code === 'EINVAL');
    await assert.rejects(umount(join(dir, 'missing')), (e: HostOpError) => e.code === 'ENOENT');
    await assert.rejects(mount({ source: 'x', target, fstype: 'no-such-fs' }), (e: HostOpError) => e.code === 'ENODEV');
    // Concurrent requests are all answered, each with its own result.
    const targets = [0, 1, 2, 3].map((i) => join(dir, `c${i}`));
    execFileSync('mkdir', targets);
    await Promise.all(targets.map((t) => mount({ source: 'tmpfs', target: t, fstype: 'tmpfs' })));
    assert.ok(targets.every(mounted));
    await Promise.all(targets.map((t) => umount(t)));
    assert.ok(!targets.some(mounted));
  } finally {
    for (const p of [bound, target]) if (mounted(p)) execFileSync('umount', ['-l', p]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a named network namespace made by the helper is one ip(8) can enter, and it is removed again', async () => {
  const name = `berth-hostops-test-${process.pid}`;
  const path = `/var/run/netns/${name}`;
  try {
    await addNetns(path);
    assert.ok(existsSync(path));
    const links = execFileSync('ip', ['-n', name, '-o', 'link', 'show'], { encoding: 'utf8' });
    assert.match(links, /: lo: /);
    assert.doesNotMatch(links, /: eth0/, 'a fresh namespace, not the host one');
    // The helper itself went back to the host's namespace.
    const helper = helperPid();
    assert.ok(helper, 'the helper runs as a child of this process');
    assert.equal(readlinkSync(`/proc/${helper}/ns/net`), readlinkSync('/proc/self/ns/net'));
    assert.ok(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(name));
    await assert.rejects(addNetns(path), (e: HostOpError) => e.code === 'EEXIST');
    await deleteNetns(path);
    assert.ok(!existsSync(path));
    await deleteNetns(path);   // already gone is fine
  } finally {
    if (existsSync(path)) execFileSync('ip', ['netns', 'del', name]);
  }
});

const ipJson = (args: string[]): any[] => JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8' }) || '[]');
const linkThere = (name: string) => existsSync(`/sys/class/net/${name}`);

test('a container endpoint made by the helper through rtnetlink is what ip(8) shows, and a failure leaves no veth behind', async () => {
  const tag = (process.pid % 100000).toString(36);
  const bridge = `bht${tag}`, ns = `berth-hostops-veth-${process.pid}`, ns2 = `${ns}-b`;
  const path = `/var/run/netns/${ns}`, path2 = `/var/run/netns/${ns2}`;
  const hosts = [0, 1, 2, 3, 4, 5].map((i) => `vht${tag}${i}`);
  const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
  try {
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    execFileSync('ip', ['link', 'set', bridge, 'up']);
    await addNetns(path);
    await addVethPair({
      netnsPath: path, hostName: hosts[0], ifName: 'eth0', bridge, mac: '02:42:0a:0b:0c:02', mtu: 1400,
      addressCidr: `${subnet}.2/24`, gateway: `${subnet}.1`, loopbackUp: true,
    });
    const [host] = ipJson(['-d', 'link', 'show', hosts[0]]);
    assert.equal(host.master, bridge, 'the host end is in the bridge');
    assert.ok(host.flags.includes('UP'));
    assert.equal(host.mtu, 1400);
    assert.equal(host.linkinfo.info_kind, 'veth');
    assert.equal(host.linkinfo.info_slave_data.hairpin, true, 'hairpin on');
    const [peer] = ipJson(['-n', ns, 'addr', 'show', 'eth0']);
    assert.equal(peer.address, '02:42:0a:0b:0c:02');
    assert.equal(peer.mtu, 1400);
    assert.ok(peer.flags.includes('UP'));
    assert.deepEqual(peer.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`), [`${subnet}.2/24`]);
    assert.ok(ipJson(['-n', ns, 'link', 'show', 'lo'])[0].flags.includes('UP'), 'lo is up');
    assert.deepEqual(ipJson(['-n', ns, 'route', 'show', 'default']).map((r: any) => [r.gateway, r.dev]), [[`${subnet}.1`, 'eth0']]);
    assert.ok(!linkThere('eth0') || ipJson(['link', 'show', 'eth0'])[0].address !== '02:42:0a:0b:0c:02', 'the peer is not in the host namespace');
    // It carries traffic: the namespace reaches the bridge's address.
    execFileSync('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '5', `${subnet}.1`]);
    // The helper went back to the host's namespace.
    assert.equal(readlinkSync(`/proc/${helperPid()}/ns/net`), readlinkSync('/proc/self/ns/net'));

    // A second endpoint that replaces the default route; without the default MTU asked for.
    await addVethPair({
      netnsPath: path, hostName: hosts[1], ifName: 'eth1', bridge, mac: '02:42:0a:0b:0c:03',
      addressCidr: `${subnet}.3/24`, gateway: `${subnet}.1`, loopbackUp: false, replaceDefaultRoute: true,
    });
    assert.deepEqual(ipJson(['-n', ns, 'route', 'show', 'default']).map((r: any) => r.dev), ['eth1']);
    assert.equal(ipJson(['-n', ns, 'link', 'show', 'eth1'])[0].mtu, 1500);

    // Failures: the errno, the step, and no host end left.
    const fails: [Partial<Parameters<typeof addVethPair>[0]>, string, RegExp][] = [
      [{ bridge: `nobr${tag}` }, 'ENODEV', /bridge/],
      [{ hostName: hosts[0] }, 'EEXIST', /File exists/],             // the host name in use
      [{ ifName: 'eth0' }, 'EEXIST', /File exists/],                 // the peer's name in use in the namespace
      [{ gateway: `${subnet}.1` }, 'EEXIST', /default route/],       // a default route there already, not replaced
      [{ netnsPath: `/var/run/netns/no-such-${ns}` }, 'ENOENT', /namespace/],
      [{ addressCidr: `${subnet}.9` }, 'EINVAL', /./],
    ];
    for (const [change, code, message] of fails) {
      const spec = { netnsPath: path, hostName: hosts[2], ifName: 'eth2', bridge, mac: '02:42:0a:0b:0c:04', addressCidr: `${subnet}.4/24`, loopbackUp: false, ...change };
      await assert.rejects(addVethPair(spec), (e: HostOpError) => e.code === code && message.test(e.message), `${JSON.stringify(change)} fails with ${code}`);
      assert.ok(!linkThere(hosts[2]), `no host end left after ${JSON.stringify(change)}`);
      assert.ok(linkThere(hosts[0]), 'the endpoint already there is untouched');
    }
    assert.deepEqual(ipJson(['-n', ns, 'link', 'show']).map((l: any) => l.ifname).sort(), ['eth0', 'eth1', 'lo']);

    // Deleting a host end takes the peer with it; a second time: ENODEV.
    await deleteLinkByName(hosts[1]);
    assert.ok(!linkThere(hosts[1]));
    assert.deepEqual(ipJson(['-n', ns, 'link', 'show']).map((l: any) => l.ifname).sort(), ['eth0', 'lo']);
    await assert.rejects(deleteLinkByName(hosts[1]), (e: HostOpError) => e.code === 'ENODEV');

    // The loopback of a fresh namespace, set up alone.
    await addNetns(path2);
    assert.ok(!ipJson(['-n', ns2, 'link', 'show', 'lo'])[0].flags.includes('UP'));
    await loopbackUp(path2);
    assert.ok(ipJson(['-n', ns2, 'link', 'show', 'lo'])[0].flags.includes('UP'));
    execFileSync('ip', ['netns', 'exec', ns2, 'busybox', 'ping', '-c', '1', '-W', '5', '127.0.0.1']);
    await assert.rejects(loopbackUp(`/var/run/netns/no-such-${ns}`), (e: HostOpError) => e.code === 'ENOENT');
  } finally {
    for (const h of hosts) if (linkThere(h)) execFileSync('ip', ['link', 'del', h]);
    if (linkThere(bridge)) execFileSync('ip', ['link', 'del', bridge]);
    for (const n of [ns, ns2]) if (existsSync(`/var/run/netns/${n}`)) execFileSync('ip', ['netns', 'del', n]);
  }
});

test('tools run through the helper: stdin, stdout and stderr apart, exit status, side by side, and a long input', async () => {
  const r = await runTool('sh', ['-c', 'read a; echo "out:$a"; echo "err:$a" >&2; exit 3'], 'hello\n');
  assert.deepEqual(r, { code: 3, stdout: 'out:hello\n', stderr: 'err:hello\n' });
  // Several at once, each answered with its own output (a slow one does not hold up the others' answers).
  const many = await Promise.all([0, 1, 2, 3, 4].map((i) => runTool('sh', ['-c', `sleep 0.0${5 - i}; printf ${i}`])));
  assert.deepEqual(many.map((x) => x.stdout), ['0', '1', '2', '3', '4']);
  // Output larger than a pipe's buffer comes back whole.
  const big = await runTool('head', ['-c', '300000', '/dev/zero']);
  assert.equal(big.stdout.length, 300000);
  // Input too long for the helper's pipe is run from this process instead, with the same result.
  const input = 'x'.repeat(70000);
  assert.equal((await runTool('wc', ['-c'], input)).stdout.trim(), '70000');
  const missing = await runTool('/no/such/tool', []).catch((e: HostOpError) => e);
  assert.ok(missing instanceof HostOpError ? missing.code === 'ENOENT' : missing.code === 127, 'a tool that does not exist is reported');
});

test('a program started detached by the helper writes to a FIFO as its fd 3, in its own session, with the env and cwd asked for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-hostops-'));
  const fifo = join(dir, 'sync');
  try {
    await makeFifo(fifo);
    const reader = new Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    let got = '';
    const ended = new Promise<void>((resolve) => { reader.on('data', (d) => { got += d; }); reader.on('end', resolve); reader.on('close', () => resolve()); });
    await spawnDetached({
      cmd: '/bin/sh', args: ['-c', 'echo "$BERTH_T $(pwd) $(ps -o sid= -p $$ | tr -d " ") $$" >&3; echo oops >&2'],
      cwd: dir, env: { BERTH_T: 'hello' }, stderrPath: join(dir, 'err'), fd3Path: fifo,
    });
    await ended;
    const [word, cwd, sid, pid] = got.trim().split(' ');
    assert.equal(word, 'hello');
    assert.equal(cwd, dir);
    assert.equal(sid, pid, 'the program leads its own session');
    await waitForFile(join(dir, 'err'), 'oops\n');
    // No reader: refused at once rather than hanging.
    await makeFifo(join(dir, 'lonely'));
    await assert.rejects(spawnDetached({ cmd: '/bin/true', args: [], cwd: dir, env: {}, stderrPath: join(dir, 'err2'), fd3Path: join(dir, 'lonely') }),
      (e: HostOpError) => e.code === 'ENXIO');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitForFile(path: string, want: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try { if (readFileSync(path, 'utf8') === want) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(readFileSync(path, 'utf8'), want);
}
