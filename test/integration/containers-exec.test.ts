/**
 * docker exec through the real docker CLI against a private berthd: output and exit codes,
 * 126/127 like Docker, stdin, env/user/workdir, detached exec, inspect, a fully interactive
 * `exec -it` in a real pty with resize, privileged exec, and bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { importBusybox, repoRoot, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('docker exec', () => {
  let d: Berthd;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    const r = d.docker(['run', '-d', '--name', 'box', 'busybox', 'sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => { await d?.cleanup(); });

  test('output on both streams and the exit code come back', () => {
    const r = d.docker(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    assert.equal(r.status, 4);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('a missing binary gives 127, a non-executable 126, with the runtime message', () => {
    const missing = d.docker(['exec', 'box', '/no/such/thing']);
    assert.equal(missing.status, 127);
    assert.match(missing.stdout + missing.stderr, /OCI runtime exec failed: .*no such file or directory/);
    const notExec = d.docker(['exec', 'box', '/etc']);
    assert.equal(notExec.status, 126);
    assert.match(notExec.stdout + notExec.stderr, /permission denied/);
  });

  test('stdin through a pipe, env, workdir and user', () => {
    const cat = d.docker(['exec', '-i', 'box', 'sh', '-c', 'cat; echo end'], { input: 'line one\nline two\n' });
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'line one\nline two\nend\n');
    const env = d.docker(['exec', '-e', 'GREETING=hello there', '-w', '/tmp', '-u', '1000:1000', 'box', 'sh', '-c', 'echo "$GREETING"; pwd; id -u; id -g']);
    assert.equal(env.status, 0, env.stderr);
    assert.equal(env.stdout, 'hello there\n/tmp\n1000\n1000\n');
    const unknownUser = d.docker(['exec', '-u', 'nobody-here', 'box', 'true']);
    assert.notEqual(unknownUser.status, 0);
    assert.match(unknownUser.stdout + unknownUser.stderr, /unable to find user nobody-here/);
  });

  test('exec -d runs in the background; the exec inspect shows Running, Pid and ExitCode', async () => {
    const r = d.docker(['exec', '-d', 'box', 'sh', '-c', 'echo started > /tmp/bg; sleep 0.5; echo done >> /tmp/bg']);
    assert.equal(r.status, 0, r.stderr);
    await waitFor(() => d.docker(['exec', 'box', 'cat', '/tmp/bg']).stdout === 'started\ndone\n', 'background exec to finish');

    const created = await d.api('POST', '/containers/box/exec', JSON.stringify({ Cmd: ['sh', '-c', 'sleep 0.5; exit 9'], AttachStdout: true }));
    assert.equal(created.status, 201, created.body);
    const id = created.json.Id;
    const before = await d.api('GET', `/exec/${id}/json`);
    assert.equal(before.json.Running, false);
    assert.equal(before.json.ExitCode, null);
    const start = await d.api('POST', `/exec/${id}/start`, JSON.stringify({ Detach: true }));
    assert.equal(start.status, 200, start.body);
    const running = await d.api('GET', `/exec/${id}/json`);
    assert.equal(running.json.Running, true);
    assert.ok(running.json.Pid > 0);
    const done = await waitFor(async () => { const x = await d.api('GET', `/exec/${id}/json`); return x.json.Running === false ? x.json : undefined; }, 'exec to end');
    assert.equal(done.ExitCode, 9);
    const again = await d.api('POST', `/exec/${id}/start`, JSON.stringify({ Detach: true }));
    assert.equal(again.status, 409);
  });

  test('privileged exec gets the full capability set, a plain one the default set', () => {
    const plain = d.docker(['exec', 'box', 'sh', '-c', 'grep CapEff /proc/self/status']);
    const priv = d.docker(['exec', '--privileged', 'box', 'sh', '-c', 'grep CapEff /proc/self/status']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(priv.status, 0, priv.stderr);
    const bits = (s: string) => BigInt('0x' + s.trim().split(/\s+/)[1]).toString(2).replace(/0/g, '').length;
    assert.equal(bits(plain.stdout), 14);
    assert.ok(bits(priv.stdout) > 30, priv.stdout);
  });

  test('exec -it is fully interactive in a real pty, with resize', async () => {
    const driver = join(repoRoot, 'test', 'integration', 'helpers', 'pty-driver.py');
    const p = spawn('python3', [driver, 'docker', 'exec', '-it', 'box', 'sh'], { env: d.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    p.stdout.on('data', (x) => { out += x; });
    p.stderr.on('data', (x) => { err += x; });
    const send = (cmd: object) => p.stdin.write(JSON.stringify(cmd) + '\n');
    try {
      await waitFor(() => out.includes('/ # '), 'shell prompt');
      send({ write: 'echo $((6*7)); tty\r' });
      await waitFor(() => out.includes('42') && out.includes('/dev/pts/'), 'arithmetic output and a tty');
      send({ resize: [33, 99] });
      await waitFor(async () => { send({ write: 'stty size\r' }); await new Promise((r) => setTimeout(r, 200)); return /33 99/.test(out); }, 'resized to 33 99');
      send({ write: 'exit 6\r' });
      await waitFor(() => /EXIT \d+/.test(err), 'docker CLI exit');
      assert.match(err, /EXIT 6/);
    } finally { p.kill('SIGKILL'); }
  });

  test('bad input: unknown exec IDs, stopped containers, empty commands — and the daemon keeps serving', async () => {
    assert.equal((await d.api('GET', '/exec/0123456789abcdef/json')).status, 404);
    assert.equal((await d.api('POST', '/exec/0123456789abcdef/start', '{}')).status, 404);
    assert.equal((await d.api('POST', '/exec/0123456789abcdef/resize?h=10&w=10')).status, 404);
    const empty = await d.api('POST', '/containers/box/exec', JSON.stringify({ Cmd: [] }));
    assert.equal(empty.status, 400);
    assert.equal(d.docker(['create', '--name', 'idle', 'busybox', 'true']).status, 0);
    const stopped = d.docker(['exec', 'idle', 'true']);
    assert.notEqual(stopped.status, 0);
    assert.match(stopped.stderr, /is not running/);
    const nothere = d.docker(['exec', 'nothere', 'true']);
    assert.match(nothere.stderr, /No such container: nothere/);
    assert.equal(d.docker(['exec', 'box', 'true']).status, 0);
  });
});
