/**
 * Resources and security through the real docker CLI, enforced by the kernel: OOM kill at -m,
 * a pids limit against a fork storm, Docker's default seccomp profile (unshare refused unless
 * privileged or unconfined), --read-only with a tmpfs, --init, capabilities, no-new-privileges,
 * ulimits, sysctls, devices, shm size, CPU quota in the cgroup, and Docker's errors for
 * impossible limits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

describe('resources and security', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  const run = (args: string[]) => d.docker(['run', '--rm', ...args], { timeout: 60_000 });
  const capEff = (out: string) => BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(out)![1]);

  test('-m 32m: allocating more is OOM-killed, inspect says OOMKilled and 137', () => {
    const r = d.docker(['run', '--name', 'oom', '-m', '32m', 'busybox', 'sh', '-c', 'tail /dev/zero']);
    assert.equal(r.status, 137, r.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}', 'oom']).stdout.trim(), 'true 137 33554432');
    assert.equal(d.docker(['rm', 'oom']).status, 0);
  });

  test('--pids-limit 10 stops a fork storm', () => {
    const r = run(['--pids-limit', '10', 'busybox', 'sh', '-c', 'for i in $(seq 1 30); do sleep 2 & done; wait; echo finished']);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  test('default seccomp refuses unshare; --privileged and seccomp=unconfined allow it', () => {
    const confined = run(['busybox', 'unshare', '-r', 'true']);
    assert.notEqual(confined.status, 0);
    assert.match(confined.stderr, /Operation not permitted/);
    const status = run(['busybox', 'grep', 'Seccomp:', '/proc/self/status']);
    assert.match(status.stdout, /Seccomp:\s+2/);
    assert.equal(run(['--privileged', 'busybox', 'unshare', '-r', 'true']).status, 0);
    assert.equal(run(['--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-r', 'true']).status, 0);
    const mount = run(['busybox', 'sh', '-c', 'mkdir -p /mnt && mount -t tmpfs none /mnt']);
    assert.notEqual(mount.status, 0);
    assert.equal(run(['--privileged', 'busybox', 'sh', '-c', 'mkdir -p /mnt && mount -t tmpfs none /mnt']).status, 0);
  });

  test('--read-only refuses writes outside tmpfs', () => {
    const r = run(['--read-only', '--tmpfs', '/tmp', 'busybox', 'sh', '-c', 'echo ok > /tmp/x && cat /tmp/x; echo no > /etc/x']);
    assert.equal(r.stdout, 'ok\n');
    assert.match(r.stderr, /Read-only file system/);
    assert.notEqual(r.status, 0);
  });

  test('--init runs docker-init as PID 1; capabilities, no-new-privileges, ulimits, sysctls, shm, devices', () => {
    assert.match(run(['--init', 'busybox', 'cat', '/proc/1/cmdline']).stdout, /docker-init/);
    assert.equal(capEff(run(['--cap-drop', 'ALL', 'busybox', 'cat', '/proc/self/status']).stdout), 0n);
    const netAdmin = capEff(run(['--cap-add', 'NET_ADMIN', 'busybox', 'cat', '/proc/self/status']).stdout);
    assert.ok(netAdmin & (1n << 12n), 'CAP_NET_ADMIN added');
    assert.match(run(['--security-opt', 'no-new-privileges', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']).stdout, /NoNewPrivs:\s+1/);
    assert.equal(run(['--ulimit', 'nofile=512:1024', 'busybox', 'sh', '-c', 'ulimit -n']).stdout.trim(), '512');
    assert.equal(run(['--sysctl', 'net.ipv4.ip_unprivileged_port_start=99', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']).stdout.trim(), '99');
    assert.match(run(['--shm-size', '16m', 'busybox', 'sh', '-c', "grep ' /dev/shm ' /proc/mounts"]).stdout, /size=16384k/);
    const dev = run(['--device', '/dev/null:/dev/mynull', 'busybox', 'sh', '-c', 'test -c /dev/mynull && echo x > /dev/mynull && echo written']);
    assert.equal(dev.stdout, 'written\n', dev.stderr);
  });

  test('--cpus and --cpu-shares land in the cgroup', () => {
    const r = d.docker(['run', '-d', '--name', 'cpu', '--cpus', '0.5', '--cpu-shares', '512', 'busybox', 'sleep', '30']);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    const parent = '/berth-test-' + d.dir.split('-').pop();
    const base = ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu'].find((b) => existsSync(join(b, parent, id)));
    if (base) {
      assert.equal(readFileSync(join(base, parent, id, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
      assert.equal(readFileSync(join(base, parent, id, 'cpu.shares'), 'utf8').trim(), '512');
    } else {
      const max = readFileSync(join('/sys/fs/cgroup', parent, id, 'cpu.max'), 'utf8').trim();
      assert.equal(max, '50000 100000');
    }
    assert.equal(d.docker(['rm', '-f', 'cpu']).status, 0);
  });

  test('impossible limits and bad options are refused with Docker\'s messages', () => {
    const cases: [string[], RegExp][] = [
      [['--cpus', '100'], /Range of CPUs is from 0.01 to/],
      [['--cpuset-cpus', '0-63'], /Requested CPUs are not available/],
      [['-m', '1m'], /Minimum memory limit allowed is 6MB/],
      [['-m', '64m', '--memory-swap', '32m'], /Minimum memoryswap limit should be larger than memory limit/],
      [['--device', '/dev/no-such-device'], /error gathering device information/],
      [['--security-opt', 'bogus'], /security-opt|Invalid/i],
    ];
    for (const [args, re] of cases) {
      const r = d.docker(['create', ...args, 'busybox', 'true']);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal(d.docker(['ps']).status, 0);
  });
});
