/**
 * Health checks through the real docker CLI: --health-cmd turns healthy, `(healthy)` in ps,
 * State.Health in inspect, a failing check turns unhealthy after the retries, health_status
 * events, and --no-healthcheck.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('health checks', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });
  const svc = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
  const health = (n: string) => d.docker(['inspect', '-f', '{{.State.Health.Status}} {{.State.Health.FailingStreak}}', n]).stdout.trim();

  test('a passing check turns healthy; ps shows it; events report it', async () => {
    const ev = spawn('docker', ['events', '--filter', 'event=health_status', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { env: d.env });
    let events = '';
    ev.stdout.on('data', (x) => { events += x; });
    try {
      assert.equal(d.docker(['run', '-d', '--name', 'good', '--health-cmd', 'test -e /tmp/ok || touch /tmp/ok', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sh', '-c', svc]).status, 0);
      assert.match(health('good'), /^(starting|healthy) 0$/);
      await waitFor(() => health('good') === 'healthy 0', 'healthy');
      assert.match(d.docker(['ps', '--filter', 'name=good', '--format', '{{.Status}}']).stdout, /\(healthy\)/);
      const log = JSON.parse(d.docker(['inspect', '-f', '{{json .State.Health.Log}}', 'good']).stdout);
      assert.equal(log[0].ExitCode, 0);
      await waitFor(() => events.includes('health_status: healthy good'), 'health_status event');
    } finally { ev.kill('SIGKILL'); }
  });

  test('a failing check turns unhealthy after the retries, with its output logged', async () => {
    assert.equal(d.docker(['run', '-d', '--name', 'bad', '--health-cmd', 'echo nope; exit 1', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sh', '-c', svc]).status, 0);
    await waitFor(() => health('bad').startsWith('unhealthy'), 'unhealthy');
    assert.ok(Number(health('bad').split(' ')[1]) >= 2);
    const log = JSON.parse(d.docker(['inspect', '-f', '{{json .State.Health.Log}}', 'bad']).stdout);
    assert.equal(log.at(-1).ExitCode, 1);
    assert.equal(log.at(-1).Output, 'nope\n');
    assert.match(d.docker(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']).stdout, /bad/);
  });

  test('--no-healthcheck disables an image HEALTHCHECK', async () => {
    const b = d.docker(['build', '-q', '-t', 'hc', '-'], { input: 'FROM busybox\nHEALTHCHECK --interval=1s CMD true\n' });
    assert.equal(b.status, 0, b.stderr);
    assert.equal(d.docker(['run', '-d', '--name', 'imagehc', 'hc', 'sh', '-c', svc]).status, 0);
    await waitFor(() => health('imagehc') === 'healthy 0', 'image HEALTHCHECK healthy', 20_000);
    assert.equal(d.docker(['run', '-d', '--name', 'nohc', '--no-healthcheck', 'hc', 'sh', '-c', svc]).status, 0);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Health}}', 'nohc']).stdout.trim(), '<nil>');
  });
});
