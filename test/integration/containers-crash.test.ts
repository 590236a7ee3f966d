/**
 * Containers outlive a daemon crash: kill -9 of berthd while three containers run, an exit while
 * it is down, then a new berthd on the same directories adopts them — same PIDs, the real exit
 * code of the one that ended, logs -f continues, exec and stop work, and a restart policy
 * applies to a container that died meanwhile.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('containers outlive a daemon crash', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  test('kill -9 of berthd, then a new berthd adopts the running containers', async () => {
    const sig = join(d.dir, 'signals');
    mkdirSync(sig, { recursive: true });
    const waitGo = "trap 'exit 0' TERM; while [ ! -f /sig/go ]; do sleep 0.1; done; exit 7";
    const ticker = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done";
    const ids: Record<string, string> = {};
    for (const [name, script, extra] of [['ticker', ticker, []], ['quiet', "trap 'exit 0' TERM; while true; do sleep 0.1; done", []], ['ender', waitGo, ['-v', `${sig}:/sig`]], ['phoenix', waitGo, ['-v', `${sig}:/sig`, '--restart', 'on-failure']]] as [string, string, string[]][]) {
      const r = d.docker(['run', '-d', '--name', name, ...extra, 'busybox', 'sh', '-c', script]);
      assert.equal(r.status, 0, r.stderr);
      ids[name] = r.stdout.trim();
    }
    const pids = Object.fromEntries(Object.keys(ids).map((n) => [n, d.docker(['inspect', '-f', '{{.State.Pid}}', n]).stdout.trim()]));
    await d.stop('SIGKILL');
    // While the daemon is down: two containers end with 7 (they wait for a file in a bind mount).
    writeFileSync(join(sig, 'go'), '');
    await waitFor(() => existsSync(join(d.execRoot, 'exits', ids.ender)) && existsSync(join(d.execRoot, 'exits', ids.phoenix)), 'exits recorded by conmon while down');
    for (const n of ['ticker', 'quiet']) assert.ok(existsSync(`/proc/${pids[n]}`), `${n} still alive without the daemon`);

    rmSync(join(sig, 'go'));
    d = await startBerthd({ dir: d.dir });
    const ps = d.docker(['ps', '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean).sort();
    assert.ok(ps.includes('ticker') && ps.includes('quiet'), ps.join(','));
    for (const n of ['ticker', 'quiet']) assert.equal(d.docker(['inspect', '-f', '{{.State.Pid}}', n]).stdout.trim(), pids[n], `${n} keeps its PID`);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'ender']).stdout.trim(), 'exited 7');
    await waitFor(() => d.docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'phoenix']).stdout.trim() === 'running 1', 'on-failure restarted the one that died while down')
      .catch((e) => { throw new Error(e.message + ': ' + d.docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{.State.Error}}', 'phoenix']).stdout + d.log()); });

    // logs -f goes on with new lines.
    const p = spawn('docker', ['logs', '-f', '--tail', '1', 'ticker'], { env: d.env });
    let out = '';
    p.stdout.on('data', (x) => { out += x; });
    try {
      await waitFor(() => out.split('\n').filter(Boolean).length >= 3, 'new log lines after adoption');
    } finally { p.kill('SIGKILL'); }
    assert.equal(d.docker(['exec', 'quiet', 'echo', 'exec works']).stdout, 'exec works\n');
    const waiter = d.dockerAsync(['wait', 'quiet']);
    assert.equal(d.docker(['stop', 'quiet']).status, 0);
    assert.equal((await waiter).stdout.trim(), '0');
    assert.ok(!existsSync(`/proc/${pids.quiet}`) || !require_alive(pids.quiet));
  });
});

function require_alive(pid: string): boolean {
  try { process.kill(Number(pid), 0); return true; } catch { return false; }
}
