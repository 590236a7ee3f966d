/**
 * Resources and security through the real docker CLI, enforced by the kernel: OOM kill at -m,
 * a pids limit against a fork storm, Docker's default seccomp profile (unshare refused unless
 * privileged or unconfined), --read-only with a tmpfs, --init, capabilities, no-new-privileges,
 * ulimits, sysctls, devices, shm size, CPU quota in the cgroup, and Docker's errors for
 * impossible limits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

/** The block device this machine's root filesystem is on, found in /dev by its device number. */
function rootDisk(): { disk: string | undefined; rootDev: number } {
  const rootDev = statSync('/').dev;
  const disk = readdirSync('/dev').map((n) => `/dev/${n}`).find((p) => { try { const st = statSync(p); return st.isBlockDevice() && st.rdev === rootDev; } catch { return false; } });
  return { disk, rootDev };
}

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

  test('/proc and /sys paths masked and read-only as in Docker; systempaths=unconfined and --privileged lift it, and inspect says so', () => {
    // /proc/timer_list masked (/dev/null bound over it: empty), /proc/sys read-only.
    const confined = run(['busybox', 'sh', '-c', 'head -c 1 /proc/timer_list | wc -c; grep " /proc/sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1']);
    assert.equal(confined.stdout, '0\nro\n', confined.stderr);
    for (const flags of [['--security-opt', 'systempaths=unconfined'], ['--privileged']]) {
      const open = run([...flags, 'busybox', 'sh', '-c', 'head -c 1 /proc/timer_list | wc -c; grep -c " /proc/sys " /proc/mounts']);
      assert.equal(open.stdout, '1\n0\n', `${flags}: ${open.stderr}`);
    }
    assert.equal(d.docker(['create', '--name', 'paths-default', 'busybox']).status, 0);
    assert.equal(d.docker(['create', '--name', 'paths-open', '--security-opt', 'systempaths=unconfined', 'busybox']).status, 0);
    assert.equal(d.docker(['create', '--name', 'paths-priv', '--privileged', 'busybox']).status, 0);
    const paths = (n: string) => d.docker(['inspect', '-f', '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}}', n]).stdout.trim();
    assert.match(paths('paths-default'), /^\["\/proc\/asound",.*"\/proc\/kcore".*\] \["\/proc\/bus",.*"\/proc\/sys".*\]$/);
    assert.equal(paths('paths-open'), '[] []');
    assert.equal(paths('paths-priv'), 'null null');
    assert.equal(d.docker(['rm', 'paths-default', 'paths-open', 'paths-priv']).status, 0);
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
  test('--pid, --ipc and --uts: the host\'s namespaces, another container\'s, none, and Docker\'s refusals', async () => {
    const host = (ns: string) => readlinkSync(`/proc/self/ns/${ns}`);
    const out = (args: string[]) => { const r = run(args); assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`); return r.stdout; };
    // The host's: same namespace as this process, all its processes, its /dev/shm, its name.
    const pidHost = out(['--pid', 'host', 'busybox', 'sh', '-c', `readlink /proc/self/ns/pid; test -d /proc/${process.pid} && echo sees-the-test`]);
    assert.equal(pidHost, `${host('pid')}\nsees-the-test\n`);
    assert.notEqual(out(['busybox', 'readlink', '/proc/self/ns/pid']).trim(), host('pid'));
    assert.equal(out(['--ipc', 'host', 'busybox', 'readlink', '/proc/self/ns/ipc']).trim(), host('ipc'));
    assert.equal(out(['--uts', 'host', 'busybox', 'hostname']).trim(), hostname());
    // --ipc none: a namespace of its own and no /dev/shm at all.
    assert.equal(run(['--ipc', 'none', 'busybox', 'ls', '/dev/shm']).status, 1);

    // Another container's: a shareable donor's IPC namespace and /dev/shm, its PID namespace.
    const donor = d.docker(['run', '-d', '--name', 'donor', '--ipc', 'shareable', 'busybox', 'sh', '-c', 'echo from-donor > /dev/shm/note; exec sleep 1000']);
    assert.equal(donor.status, 0, donor.stderr);
    const private_ = d.docker(['run', '-d', '--name', 'private', 'busybox', 'sleep', '1000']);
    assert.equal(private_.status, 0, private_.stderr);
    try {
      const donorIpc = d.docker(['exec', 'donor', 'readlink', '/proc/self/ns/ipc']).stdout.trim();
      const joined = out(['--ipc', 'container:donor', '--pid', 'container:donor', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/ipc; cat /dev/shm/note; ps -o args | grep -x "sleep 1000"']);
      assert.equal(joined, `${donorIpc}\nfrom-donor\nsleep 1000\n`);
      assert.equal(d.docker(['inspect', '-f', '{{.HostConfig.IpcMode}}/{{.HostConfig.PidMode}}', 'private']).stdout.trim(), 'private/');
      const refusals: [string[], RegExp][] = [
        [['--ipc', 'container:private'], /can't join IPC of container [0-9a-f]{64}: non-shareable IPC/],
        [['--pid', 'container:nowhere'], /No such container: nowhere/],
      ];
      for (const [args, re] of refusals) {
        const r = run([...args, 'busybox', 'true']);
        assert.equal(r.status, 125, args.join(' '));
        assert.match(r.stderr, re, args.join(' '));
      }
      assert.equal(d.docker(['stop', '-t', '0', 'private']).status, 0);
      const stopped = run(['--pid', 'container:private', 'busybox', 'true']);
      assert.match(stopped.stderr, /container [0-9a-f]{64} is not running/);
    } finally { d.docker(['rm', '-f', 'donor', 'private']); }
    // The donor's /dev/shm, a tmpfs on the host while it ran, is unmounted with it.
    assert.deepEqual(readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(d.dir) && / \S+\/shm tmpfs /.test(l)), []);
    // Modes Docker does not know are refused at create, by the API.
    for (const [field, value, msg] of [['PidMode', 'container', 'invalid PID mode: container'], ['IpcMode', 'bogus', 'invalid IPC mode: bogus'], ['UTSMode', 'private', 'invalid UTS mode: private']]) {
      const r = await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { [field]: value } }), { 'Content-Type': 'application/json' });
      assert.equal(r.status, 400, field);
      assert.equal(r.json.message, msg);
    }
    assert.equal(out(['--oom-score-adj', '500', 'busybox', 'cat', '/proc/self/oom_score_adj']), '500\n');
  });
  test('--cgroup-parent, --cgroupns private, --device-cgroup-rule, blkio throttles, annotations and --runtime', async () => {
    const parent = `/berth-test-${d.dir.split('-').pop()}/custom`;   // below the daemon's, so the harness removes it
    const out = (args: string[]) => { const r = run(args); assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`); return r.stdout; };
    assert.match(out(['--cgroup-parent', parent, 'busybox', 'grep', ':memory:', '/proc/self/cgroup']), new RegExp(`^\\d+:memory:${parent}/[0-9a-f]{64}\\n$`));
    // Its own cgroup namespace: the container sees its cgroup as the root.
    assert.match(out(['--cgroupns', 'private', 'busybox', 'grep', ':memory:', '/proc/self/cgroup']), /^\d+:memory:\/\n$/);
    const devices = out(['--device-cgroup-rule', 'b 7:* rwm', 'busybox', 'cat', '/sys/fs/cgroup/devices/devices.list']);
    assert.ok(devices.split('\n').includes('b 7:* rwm'), devices);
    const { disk, rootDev } = rootDisk();
    assert.ok(disk, 'the root filesystem\'s block device is in /dev');
    const mm = `${Math.floor(rootDev / 256) & 0xfff}:${(rootDev & 0xff) | ((rootDev >> 12) & 0xfff00)}`;
    const io = out(['--device-read-bps', `${disk}:1mb`, '--device-write-iops', `${disk}:100`, 'busybox', 'cat', '/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device', '/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device']);
    assert.equal(io, `${mm} 1048576\n${mm} 100\n`);
    const created = d.docker(['create', '--name', 'annotated', '--annotation', 'org.example.team=infra', '--cgroup-parent', parent, 'busybox', 'true']);
    assert.equal(created.status, 0, created.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{json .HostConfig.Annotations}} {{.HostConfig.CgroupParent}} {{.HostConfig.Runtime}}', 'annotated']).stdout.trim(), `{"org.example.team":"infra"} ${parent} runc`);
    d.docker(['rm', 'annotated']);
    const refusals: [string[], RegExp][] = [
      [['--runtime', 'nosuch'], /unknown or invalid runtime name: nosuch/],
      [['--device-read-bps', '/dev/no-such-disk:1mb'], /stat \/dev\/no-such-disk: no such file or directory/],
    ];
    for (const [args, re] of refusals) {
      const r = d.docker(['create', ...args, 'busybox', 'true']);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    for (const [hc, msg] of [[{ DeviceCgroupRules: ['x 1:3 r'] }, "invalid device cgroup rule format: 'x 1:3 r'"], [{ CgroupnsMode: 'bogus' }, 'invalid cgroup namespace mode: bogus'], [{ Annotations: { '': 'v' } }, 'invalid Annotations: the empty string is not permitted as an annotation key'],
      [{ UsernsMode: 'private' }, 'invalid USER mode: private'], [{ StorageOpt: { size: '1G' } }, "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"],
      [{ Isolation: 'hyperv' }, 'Invalid isolation: "hyperv" - linux only supports \'default\''],
      [{ CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 2000 }, 'cpu real-time runtime cannot be higher than cpu real-time period']] as const) {
      const r = await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: hc }), { 'Content-Type': 'application/json' });
      assert.equal(r.status, 400, JSON.stringify(hc));
      assert.equal(r.json.message, msg);
    }
  });
  test('--gpus fails the start as dockerd without a device driver does; --volume-driver names the driver of the volumes -v makes', () => {
    const gpu = d.docker(['run', '--name', 'gpu', '--gpus', 'all', 'busybox', 'true']);
    assert.equal(gpu.status, 125);
    assert.match(gpu.stderr, /could not select device driver "" with capabilities: \[\[gpu\]\]/);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{(index .HostConfig.DeviceRequests 0).Count}}', 'gpu']).stdout.trim(), 'created 128 -1');
    d.docker(['rm', 'gpu']);
    for (const volume of ['fresh-vol:/x', '/anon']) {
      const r = d.docker(['run', '--rm', '--pull', 'never', '--volume-driver', 'nosuch', '-v', volume, 'busybox', 'true']);
      assert.equal(r.status, 125, volume);
      assert.match(r.stderr, /error looking up volume plugin nosuch: plugin "nosuch" not found/);
    }
    assert.ok(!d.docker(['volume', 'ls', '-q']).stdout.split('\n').includes('fresh-vol'));
    const local = d.docker(['run', '--name', 'localdrv', '--volume-driver', 'local', '-v', 'fresh-vol:/x', 'busybox', 'true']);
    assert.equal(local.status, 0, local.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.HostConfig.VolumeDriver}} {{(index .Mounts 0).Driver}}', 'localdrv']).stdout.trim(), 'local local');
    d.docker(['rm', '-v', 'localdrv']);
    d.docker(['volume', 'rm', 'fresh-vol']);
  });

  test('create warnings as dockerd gives them: ports with the host network, OOM killer off without a limit, blkio weights the host cannot apply', async () => {
    const warn = (args: string[]) => {
      const r = d.docker(['create', ...args, 'busybox', 'true']);
      assert.equal(r.status, 0, r.stderr);
      d.docker(['rm', r.stdout.trim()]);
      return r.stderr;
    };
    assert.equal(warn(['-p', '8099:80', '--network', 'host']), 'WARNING: Published ports are discarded when using host network mode\n');
    assert.equal(warn(['--oom-kill-disable']), 'WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.\n');
    assert.equal(warn(['--oom-kill-disable', '-m', '64m']), '');
    const weight = existsSync('/sys/fs/cgroup/blkio/blkio.weight');
    assert.equal(warn(['--blkio-weight', '300']), weight ? '' : 'WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n');
    const created = await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { BlkioWeight: 300 } }), { 'Content-Type': 'application/json' });
    assert.equal(created.json.Warnings.length, weight ? 0 : 1);
    assert.equal((await d.api('GET', `/containers/${created.json.Id}/json`)).json.HostConfig.BlkioWeight, weight ? 300 : 0, 'a discarded weight is not shown as set');
    d.docker(['rm', created.json.Id]);
  });

  test('a limit the runtime refuses fails the start with dockerd\'s words for a runtime error', () => {
    const r = d.docker(['run', '--name', 'shares1', '--cpu-shares', '1', 'busybox', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: .*the minimum allowed cpu-shares is 2: unknown/);
    assert.match(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', 'shares1']).stdout, /^created 128 failed to create task for container: .*cpu-shares/);
    d.docker(['rm', 'shares1']);
  });

  test('--privileged sees the host devices; an unprivileged container only the standard ones', () => {
    const { disk } = rootDisk();
    assert.ok(disk);
    const priv = run(['--privileged', 'busybox', 'sh', '-c', `test -b ${disk} && echo has-disk`]);
    assert.equal(priv.stdout, 'has-disk\n', priv.stderr);
    assert.notEqual(run(['busybox', 'test', '-e', disk!]).status, 0);
  });
});
