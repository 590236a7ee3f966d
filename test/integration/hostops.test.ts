/**
 * berth-hostops, the helper that mounts and makes named network namespaces for the daemon:
 * real mounts and namespaces, checked from the kernel's side (mountinfo, ip(8)).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNetns, deleteNetns, makeFifo, mount, runTool, spawnDetached, umount, HostOpError, MNT_DETACH, MS_BIND } from '../../src/hostops/index.js';
import { Socket } from 'node:net';

const mounted = (p: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

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
    const helper = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('berth-hostops') && readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(process.pid); } catch { return false; }
    });
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
