/**
 * Engine core through the real docker CLI 28 (DOCKER_HOST=unix://…) against a private berthd:
 * run output and exit codes, detached runs and logs, a real pty, stdin, stop, save/load across
 * daemons, persistence across a restart, and bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, statSync, statfsSync } from 'node:fs';
import { machine, tmpdir } from 'node:os';
import { join } from 'node:path';
import { distDir, importBusybox, mountsUnder, pidsMentioning, repoRoot, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

const TMPFS_MAGIC = 0x01021994;

describe('engine core with the docker CLI', () => {
  let d: Berthd;
  let imageId: string;

  before(async () => {
    d = await startBerthd();
    imageId = importBusybox(d);
  });
  after(async () => { await d?.cleanup(); });

  test('import gives an image with the requested CMD, listed by docker images', () => {
    assert.match(imageId, /^sha256:[a-f0-9]{64}$/);
    const ls = d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.ok(ls.stdout.includes(`busybox:latest ${imageId.slice(7, 19)}`), ls.stdout);
    const cmd = d.docker(['inspect', '-f', '{{json .Config.Cmd}} {{len .RootFS.Layers}}', 'busybox']);
    assert.equal(cmd.stdout.trim(), '["sh"] 1');
  });

  test('run prints the output and propagates exit code 3', () => {
    const r = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo hello from berth; echo to-stderr >&2; exit 3']);
    assert.equal(r.status, 3);
    assert.equal(r.stdout, 'hello from berth\n');
    assert.equal(r.stderr, 'to-stderr\n');
    // --rm removed it
    const ps = d.docker(['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '');
  });

  test('ps -s, inspect -s, system df and container prune report what containers wrote, volumes and shared layers', () => {
    const run = d.docker(['run', '--name', 'sized', '--label', 'sizetest=1', '-v', 'sizedvol:/data', 'busybox', 'sh', '-c',
      'head -c 100000 /dev/zero > /big && head -c 5000 /dev/zero > /data/f']);
    assert.equal(run.status, 0, run.stderr);
    const ps = d.docker(['ps', '-a', '-s', '--filter', 'name=sized', '--format', '{{.Size}}']);
    assert.match(ps.stdout.trim(), /^100kB \(virtual [\d.]+MB\)$/);
    assert.equal(d.docker(['inspect', '-s', '-f', '{{.SizeRw}}', 'sized']).stdout.trim(), '100000');
    const df = d.docker(['system', 'df', '-v']);
    assert.equal(df.status, 0, df.stderr);
    assert.match(df.stdout, /\nsizedvol\s+1\s+5kB\n/, df.stdout);
    // the container's row: one local volume, 100kB written
    assert.match(df.stdout.split('\n').find((l) => /\ssized$/.test(l)) ?? '', /\s1\s+100kB\s/, df.stdout);
    // An image built on busybox shares its layer: busybox's size is then all shared.
    const child = d.docker(['commit', 'sized', 'sized-image']);
    assert.equal(child.status, 0, child.stderr);
    const images = d.docker(['system', 'df', '-v', '--format', '{{json .Images}}']);
    const rows: { Repository: string; SharedSize: string; UniqueSize: string }[] = JSON.parse(images.stdout);
    const bb = rows.find((r) => r.Repository === 'busybox')!;
    assert.equal(bb.UniqueSize, '0B', images.stdout);
    assert.notEqual(bb.SharedSize, '0B', images.stdout);
    assert.equal(rows.find((r) => r.Repository === 'sized-image')!.UniqueSize, '100kB', images.stdout);
    const prune = d.docker(['container', 'prune', '-f', '--filter', 'label=sizetest=1']);
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(prune.stdout, /Total reclaimed space: 100kB/);
    assert.equal(d.docker(['rmi', 'sized-image']).status, 0);
    assert.equal(d.docker(['volume', 'rm', 'sizedvol']).status, 0);
  });

  test('info and version describe this machine: runc commit, cgroup version, architecture', () => {
    const runc = spawnSync('runc', ['--version']).stdout.toString();
    const commit = /^commit:\s*(\S+)/m.exec(runc)?.[1] ?? '';
    const cgroup = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
    const info = d.docker(['info', '--format', '{{.RuncCommit.ID}}|{{.CgroupVersion}}|{{.Architecture}}']);
    assert.equal(info.status, 0, info.stderr);
    assert.equal(info.stdout.trim(), `${commit}|${cgroup}|${machine()}`);
    const goArch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
    assert.equal(d.docker(['version', '--format', '{{.Server.Arch}}']).stdout.trim(), goArch);
    // The components, as dockerd lists them: the runtime (its version and commit) and docker-init (tini).
    const version = /version\s+(\S+)/.exec(runc)?.[1];
    const tini = /version\s+(\S+)/.exec(spawnSync('tini', ['--version']).stdout.toString())?.[1];
    const components = d.docker(['version', '--format', '{{range .Server.Components}}{{.Name}} {{.Version}} {{index .Details "GitCommit"}};{{end}}']).stdout.trim();
    assert.equal(components.split(';').slice(1).join(';'), `runc ${version} ${commit};docker-init ${tini} ;`);
    // The storage driver's status names the data root's filesystem, as dockerd's overlay2 does.
    const fsType = spawnSync('stat', ['-f', '-c', '%T', d.dataRoot], { encoding: 'utf8' }).stdout.trim();
    const backing = ({ 'ext2/ext3': 'extfs', tmpfs: 'tmpfs', xfs: 'xfs', btrfs: 'btrfs' } as Record<string, string>)[fsType];
    const status = JSON.parse(d.docker(['info', '--format', '{{json .DriverStatus}}']).stdout);
    if (backing) assert.deepEqual(status[0], ['Backing Filesystem', backing]);
    assert.deepEqual(status.slice(1), [['Supports d_type', 'true'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']]);
    const versionId = /^VERSION_ID="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
    assert.equal(d.docker(['info', '--format', '{{.OSVersion}}|{{.Swarm.ControlAvailable}}|{{(index .RegistryConfig.IndexConfigs "docker.io").Official}}']).stdout.trim(), `${versionId}|false|true`);
    assert.ok(Number(d.docker(['info', '--format', '{{.NFd}}']).stdout) > 3);
  });

  test('a missing command gives 127 like docker', () => {
    const r = d.docker(['run', '--rm', 'busybox', 'no-such-binary']);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /executable file not found/);
  });

  test('a container killed by a signal exits 128+signal (137 for SIGKILL)', async () => {
    const r = d.docker(['run', '-d', '--name', 'killme', 'busybox', 'sleep', '1000']);
    assert.equal(r.status, 0, r.stderr);
    const waiter = d.dockerAsync(['wait', 'killme']);
    assert.equal(d.docker(['kill', 'killme']).status, 0);
    const w = await waiter;
    assert.equal(w.stdout.trim(), '137');
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', 'killme']).stdout.trim(), '137 false');
    const again = d.docker(['kill', 'killme']);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /is not running/);
    assert.equal(d.docker(['rm', 'killme']).status, 0);
  });

  test('stdin through a pipe reaches the container', () => {
    const r = d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'hi\nthere\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi\nthere\ndone\n');
  });

  test('an empty stdin reaches the container as its end: run -i, start -a -i, exec -i', () => {
    // The client half-closes at once, maybe before the process exists: the end must not be lost.
    const opts = { input: '', timeout: 30_000 };
    for (let i = 0; i < 3; i++) {
      const r = d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo eof'], opts);
      assert.deepEqual([r.status, r.stdout], [0, 'eof\n'], r.stderr);
    }
    assert.equal(d.docker(['create', '-i', '--name', 'empty-in', 'busybox', 'sh', '-c', 'cat; echo eof']).status, 0);
    const started = d.docker(['start', '-a', '-i', 'empty-in'], opts);
    assert.deepEqual([started.status, started.stdout], [0, 'eof\n'], started.stderr);
    assert.equal(d.docker(['run', '-d', '--name', 'empty-exec', 'busybox', 'sleep', '300']).status, 0);
    const ex = d.docker(['exec', '-i', 'empty-exec', 'sh', '-c', 'cat; echo eof'], opts);
    assert.deepEqual([ex.status, ex.stdout], [0, 'eof\n'], ex.stderr);
    assert.equal(d.docker(['rm', '-f', 'empty-in', 'empty-exec']).status, 0);
  });

  test('run -d then logs -f follows until the container exits', async () => {
    const r = d.docker(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done; echo bye >&2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[a-f0-9]{64}$/);
    const logs = await d.dockerAsync(['logs', '-f', 'ticker']);
    assert.equal(logs.status, 0);
    assert.equal(logs.stdout, 'tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');
    assert.equal(logs.stderr, 'bye\n');
    // --tail counts lines of both streams, as Docker's does.
    const tail = d.docker(['logs', '--tail', '2', 'ticker']);
    assert.equal(tail.stdout, 'tick 5\n');
    assert.equal(tail.stderr, 'bye\n');
    const ts = d.docker(['logs', '-t', '--tail', '2', 'ticker']);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick 5\n$/);
    const st = d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}', 'ticker']);
    assert.equal(st.stdout.trim(), 'exited 0 false');
    assert.equal(d.docker(['rm', 'ticker']).status, 0);
  });

  test('--log-opt max-size and max-file rotate the log; docker logs reads the kept files in order', async () => {
    const r = d.docker(['run', '-d', '--name', 'rotating', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c',
      'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line-$i; done; exec sleep 60']);
    assert.equal(r.status, 0, r.stderr);
    const logPath = d.docker(['inspect', '-f', '{{.LogPath}}', 'rotating']).stdout.trim();
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    // 300 lines are ~15 kB: the daemon cuts them into files of about 1 kB and keeps max-file of them.
    await waitFor(() => existsSync(`${logPath}.1`) && !existsSync(`${logPath}.2`) && size(logPath) <= 2000 && size(`${logPath}.1`) <= 2000
      && d.docker(['logs', 'rotating']).stdout.endsWith('line-300\n'), 'the log rotated to two bounded files');
    assert.ok(size(`${logPath}.1`) > 500, 'the rotated file holds about max-size');
    const lines = d.docker(['logs', 'rotating']).stdout.trim().split('\n');
    const numbers = lines.map((l) => Number(/^line-(\d+)$/.exec(l)?.[1]));
    assert.ok(lines.length >= 10 && lines.length < 300, `only the newest lines are kept: ${lines.length}`);
    assert.deepEqual(numbers, numbers.map((_, i) => 300 - numbers.length + 1 + i), 'the newest lines, in order');
    assert.equal(d.docker(['logs', '--tail', '2', 'rotating']).stdout, 'line-299\nline-300\n');
    assert.equal(d.docker(['rm', '-f', 'rotating']).status, 0);
    assert.ok(!existsSync(`${logPath}.1`));

    // Bad options are refused at create, with dockerd's messages; nothing is left behind.
    const before = d.docker(['ps', '-aq']).stdout;
    for (const [opts, message] of [
      [['--log-opt', 'bogus=1'], "unknown log opt 'bogus' for json-file log driver"],
      [['--log-driver', 'local', '--log-opt', 'bogus=1'], "unknown log opt 'bogus' for local log driver"],
      [['--log-opt', 'max-size=1x'], "invalid size: '1x'"],
      [['--log-opt', 'max-size=0'], 'max-size must be a positive number'],
      [['--log-opt', 'max-size=1k', '--log-opt', 'max-file=0'], 'max-file cannot be less than 1'],
      [['--log-opt', 'max-size=1k', '--log-opt', 'max-file=x'], 'strconv.Atoi: parsing "x": invalid syntax'],
      [['--log-opt', 'max-size=1k', '--log-opt', 'compress=true'], 'compress cannot be true when max-file is less than 2 or max-size is not set'],
      [['--log-driver', 'nosuchdriver'], 'error looking up logging plugin nosuchdriver: plugin "nosuchdriver" not found'],
      [['--log-driver', 'syslog'], 'log driver "syslog" is not supported by berth'],
      [['--restart', 'always:3'], "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ] as [string[], string][]) {
      const bad = d.docker(['create', ...opts, 'busybox', 'true']);
      assert.notEqual(bad.status, 0, opts.join(' '));
      assert.ok(bad.stderr.includes(message), `${opts.join(' ')}: ${bad.stderr}`);
    }
    assert.equal(d.docker(['ps', '-aq']).stdout, before);
    // As with dockerd, max-file without max-size and compress=false are accepted (and change nothing).
    const okc = d.docker(['create', '--name', 'logopts', '--log-opt', 'max-file=3', '--log-opt', 'compress=false', 'busybox', 'true']);
    assert.equal(okc.status, 0, okc.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-file"}}', 'logopts']).stdout.trim(), 'json-file 3');
    assert.equal(d.docker(['rm', 'logopts']).status, 0);
    // --log-driver none: an attached client still gets the output; nothing is kept to read.
    assert.equal(d.docker(['run', '--name', 'unlogged', '--log-driver', 'none', 'busybox', 'echo', 'said once']).stdout, 'said once\n');
    const logs = d.docker(['logs', 'unlogged']);
    assert.notEqual(logs.status, 0);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    assert.equal(d.docker(['inspect', '-f', '{{.LogPath}}|{{.HostConfig.LogConfig.Type}}', 'unlogged']).stdout.trim(), '|none');
    assert.equal(d.docker(['rm', 'unlogged']).status, 0);
  });

  test('-it runs through a real pty: type, read, resize, exit code', async () => {
    const driver = join(repoRoot, 'test', 'integration', 'helpers', 'pty-driver.py');
    const p = spawn('python3', [driver, 'docker', 'run', '-it', '--rm', '--name', 'tty1', 'busybox', 'sh'], { env: d.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    p.stdout.on('data', (x) => { out += x; });
    p.stderr.on('data', (x) => { err += x; });
    const send = (cmd: object) => p.stdin.write(JSON.stringify(cmd) + '\n');
    try {
      await waitFor(() => out.includes('/ # '), 'shell prompt');
      send({ write: 'echo $((6*7))\r' });
      await waitFor(() => out.includes('42'), 'arithmetic output');
      send({ write: 'stty size\r' });
      await waitFor(() => /24 80/.test(out), 'initial size 24 80');
      send({ resize: [31, 101] });
      // The resize travels CLI → API → conmon; ask again until the new size shows.
      await waitFor(async () => { send({ write: 'stty size\r' }); await new Promise((r) => setTimeout(r, 200)); return /31 101/.test(out); }, 'resized to 31 101');
      send({ write: 'exit 5\r' });
      await waitFor(() => /EXIT \d+/.test(err), 'docker CLI exit');
      assert.match(err, /EXIT 5/);
    } finally { p.kill('SIGKILL'); }
  });

  test('stop: SIGTERM honoured quickly, SIGKILL after -t for a process that ignores it', () => {
    assert.equal(d.docker(['run', '-d', '--name', 'polite', 'busybox', 'sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"]).status, 0);
    assert.equal(d.docker(['run', '-d', '--name', 'stubborn', 'busybox', 'sh', '-c', "trap '' TERM; while true; do sleep 0.1; done"]).status, 0);
    let t = Date.now();
    assert.equal(d.docker(['stop', 'polite']).status, 0);
    assert.ok(Date.now() - t < 5000, 'polite stop should not wait for the timeout');
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'polite']).stdout.trim(), '0');
    t = Date.now();
    assert.equal(d.docker(['stop', '-t', '1', 'stubborn']).status, 0);
    const took = Date.now() - t;
    assert.ok(took >= 900, `stubborn stop took ${took} ms, expected the 1 s timeout`);
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.Status}}', 'stubborn']).stdout.trim(), '137 exited');
    assert.equal(d.docker(['rm', 'polite', 'stubborn']).status, 0);
  });

  test('rm -f kills a running container and leaves no process or mount', async () => {
    const r = d.docker(['run', '-d', '--name', 'victim', 'busybox', 'sleep', '1000']);
    const id = r.stdout.trim();
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', id]).stdout.trim());
    assert.ok(pid > 0);
    assert.ok(existsSync(`/proc/${pid}`));
    assert.equal(d.docker(['rm', '-f', 'victim']).status, 0);
    await waitFor(() => !existsSync(`/proc/${pid}`), 'container process gone');
    assert.deepEqual(mountsUnder(join(d.dataRoot, 'containers', id)), []);
    assert.notEqual(d.docker(['inspect', id]).status, 0);
  });

  test('ps filters and formats', () => {
    d.docker(['create', '--name', 'made', '-l', 'team=blue', 'busybox', 'true']);
    d.docker(['run', '--name', 'ran3', 'busybox', 'sh', '-c', 'exit 3']);
    const created = d.docker(['ps', '-a', '--filter', 'status=created', '--format', '{{.Names}}']);
    assert.equal(created.stdout.trim(), 'made');
    const exited = d.docker(['ps', '-a', '--filter', 'exited=3', '--format', '{{.Names}} {{.Status}}']);
    assert.match(exited.stdout.trim(), /^ran3 Exited \(3\) /);
    const label = d.docker(['ps', '-a', '--filter', 'label=team=blue', '-q']);
    assert.equal(label.stdout.trim().length, 12);
    // The image column names the reference the container was made from while it still names its image; then its ID.
    assert.equal(d.docker(['tag', 'busybox', 'soon-gone:1']).status, 0);
    assert.equal(d.docker(['create', '--name', 'orphan', 'soon-gone:1', 'true']).status, 0);
    const image = (n: string) => d.docker(['ps', '-a', '--filter', `name=^${n}$`, '--format', '{{.Image}}']).stdout.trim();
    assert.equal(image('orphan'), 'soon-gone:1');
    assert.equal(d.docker(['rmi', 'soon-gone:1']).stdout, 'Untagged: soon-gone:1\n');
    assert.equal(image('orphan'), d.docker(['inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim().slice(7, 19));
    assert.equal(d.docker(['inspect', '-f', '{{.Config.Image}}', 'orphan']).stdout.trim(), 'soon-gone:1', 'inspect keeps what was asked');
    // -l and -n: the most recently created, running or not (without -a), as dockerd counts them.
    assert.equal(d.docker(['ps', '-l', '--format', '{{.Names}}']).stdout, 'orphan\n');
    assert.equal(d.docker(['ps', '-n', '2', '--format', '{{.Names}}']).stdout, 'orphan\nran3\n');
    assert.equal(d.docker(['rm', 'made', 'ran3', 'orphan']).status, 0);
  });

  test('bad input gets Docker-style errors and the daemon keeps serving', async () => {
    const bad = await d.api('POST', '/v1.45/containers/create', '{"Image": "busybox",');
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.json.message, 'string');
    const unknown = d.docker(['run', '--rm', 'no-such-image:1']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /No such image|Unable to find image|pull access denied|not available/);
    const missing = await d.api('GET', '/containers/nope/json');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.message, 'No such container: nope');
    assert.equal(d.docker(['create', '--name', 'taken', 'busybox']).status, 0);
    const dup = d.docker(['create', '--name', 'taken', 'busybox']);
    assert.notEqual(dup.status, 0);
    assert.match(dup.stderr, /Conflict\. The container name "\/taken" is already in use/);
    const corrupt = d.docker(['load'], { input: Buffer.from('this is not a tar archive at all'.repeat(40)) });
    assert.notEqual(corrupt.status, 0);
    // Path traversal in an imported rootfs: refused, nothing written outside.
    const dir = mkdtempSync(join(tmpdir(), 'berth-evil-'));
    try {
      const evil = join(dir, 'evil.tar');
      spawnSync('python3', ['-c', `
import tarfile, io
t = tarfile.open(${JSON.stringify(evil)}, 'w')
data = b'pwned'
i = tarfile.TarInfo('../../../../../../tmp/berth-escape-proof'); i.size = len(data)
t.addfile(i, io.BytesIO(data)); t.close()`]);
      const r = d.docker(['import', evil, 'evil:1']);
      assert.notEqual(r.status, 0, 'import of a traversal archive must fail');
      assert.ok(!existsSync('/tmp/berth-escape-proof'));
    } finally { rmSync(dir, { recursive: true, force: true }); }
    // Still serving, nothing lost.
    assert.equal(d.docker(['run', '--rm', 'busybox', 'true']).status, 0);
    assert.ok(d.docker(['images', '-q']).stdout.includes(imageId.slice(7, 19)));
    assert.equal(d.docker(['rm', 'taken']).status, 0);
  });

  test('events stream container lifecycle with filters, ordered with the network as Docker orders them', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    d.docker(['run', '--rm', '--name', 'evented', 'busybox', 'true']);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const r = d.docker(['events', '--since', since, '--until', until, '--filter', 'container=evented', '--format', '{{.Action}} {{.Actor.ID}}']);
    const actions = r.stdout.trim().split('\n').map((l) => l.split(' ')[0]);
    for (const a of ['create', 'start', 'die', 'destroy']) assert.ok(actions.includes(a), `missing ${a} in ${actions}`);
    const id = r.stdout.split('\n')[0].split(' ')[1];
    // A network event names the container in its attributes: connect comes before the start, disconnect after the die.
    const all = d.docker(['events', '--since', since, '--until', until, '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}}']);
    const seq = all.stdout.trim().split('\n').filter((l) => l.includes(id)).map((l) => l.split(' ').slice(0, 2).join(' ')).filter((l) => l !== 'container attach');
    assert.deepEqual(seq, ['container create', 'network connect', 'container start', 'container die', 'network disconnect', 'container destroy']);
    // The API's event objects in dockerd's field order (clients re-serialising them keep it).
    const raw = (await d.api('GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: ['evented'] }))}`)).body.trim().split('\n');
    assert.deepEqual(Object.keys(JSON.parse(raw[0])), ['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    // timeNano to the nanosecond (a JS double near 1.8e18 can only hold multiples of 256).
    const nanos = raw.map((l) => BigInt(/"timeNano":(\d+)/.exec(l)![1]));
    assert.ok(nanos.some((n) => n % 256n !== 0n), nanos.join(' '));
    for (const [i, l] of raw.entries()) assert.equal(BigInt(JSON.parse(l).time), nanos[i] / 1_000_000_000n);
    // Networks made and removed (by rm and by prune) are reported by ID, with their name and driver.
    const netSince = String(Math.floor(Date.now() / 1000) - 1);
    const made = d.docker(['network', 'create', 'evnet-a']).stdout.trim();
    const pruned = d.docker(['network', 'create', 'evnet-b']).stdout.trim();
    assert.equal(d.docker(['network', 'rm', 'evnet-a']).status, 0);
    assert.equal(d.docker(['network', 'prune', '-f', '--filter', 'label!=keep']).status, 0);
    const nets = d.docker(['events', '--since', netSince, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=network',
      '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}']).stdout.trim().split('\n');
    assert.deepEqual(nets.filter((l) => / evnet-/.test(l)), [
      `create ${made} evnet-a bridge`, `create ${pruned} evnet-b bridge`, `destroy ${made} evnet-a bridge`, `destroy ${pruned} evnet-b bridge`]);
    assert.ok(nets.includes('prune  <no value> <no value>'), nets.join('\n'));
  });

  test('parameters as dockerd reads them: logs --tail, ps is-task, events since/until, create --platform', async () => {
    const id = d.docker(['run', '-d', 'busybox', 'sh', '-c', 'echo one; echo two']).stdout.trim();
    assert.equal(d.docker(['wait', id]).stdout.trim(), '0');
    for (const tail of ['-1', 'x', 'all']) assert.equal(d.docker(['logs', '--tail', tail, id]).stdout, 'one\ntwo\n', tail);
    assert.equal(d.docker(['logs', '--tail', '1', id]).stdout, 'two\n');
    assert.equal(d.docker(['rm', id]).status, 0);
    const task = d.docker(['ps', '--filter', 'is-task=maybe']);
    assert.notEqual(task.status, 0);
    assert.match(task.stderr, /invalid filter 'is-task=\[maybe\]'/);
    assert.equal(d.docker(['ps', '--filter', 'is-task=false']).status, 0);
    const now = Math.floor(Date.now() / 1000);
    const ev = d.docker(['events', '--since', String(now), '--until', String(now - 10)]);
    assert.notEqual(ev.status, 0);
    assert.match(ev.stderr, /`since` time \(\d+\) cannot be after `until` time \(\d+\)/);
    // Through the API: the docker CLI would go on to pull the image for that platform.
    const wrong = await d.api('POST', '/containers/create?platform=linux/arm64', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    assert.equal(wrong.status, 404);
    assert.equal(wrong.json.message, `image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/${machine() === 'aarch64' ? 'arm64' : 'amd64'}`);
    const right = await d.api('POST', `/containers/create?platform=linux/${machine() === 'aarch64' ? 'arm64' : 'amd64'}`, JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    assert.equal(right.status, 201, right.body);
    assert.equal(d.docker(['rm', right.json.Id]).status, 0);
  });

  test('swarm and plugin commands get dockerd\'s answers for a node in no swarm with no plugins', () => {
    const manager = 'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.\n';
    for (const args of [['node', 'ls'], ['service', 'ls'], ['secret', 'ls'], ['config', 'ls'], ['stack', 'ls']]) {
      const r = d.docker(args);
      assert.deepEqual([r.status, r.stderr], [1, manager], args.join(' '));
    }
    assert.equal(d.docker(['swarm', 'leave']).stderr, 'Error response from daemon: This node is not part of a swarm\n');
    const plugins = d.docker(['plugin', 'ls', '--format', '{{.Name}}']);
    assert.deepEqual([plugins.status, plugins.stdout], [0, '']);
    assert.match(d.docker(['plugin', 'inspect', 'foo']).stderr, /plugin "foo" not found/);
    assert.match(d.docker(['plugin', 'ls', '--filter', 'bogus=1']).stderr, /invalid filter 'bogus'/);
  });

  test('rename: the new name answers, the old one is free; conflicts, the same name and bad names refused as dockerd', () => {
    assert.equal(d.docker(['create', '--name', 'first-name', 'busybox', 'true']).status, 0);
    assert.equal(d.docker(['create', '--name', 'taken', 'busybox', 'true']).status, 0);
    const id = d.docker(['inspect', '-f', '{{.Id}}', 'first-name']).stdout.trim();
    const takenId = d.docker(['inspect', '-f', '{{.Id}}', 'taken']).stdout.trim();
    assert.equal(d.docker(['rename', 'first-name', 'second-name']).status, 0);
    assert.equal(d.docker(['inspect', '-f', '{{.Name}} {{.Id}}', 'second-name']).stdout.trim(), `/second-name ${id}`);
    assert.match(d.docker(['inspect', 'first-name']).stderr, /No such object: first-name/);
    const conflict = d.docker(['rename', 'second-name', 'taken']);
    assert.equal(conflict.stderr.split('\n')[0], `Error response from daemon: Error when allocating new name: Conflict. The container name "/taken" is already in use by container "${takenId}". You have to remove (or rename) that container to be able to reuse that name.`);
    assert.match(d.docker(['rename', 'second-name', 'second-name']).stderr, /Renaming a container with the same name as its current name/);
    assert.match(d.docker(['rename', 'second-name', 'bad name!']).stderr, /Invalid container name/);
    const events = d.docker(['events', '--since', '0', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=rename', '--format', '{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}']);
    assert.equal(events.stdout.trim(), '/first-name second-name');
    assert.equal(d.docker(['rm', 'second-name', 'taken']).status, 0);
  });

  test('rmi by ID refuses an image with several tags, as dockerd; save of a repository name writes all its tags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-rmi-'));
    try {
      importBusybox(d, 'multi:1');
      const id = d.docker(['inspect', '-f', '{{.Id}}', 'multi:1']).stdout.trim();
      assert.equal(d.docker(['tag', 'multi:1', 'multi:2']).status, 0);
      const refused = d.docker(['rmi', id.slice(7, 19)]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /unable to delete \w+ \(must be forced\) - image is referenced in multiple repositories/);
      // docker save multi: both tags, restored by a load elsewhere in this daemon after the image is gone.
      assert.equal(d.docker(['save', '-o', join(dir, 'multi.tar'), 'multi']).status, 0);
      const manifest = JSON.parse(spawnSync('tar', ['-xOf', join(dir, 'multi.tar'), 'manifest.json'], { encoding: 'utf8' }).stdout);
      assert.deepEqual(manifest.map((m: { RepoTags: string[] }) => m.RepoTags.sort()), [['multi:1', 'multi:2']]);
      assert.equal(d.docker(['save', 'nosuchrepo']).stderr.trim(), 'Error response from daemon: No such image: nosuchrepo');
      const forced = d.docker(['rmi', '-f', id.slice(7, 19)]);
      assert.equal(forced.stdout, `Untagged: multi:1\nUntagged: multi:2\nDeleted: ${id}\n`, forced.stderr);
      const loaded = d.docker(['load', '-i', join(dir, 'multi.tar')]);
      assert.equal(loaded.stdout.split('\n').filter((l) => l.startsWith('Loaded image: ')).sort().join(','), 'Loaded image: multi:1,Loaded image: multi:2');
      // One tag: deleting by ID needs no force.
      assert.equal(d.docker(['rmi', 'multi:2']).stdout, 'Untagged: multi:2\n');
      assert.equal(d.docker(['rmi', id.slice(7, 19)]).status, 0);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('events for images (named by ID but for tag), prunes and top, as dockerd logs them', () => {
    const since = (Date.now() / 1000).toFixed(3);   // nothing from the tests before
    const dir = mkdtempSync(join(tmpdir(), 'berth-evsave-'));
    try {
      const id = d.docker(['inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim();
      assert.equal(d.docker(['tag', 'busybox', 'evt:1']).status, 0);
      assert.equal(d.docker(['save', '-o', join(dir, 'a.tar'), 'evt:1']).status, 0);
      assert.equal(d.docker(['rmi', 'evt:1']).status, 0);
      assert.equal(d.docker(['load', '-i', join(dir, 'a.tar')]).status, 0);
      assert.equal(d.docker(['rmi', 'evt:1']).status, 0);
      const imported = d.docker(['import', join(dir, 'a.tar'), 'evt:2']).stdout.trim();
      assert.equal(d.docker(['rmi', 'evt:2']).status, 0);
      assert.equal(d.docker(['run', '-d', '--name', 'topped', '--label', 'role=t', 'busybox', 'sleep', '60']).status, 0);
      assert.equal(d.docker(['top', 'topped']).status, 0);
      assert.equal(d.docker(['exec', 'topped', 'true']).status, 0);
      assert.equal(d.docker(['rm', '-f', 'topped']).status, 0);
      assert.equal(d.docker(['run', '--rm', '-v', 'evvol:/data:ro', 'busybox', 'true']).status, 0);
      assert.equal(d.docker(['volume', 'rm', 'evvol']).status, 0);
      for (const what of ['container', 'image', 'volume']) assert.equal(d.docker([what, 'prune', '-f']).status, 0, what);
      const until = String(Math.floor(Date.now() / 1000) + 1);
      const ev = (...f: string[]) => d.docker(['events', '--since', since, '--until', until, ...f, '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}']).stdout.trim().split('\n');
      assert.deepEqual(ev('--filter', 'type=image').filter((l) => !l.startsWith('image prune')), [
        `image tag ${id} evt:1`, `image save ${id} ${id}`, `image untag ${id} ${id}`, `image load ${id} ${id}`, `image untag ${id} ${id}`,
        `image tag ${imported} evt:2`, `image import ${imported} ${imported}`, `image untag ${imported} ${imported}`, `image delete ${imported} ${imported}`]);
      const prunes = ev('--filter', 'event=prune');
      assert.deepEqual(prunes.map((l) => l.split(' ').slice(0, 3).join(' ')), ['container prune ', 'image prune ', 'volume prune ']);
      assert.deepEqual(ev('--filter', 'event=top', '--filter', 'label=role=t').map((l) => l.split(' ').slice(0, 2).join(' ')), ['container top']);
      // exec events carry the container's attributes (its labels too); a volume's mount says where and how.
      assert.deepEqual(ev('--filter', 'label=role=t').map((l) => l.split(' ')[1]).filter((a) => a.startsWith('exec_')), ['exec_create:', 'exec_start:', 'exec_die']);
      const mounts = d.docker(['events', '--since', since, '--until', until, '--filter', 'event=mount', '--format', '{{.Actor.ID}} {{json .Actor.Attributes}}']).stdout.trim().split('\n');
      assert.equal(mounts.length, 1, mounts.join('\n'));
      const [vol, attrs] = [mounts[0].split(' ')[0], JSON.parse(mounts[0].slice(mounts[0].indexOf(' ') + 1))];
      assert.equal(vol, 'evvol');
      assert.deepEqual([attrs.destination, attrs['read/write'], attrs.driver], ['/data', 'false', 'local']);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('save/load across daemons and a restart', () => {
  test('save on one daemon and load on another gives the same image ID; restart keeps everything', async () => {
    const a = await startBerthd();
    const b = await startBerthd();
    const tmp = mkdtempSync(join(tmpdir(), 'berth-save-'));
    try {
      const id = importBusybox(a, 'busybox:latest');
      assert.equal(a.docker(['tag', 'busybox:latest', 'team/app:v1']).status, 0);
      const archive = join(tmp, 'img.tar');
      const s = a.docker(['save', '-o', archive, 'team/app:v1']);
      assert.equal(s.status, 0, s.stderr);
      const l = b.docker(['load', '-i', archive]);
      assert.equal(l.status, 0, l.stderr);
      assert.match(l.stdout, /Loaded image: team\/app:v1/);
      assert.equal(b.docker(['inspect', '-f', '{{.Id}}', 'team/app:v1']).stdout.trim(), id);
      const run = b.docker(['run', '--rm', 'team/app:v1', 'echo', 'loaded and running']);
      assert.equal(run.stdout, 'loaded and running\n');

      // Containers and images survive a daemon restart, exited ones with their exit codes.
      assert.equal(b.docker(['run', '--name', 'exited7', 'team/app:v1', 'sh', '-c', 'exit 7']).status, 7);
      assert.equal(b.docker(['create', '--name', 'justmade', 'team/app:v1']).status, 0);
      await b.stop();
      const b2 = await startBerthd({ dir: b.dir });
      try {
        assert.equal(b2.docker(['inspect', '-f', '{{.Id}}', 'team/app:v1']).stdout.trim(), id);
        assert.equal(b2.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'exited7']).stdout.trim(), 'exited 7');
        assert.equal(b2.docker(['inspect', '-f', '{{.State.Status}}', 'justmade']).stdout.trim(), 'created');
        assert.equal(b2.docker(['start', '-a', 'justmade']).status, 0);
      } finally { await b2.cleanup(); }
    } finally {
      await a.cleanup();
      await b.cleanup();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('a stopped daemon leaves no mounts or monitor processes behind', async () => {
    const d = await startBerthd({ keep: true });
    try {
      importBusybox(d);
      assert.equal(d.docker(['run', '-d', '--name', 'bg', 'busybox', 'sleep', '1000']).status, 0);
      // An exec root on a disk (the test's is under the temp dir) became a tmpfs of the daemon's own.
      if (statfsSync(d.dir).type !== TMPFS_MAGIC) assert.equal(statfsSync(d.execRoot).type, TMPFS_MAGIC, 'the exec root is a tmpfs');
      await d.stop();
      assert.deepEqual(mountsUnder(d.dir), []);
      assert.deepEqual(pidsMentioning(d.dir), []);
      assert.deepEqual(d.netnsLeft(), []);
    } finally { await d.cleanup(); rmSync(d.dir, { recursive: true, force: true }); }
  });

  test('a second daemon on the same exec root is refused and touches nothing of the first', async () => {
    const a = await startBerthd();
    try {
      const other = join(a.dir, 'other.sock');
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'berthd'), '--data-root', a.dataRoot, '--exec-root', a.execRoot, '-H', `unix://${other}`], {
        encoding: 'utf8', timeout: 30_000, env: { ...process.env, BERTH_DIST: distDir },
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /pid file .* is in use by a running berthd \(pid \d+\)/);
      assert.equal(readFileSync(join(a.execRoot, 'berthd.pid'), 'utf8').trim(), String(a.proc.pid));
      assert.equal(existsSync(other), false);
      assert.equal((await a.api('GET', '/_ping')).status, 200);
    } finally { await a.cleanup(); }
  });
});

describe('crun as the runtime', () => {
  test('--runtime crun runs containers (hidden hybrid cgroup mount) with output, exit codes and stdin', async () => {
    const d = await startBerthd({ extraArgs: ['--runtime', 'crun'] });
    try {
      importBusybox(d);
      const r = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo via crun; exit 4']);
      assert.equal(r.stdout, 'via crun\n');
      assert.equal(r.status, 4);
      const i = d.docker(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'piped\n' });
      assert.equal(i.stdout, 'piped\n');
      assert.match(d.docker(['info', '--format', '{{.DefaultRuntime}}']).stdout, /crun/);
    } finally { await d.cleanup(); }
  });
});
