/**
 * Restart policies through the real docker CLI: on-failure:2 stops after two restarts, always
 * restarts until `docker stop`, and unless-stopped (but not a stopped one) comes back after a
 * daemon restart on the same directories.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('restart policies', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  const state = (name: string) => d.docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}', name]).stdout.trim();

  test('on-failure:2 restarts twice, then stays exited with the exit code', async () => {
    assert.equal(d.docker(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3']).status, 0);
    await waitFor(() => state('flaky') === 'exited 2 3', 'two restarts then exited', 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(state('flaky'), 'exited 2 3');
    assert.equal(d.docker(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'flaky']).stdout.trim(), 'on-failure:2');
  });

  test('on-failure does not restart a clean exit; always does until docker stop', async () => {
    assert.equal(d.docker(['run', '-d', '--name', 'clean', '--restart', 'on-failure', 'busybox', 'true']).status, 0);
    await waitFor(() => state('clean').startsWith('exited'), 'clean exit');
    assert.equal(state('clean'), 'exited 0 0');
    assert.equal(d.docker(['run', '-d', '--name', 'again', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.2']).status, 0);
    await waitFor(() => Number(state('again').split(' ')[1]) >= 2, 'always restarts', 20_000);
    assert.equal(d.docker(['stop', '-t', '1', 'again']).status, 0);
    const after = state('again');
    assert.match(after, /^exited /);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(state('again').split(' ')[0], 'exited', 'stays stopped after docker stop');
  });

  test('rm -f removes a running container under always or on-failure, and one waiting to restart', async () => {
    for (const policy of ['always', 'on-failure']) {
      assert.equal(d.docker(['run', '-d', '--name', 'doomed', '--restart', policy, 'busybox', 'sleep', '300']).status, 0);
      const rm = d.docker(['rm', '-f', 'doomed']);
      assert.equal(rm.status, 0, rm.stderr);
      assert.equal(d.docker(['ps', '-aq', '--filter', 'name=^doomed$']).stdout, '', `${policy}: gone at once`);
      // The name is free again, and the kill's exit did not bring the old one back (its restart was due in 100 ms).
      assert.equal(d.docker(['create', '--name', 'doomed', 'busybox', 'true']).status, 0, policy);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(d.docker(['ps', '-aq', '--filter', 'name=^doomed$']).stdout.trim().split('\n').length, 1, `${policy}: only the new one`);
      assert.equal(d.docker(['rm', 'doomed']).status, 0);
    }
    assert.equal(d.docker(['run', '-d', '--name', 'bouncing', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 1']).status, 0);
    await waitFor(() => Number(state('bouncing').split(' ')[1]) >= 3, 'restarting with back-off', 20_000);
    assert.equal(d.docker(['rm', '-f', 'bouncing']).status, 0);
    assert.equal(d.docker(['ps', '-aq', '--filter', 'name=^bouncing$']).stdout, '');
  });

  test('unless-stopped survives a daemon restart; a stopped one stays stopped', async () => {
    const svc = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    assert.equal(d.docker(['run', '-d', '--name', 'keeper', '--restart', 'unless-stopped', 'busybox', 'sh', '-c', svc]).status, 0);
    assert.equal(d.docker(['run', '-d', '--name', 'stopped', '--restart', 'unless-stopped', 'busybox', 'sh', '-c', svc]).status, 0);
    assert.equal(d.docker(['stop', 'stopped']).status, 0);
    await d.stop();
    d = await startBerthd({ dir: d.dir });
    await waitFor(() => state('keeper').startsWith('running'), 'keeper running again', 20_000);
    assert.equal(state('stopped').split(' ')[0], 'exited');
  });
});
