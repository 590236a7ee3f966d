/**
 * Observing and changing containers through the real docker CLI: top (with ps args), stats
 * (one-shot, --no-stream, streamed), pause/unpause (freezer), update (cgroup limit and restart
 * policy), export, diff, and commit with author, message and changes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('top, stats, pause, update, export, diff, commit', () => {
  let d: Berthd;
  let id: string;
  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    const r = d.docker(['run', '-d', '--name', 'svc', '-m', '64m', 'busybox', 'sh', '-c', "trap 'exit 0' TERM; touch /newfile; rm /bin/vi; echo ready > /tmp/ready; while true; do sleep 0.1; done"]);
    assert.equal(r.status, 0, r.stderr);
    id = r.stdout.trim();
    await waitFor(() => d.docker(['exec', 'svc', 'cat', '/tmp/ready']).stdout === 'ready\n', 'container ready');
  });
  after(async () => { await d?.cleanup(); });
  const ok = (args: string[]) => { const r = d.docker(args); assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`); return r.stdout; };

  test('top lists the container\'s processes, with ps args', () => {
    const top = ok(['top', 'svc']);
    assert.match(top.split('\n')[0], /UID\s+PID\s+PPID/);
    assert.match(top, /sh -c trap/);
    assert.ok(!top.includes('berthd'), 'only the container\'s processes');
    assert.match(ok(['top', 'svc', 'aux']).split('\n')[0], /USER\s+PID\s+%CPU/);
    const stopped = d.docker(['create', '--name', 'idle', 'busybox', 'true']);
    assert.equal(stopped.status, 0);
    assert.match(d.docker(['top', 'idle']).stderr, /is not running/);
  });

  test('stats: Docker\'s JSON shape, --no-stream table, streaming', async () => {
    const one = await d.api('GET', `/containers/${id}/stats?stream=false&one-shot=true`);
    assert.equal(one.status, 200);
    for (const k of ['read', 'cpu_stats', 'precpu_stats', 'memory_stats', 'pids_stats', 'blkio_stats', 'name', 'id']) assert.ok(k in one.json, k);
    assert.equal(one.json.memory_stats.limit, 64 * 1024 * 1024);
    assert.ok(one.json.memory_stats.usage > 0);
    assert.ok(one.json.pids_stats.current >= 1);
    assert.ok(one.json.cpu_stats.cpu_usage.total_usage > 0);
    assert.ok(one.json.cpu_stats.system_cpu_usage > 0);
    // As dockerd on cgroup v1 (this host): every blkio list an array, ops named as the kernel names them.
    const blkio = one.json.blkio_stats;
    for (const k of ['io_service_bytes_recursive', 'io_serviced_recursive', 'io_queue_recursive', 'io_service_time_recursive', 'io_wait_time_recursive', 'io_merged_recursive', 'io_time_recursive', 'sectors_recursive']) {
      assert.ok(Array.isArray(blkio[k]), `${k}: ${JSON.stringify(blkio[k])}`);
      for (const e of blkio[k]) assert.ok(['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total', ''].includes(e.op), JSON.stringify(e));
    }
    // A container that does not run: answered at once, with zero times, as dockerd does.
    const idle = ok(['create', 'busybox', 'true']).trim();
    const still = await d.api('GET', `/containers/${idle}/stats?stream=false`);
    assert.deepEqual([still.status, still.json.read, still.json.preread], [200, '0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z']);
    ok(['rm', idle]);
    const table = ok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'svc']);
    assert.match(table, /^svc [\d.]+[KMG]iB \/ 64MiB \d+\n$/);
    const streamed = spawnSync('timeout', ['-s', 'KILL', '3', 'docker', 'stats', '--format', '{{.Name}}', 'svc'], { env: d.env, encoding: 'utf8' });
    assert.ok((streamed.stdout.match(/svc/g) ?? []).length >= 2, streamed.stdout);
  });

  test('pause freezes the processes, unpause thaws them', async () => {
    ok(['pause', 'svc']);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'svc']).trim(), 'paused');
    assert.match(ok(['ps', '--format', '{{.Status}}', '--filter', 'name=svc']), /Paused/);
    const exec = d.docker(['exec', 'svc', 'true']);
    assert.notEqual(exec.status, 0);
    assert.match(exec.stderr, /paused/);
    ok(['unpause', 'svc']);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'svc']).trim(), 'running');
    assert.equal(ok(['exec', 'svc', 'echo', 'thawed']), 'thawed\n');
    assert.match(d.docker(['unpause', 'svc']).stderr, /is not paused/);
  });

  test('update changes the cgroup limit and the restart policy', () => {
    ok(['update', '--memory', '128m', '--memory-swap', '256m', '--restart', 'on-failure:3', 'svc']);
    assert.equal(ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'svc']).trim(), '134217728 on-failure 3');
    const limit = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', 'svc'])).MemUsage;
    assert.match(limit, /128MiB/);
    assert.match(d.docker(['update', '--memory', '1m', 'svc']).stderr, /Minimum memory limit allowed is 6MB/);
    // As dockerd: a memory limit above the swap limit already set needs a swap limit with it.
    const above = d.docker(['update', '--memory', '300m', 'svc']);
    assert.notEqual(above.status, 0);
    assert.match(above.stderr, /Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/);
    assert.equal(ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}', 'svc']).trim(), '134217728 268435456', 'a refused update changes nothing');
    ok(['update', '--memory', '200m', 'svc']);
    assert.match(JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', 'svc'])).MemUsage, /200MiB/);
    // A limit given at create without swap gets as much swap again, shown by inspect and set in the cgroup.
    ok(['create', '--name', 'capped', '-m', '64m', 'busybox', 'cat', '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes']);
    assert.equal(ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}', 'capped']).trim(), '67108864 134217728');
    assert.equal(ok(['start', '-a', 'capped']), '134217728\n');
    ok(['rm', 'capped']);
  });

  test('diff shows added, changed and deleted paths; export gives the filesystem', () => {
    const diff = ok(['diff', 'svc']).split('\n').filter(Boolean);
    assert.ok(diff.includes('A /newfile'), diff.join(','));
    assert.ok(diff.includes('D /bin/vi'), diff.join(','));
    assert.ok(diff.includes('C /bin'), diff.join(','));
    assert.ok(!diff.some((l) => /etc\/(hosts|hostname|resolv.conf)/.test(l)), diff.join(','));
    const list = spawnSync('sh', ['-c', 'docker export svc | tar t'], { env: d.env, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(list.status, 0, list.stderr);
    assert.ok(list.stdout.split('\n').includes('newfile'));
    assert.ok(list.stdout.split('\n').includes('bin/sh'));
    assert.ok(!list.stdout.split('\n').includes('bin/vi'));
  });

  test('commit makes an image from the changes, with author, message and --change', () => {
    const img = ok(['commit', '-a', 'Ada <ada@example.com>', '-m', 'with newfile', '-c', 'ENV FOO=bar', '-c', 'CMD ["sh", "-c", "echo $FOO"]', 'svc', 'committed:v1']).trim();
    assert.match(img, /^sha256:[a-f0-9]{64}$/);
    assert.equal(ok(['run', '--rm', 'committed:v1']), 'bar\n');
    assert.equal(ok(['run', '--rm', 'committed:v1', 'sh', '-c', 'ls /newfile; ls /bin/vi 2>&1 || true']), '/newfile\nls: /bin/vi: No such file or directory\n');
    assert.equal(ok(['inspect', '-f', '{{.Author}}|{{.Comment}}|{{len .RootFS.Layers}}', 'committed:v1']).trim(), 'Ada <ada@example.com>|with newfile|2');
    assert.match(ok(['history', '--format', '{{.Comment}}', 'committed:v1']), /with newfile/);
    // As dockerd: the committed image's parent (still here) names the entry below it; older ones are <missing>.
    const ids = ok(['history', '-q', '--no-trunc', 'committed:v1']).trim().split('\n');
    const svcImage = ok(['inspect', '-f', '{{.Image}}', 'svc']).trim();
    assert.deepEqual(ids.slice(0, 2), [img, svcImage]);
    assert.ok(ids.slice(2).every((l) => l === '<missing>'), ids.join(','));
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'svc']).trim(), 'running', 'unpaused after commit');
  });
  test('as dockerd: /.dockerenv and /etc/mtab in a container (not in diff or commit), a bare -e NAME sets nothing, refusals at create', () => {
    assert.equal(ok(['run', '--rm', 'busybox', 'sh', '-c', 'test -f /.dockerenv && readlink /etc/mtab']), '/proc/mounts\n');
    const diff = ok(['diff', 'svc']).split('\n');
    assert.ok(!diff.some((l) => /dockerenv|mtab/.test(l)), diff.join(','));
    // The committed image of svc has neither: a container of it gets fresh ones.
    assert.equal(ok(['run', '--rm', 'committed:v1', 'sh', '-c', 'test -f /.dockerenv && readlink /etc/mtab']), '/proc/mounts\n');
    const env = d.docker(['run', '--rm', '-e', 'FOO=bar', '-e', 'BERTH_TEST_UNSET_VAR', 'busybox', 'sh', '-c', 'echo $FOO ${BERTH_TEST_UNSET_VAR-unset}']);
    assert.equal(env.stdout, 'bar unset\n', env.stderr);
    // PATH, HOSTNAME, HOME are the process's, not the config's: an image without Env gives a container without it.
    ok(['create', '--name', 'envless', '-h', 'hh', 'busybox', 'env']);
    assert.equal(ok(['inspect', '-f', '{{json .Config.Env}}', 'envless']).trim(), 'null');
    assert.equal(ok(['start', '-a', 'envless']), 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=hh\nHOME=/root\n');
    assert.equal(ok(['rm', 'envless']).trim(), 'envless');
    assert.equal(ok(['run', '--rm', '-h', 'h2', '-e', 'PATH=/bin', '-e', 'A=1', 'busybox', 'env']), 'PATH=/bin\nHOSTNAME=h2\nA=1\nHOME=/root\n');
    // Groups as dockerd gives them: the primary group first, the groups that list the user, then --group-add.
    for (const [args, want] of [
      [['-u', 'nobody'], 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)'],
      [['-u', '1234:5678'], 'uid=1234 gid=5678 groups=5678'],
      [['--group-add', '1001', '--group-add', 'daemon'], 'uid=0(root) gid=0(root) groups=0(root),1(daemon),1001'],
    ] as [string[], string][]) assert.equal(ok(['run', '--rm', ...args, 'busybox', 'id']).trim(), want, args.join(' '));
    for (const [args, message] of [
      [['--group-add', 'nosuchgroup'], 'Unable to find group nosuchgroup: no matching entries in group file'],
      [['-u', 'nosuchuser'], 'unable to find user nosuchuser: no matching entries in passwd file'],
    ] as [string[], string][]) assert.ok(d.docker(['run', '--rm', ...args, 'busybox', 'id']).stderr.includes(message), args.join(' '));
    const refusals: [string[], RegExp][] = [
      [['--link', 'nosuch:x'], /could not get container for nosuch/],
      [['--cap-add', 'BOGUS'], /invalid CapAdd: unknown capability: "CAP_BOGUS"/],
      [['--stop-signal', 'FOO'], /Invalid signal: FOO/],
      [['-w', 'relative'], /the working directory 'relative' is invalid, it needs to be an absolute path/],
    ];
    for (const [args, re] of refusals) {
      const r = d.docker(['create', ...args, 'busybox', 'true']);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    // logs --details: the line's attributes (none here) and a space before it.
    const said = ok(['run', '-d', 'busybox', 'echo', 'hello']).trim();
    ok(['wait', said]);
    assert.equal(ok(['logs', '--details', said]), ' hello\n');
    d.docker(['rm', said]);
    // ... and with attributes the log options ask for: a label and a variable.
    const attributed = ok(['run', '-d', '-l', 'lab=val', '-e', 'EV=1', '--log-opt', 'labels=lab', '--log-opt', 'env=EV', 'busybox', 'echo', 'detailed']).trim();
    ok(['wait', attributed]);
    assert.equal(ok(['logs', '--details', attributed]), 'EV=1,lab=val detailed\n');
    d.docker(['rm', attributed]);
    const stopped = ok(['create', 'busybox', 'true']).trim();
    assert.match(d.docker(['kill', '-s', 'FOO', stopped]).stderr, /Invalid signal: FOO/);
    assert.match(d.docker(['kill', '-s', '999', stopped]).stderr, /The linux daemon does not support signal 999/);
    d.docker(['rm', stopped]);
    // Image lists do not count containers (dockerd leaves that to system df): the CLI shows N/A.
    assert.match(ok(['images', '--format', '{{.Repository}} {{.Containers}}']), /^busybox N\/A$/m);
    // A reference filter naming a registry with a port: the port is not a tag.
    ok(['tag', 'busybox', 'localhost:5000/my/bb:v2']);
    assert.equal(ok(['images', '-f', 'reference=localhost:5000/my/bb', '--format', '{{.Repository}}:{{.Tag}}']), 'localhost:5000/my/bb:v2\n');
    ok(['rmi', 'localhost:5000/my/bb:v2']);
  });
});
