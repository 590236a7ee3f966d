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
import Database from 'better-sqlite3';
import { importBusybox, mountsUnder, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

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

  test('a start cut short by kill -9 of berthd is released when the daemon comes back', async () => {
    const r = d.docker(['run', '-d', '--name', 'halfway', 'busybox', 'sleep', '1000']);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'halfway']).stdout.trim());
    await d.stop('SIGKILL');
    // The crash came between the runtime's start and the record of it: the runtime state, the root
    // mount, the namespace and the process exist, the record still says "created" (set here in the
    // real database file, as the daemon wrote it before the start).
    const db = new Database(join(d.dataRoot, 'berth.db'));
    const doc = JSON.parse((db.prepare('SELECT doc FROM containers WHERE id = ?').get(id) as { doc: string }).doc);
    doc.State = { ...doc.State, Status: 'created', Running: false, Pid: 0, MonitorPid: 0, StartedAt: '0001-01-01T00:00:00Z' };
    db.prepare('UPDATE containers SET doc = ? WHERE id = ?').run(JSON.stringify(doc), id);
    db.close();
    const state = join(d.execRoot, 'runtime', id);
    const rootfsMounted = () => mountsUnder(d.dir).some((m) => m.endsWith(`${id}/rootfs`));
    const netnsOf = () => d.netnsLeft().filter((n) => n.endsWith(id.slice(0, 12)));
    assert.ok(existsSync(`/proc/${pid}`) && existsSync(state) && rootfsMounted() && netnsOf().length === 1);

    d = await startBerthd({ dir: d.dir });
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'halfway']).stdout.trim(), 'created 0');
    assert.equal(existsSync(state), false, 'runtime state removed');
    assert.equal(rootfsMounted(), false, 'root filesystem unmounted');
    assert.equal(existsSync(`/proc/${pid}`), false, 'the process the record did not know is gone');
    await waitFor(() => netnsOf().length === 0, 'the network namespace to go (removed in the background)');
    assert.equal(id in JSON.parse(d.docker(['network', 'inspect', 'bridge', '-f', '{{json .Containers}}']).stdout), false, 'no endpoint left on the bridge');
    // And it starts normally afterwards.
    const again = d.docker(['start', 'halfway']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}}', 'halfway']).stdout.trim(), 'running');
    assert.equal(d.docker(['rm', '-f', 'halfway']).status, 0);
    assert.equal(rootfsMounted(), false);
  });
});

function require_alive(pid: string): boolean {
  try { process.kill(Number(pid), 0); return true; } catch { return false; }
}
