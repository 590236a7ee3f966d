/**
 * berth-monitor holds each container's process in place of conmon (src/runtime/native). What a
 * user sees through it, checked with the real docker CLI: it is the container's parent, output
 * lands in the log whole (partial lines joined, long lines unsplit, stdout and stderr apart),
 * failures to create come back as Docker's errors, exit codes and signals are reported, an
 * attached client gets the output, and the log is reopened after the daemon rotates it.
 */
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { importBusybox, parentPid, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

function parentOf(pid: number): { pid: number; comm: string } {
  const ppid = parentPid(pid);
  return { pid: ppid, comm: readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() };
}

describe('berth-monitor', () => {
  let d: Berthd;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
  });
  after(async () => { await d?.cleanup(); });

  test('is the parent of the container process and writes its output to the log as it came', async () => {
    const r = d.docker(['run', '-d', '--name', 'writer', 'busybox', 'sh', '-c',
      "printf 'par'; sleep 0.1; printf 'tial\\n'; head -c 20000 /dev/zero | tr '\\0' x; echo; echo to-err >&2; exec sleep 1000"]);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'writer']).stdout.trim());
    const parent = parentOf(pid);
    assert.equal(parent.comm, 'berth-monitor');
    assert.ok(readFileSync(`/proc/${parent.pid}/cmdline`, 'utf8').includes(r.stdout.trim()), 'its command line names the container');
    await waitFor(() => d.docker(['logs', 'writer']).stderr.includes('to-err'), 'all output logged');
    const logs = d.docker(['logs', 'writer']);
    assert.equal(logs.stdout, 'partial\n' + 'x'.repeat(20000) + '\n');
    assert.equal(logs.stderr, 'to-err\n');
    assert.equal(d.docker(['rm', '-f', 'writer']).status, 0);
  });

  test('runs runc create from a sealed in-memory copy of runc (runc then skips copying itself)', () => {
    const id = d.docker(['run', '-d', 'busybox', 'sleep', '1000']).stdout.trim();
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', id]).stdout.trim());
    const cmd = readFileSync(`/proc/${parentPid(pid)}/cmdline`, 'utf8').split('\0');
    const runtime = cmd[cmd.indexOf('-r') + 1];
    assert.match(runtime, /^\/proc\/\d+\/fd\/\d+$/, `the monitor runs ${runtime}`);
    // F_GET_SEALS (1034): seal, shrink, grow and write sealed (0xf), what runc checks before it skips its copy.
    const seals = spawnSync('python3', ['-c', 'import fcntl, os, sys; print(hex(fcntl.fcntl(os.open(sys.argv[1], os.O_RDONLY), 1034)))', runtime], { encoding: 'utf8' });
    assert.equal(seals.stdout.trim(), '0xf', seals.stderr);
    assert.equal(createHash('sha256').update(readFileSync(runtime)).digest('hex'), createHash('sha256').update(readFileSync(spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim())).digest('hex'), 'the same bytes as runc');
    assert.equal(d.docker(['rm', '-f', id]).status, 0);
  });

  test('an attached client gets all the output of a process that exits at once', async () => {
    // The daemon connects the client before the process starts; the monitor must not lose what a
    // process wrote and exited with before the monitor took that connection in.
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => d.dockerAsync(['run', '--rm', 'busybox', 'echo', `quick-${i}`])));
    runs.forEach((r, i) => assert.equal(r.stdout, `quick-${i}\n`, `run ${i}: ${r.stderr}`));
  });

  test('a process that cannot start is reported as Docker reports it', async () => {
    const r = d.docker(['run', '--rm', 'busybox', '/no/such/program']);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /no such file or directory/);
    const ps = d.docker(['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '', 'the failed --rm container is gone');
    // The container's state says it too: 127 (126 for a command that cannot be run), the whole error; a 400 to the client.
    for (const [cmd, code] of [['/no/such/program', '127'], ['/etc/passwd', '126']]) {
      const id = d.docker(['create', 'busybox', cmd]).stdout.trim();
      const start = await d.api('POST', `/containers/${id}/start`);
      assert.equal(start.status, 400, start.body);
      assert.match(start.json.message, /^failed to create task for container: .*unable to start container process: exec: /);
      const state = d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}|{{.State.Error}}', id]).stdout.trim();
      assert.equal(state, `created ${code}|${start.json.message}`);
      assert.equal(d.docker(['rm', id]).status, 0);
    }
  });

  test('exit codes and signals', () => {
    assert.equal(d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 42']).status, 42);
    // A child killed by a signal: its shell reports 128+N, and so does the container.
    assert.equal(d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?']).status, 137);
    const id = d.docker(['run', '-d', 'busybox', 'sleep', '1000']).stdout.trim();
    assert.equal(d.docker(['kill', id]).status, 0);
    assert.equal(d.docker(['wait', id]).stdout.trim(), '137');
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', id]).stdout.trim(), '137');
    assert.equal(d.docker(['rm', id]).status, 0);
  });

  test('an attached client gets the output; stdin closes after the one client when StdinOnce', () => {
    const r = d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo after-eof'], { input: 'one\ntwo\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'one\ntwo\nafter-eof\n');
  });

  test('stdin arrives whole, however large', () => {
    const data = randomBytes(8 * 1024 * 1024);
    const r = d.docker(['run', '-i', '--rm', 'busybox', 'md5sum'], { input: data });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], createHash('md5').update(data).digest('hex'));
  });

  test('the log is reopened after the daemon moves it away', async () => {
    const r = d.docker(['run', '-d', '--name', 'rotating', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo n$i; sleep 0.05; done']);
    assert.equal(r.status, 0, r.stderr);
    const dir = join(d.dataRoot, 'containers', r.stdout.trim());
    const bundle = join(d.execRoot, 'bundles', r.stdout.trim());
    const log = join(dir, 'container.log');
    await waitFor(() => readFileSync(log, 'utf8').includes(' n3\n'), 'first lines logged');
    renameSync(log, log + '.1');
    writeFileSync(join(bundle, 'ctl'), '2 0 0\n');   // what the daemon's rotation writes
    await waitFor(() => existsSync(log) && / n\d+\n/.test(readFileSync(log, 'utf8')), 'new lines in a new file');
    const lines = d.docker(['logs', 'rotating']).stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), ['n1', 'n2', 'n3'], 'the old file is still read');
    const numbers = lines.map((l) => Number(l.slice(1)));
    assert.ok(numbers.every((n, i) => n === i + 1), 'no line lost or repeated across the two files');
    assert.equal(d.docker(['rm', '-f', 'rotating']).status, 0);
  });

  test('a start whose preparation fails leaves no monitor behind', async () => {
    // The monitor is launched beside the daemon's preparation and waits at its start gate; a user
    // that does not exist fails the preparation after that launch.
    const id = d.docker(['create', '-u', 'nosuchuser', 'busybox', 'true']).stdout.trim();
    const r = d.docker(['start', id]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unable to find user nosuchuser: no matching entries in passwd file/);
    const monitors = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8'); return cmd.includes('berth-monitor') && cmd.includes(id); } catch { return false; }
    });
    assert.deepEqual(monitors(), [], 'the monitor has gone');
    const bundle = join(d.execRoot, 'bundles', id);
    assert.ok(existsSync(bundle), 'the start made its bundle, where the monitor was launched');
    for (const f of ['attach', 'ctl', 'start.gate', 'conmon.pid', 'pidfile']) assert.ok(!existsSync(join(bundle, f)), `${f} is not left in the bundle`);
    assert.ok(!existsSync(join(d.execRoot, 'exits', id)), 'no exit was recorded: nothing ran');
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}}', id]).stdout.trim(), 'created');
    assert.equal(d.docker(['rm', id]).status, 0);
    // The next start of another container goes through the gate.
    const ok = d.docker(['run', '--rm', 'busybox', 'echo', 'through']);
    assert.equal(ok.stdout, 'through\n', ok.stderr);
  });
});
