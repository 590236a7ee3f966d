/**
 * ConmonRuntime.start on its own (no daemon): a real bundle run by runc under berth-monitor. The
 * start is where a quick command races the runtime's bookkeeping: the process may run and exit
 * before the runtime has seen the byte that says it was started.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSpec, ConmonRuntime, findBinary, monitorBinary } from '../../src/runtime/index.js';
import { busyboxRootfs, cleanupDir, waitFor } from './helpers/berthd.js';

describe('ConmonRuntime.start', () => {
  let dir: string;
  let rt: ConmonRuntime;
  const cgroupParent = `/berth-rtstart-${process.pid}`;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-rtstart-'));
    rt = new ConmonRuntime({
      name: 'runc', path: findBinary('runc')!, stateRoot: join(dir, 'state'), bundleRoot: dir, exitDir: join(dir, 'exits'),
      socketDir: join(dir, 'sockets'), conmonPath: findBinary('conmon') ?? '/usr/bin/conmon', monitorPath: monitorBinary(findBinary('conmon') ?? ''),
    });
    mkdirSync(join(dir, 'exits'), { recursive: true });
  });
  after(() => { cleanupDir(dir, cgroupParent); });

  function bundle(id: string, args: string[]): string {
    const b = join(dir, id);
    mkdirSync(join(b, 'rootfs'), { recursive: true });
    const x = spawnSync('tar', ['-xf', busyboxRootfs(), '-C', join(b, 'rootfs')]);
    assert.equal(x.status, 0, String(x.stderr));
    const files = { hostname: join(b, 'hostname'), hosts: join(b, 'hosts'), resolvConf: join(b, 'resolv.conf') };
    for (const f of Object.values(files)) writeFileSync(f, '');
    const spec = buildSpec({
      rootfs: join(b, 'rootfs'), args, env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 }, tty: false,
      hostname: 'quick', files, netnsPath: null, cgroupsPath: `${cgroupParent}/${id}`,
    });
    writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
    return b;
  }

  test('a command that runs and exits before the runtime looks again is started, not refused', async () => {
    const id = 'a'.repeat(64);
    const b = bundle(id, ['true']);
    // Once the start is under way, hold the event loop in its check phase until the process has
    // come and gone: the timers that follow it (before any I/O) find no process, with the byte that
    // started it still unread — what a busy daemon meets with quick commands.
    const { pid } = await rt.start({
      id, bundle: b, logPath: join(b, 'log'), tty: false, openStdin: false, stdinOnce: false,
      beforeStart: async () => {
        process.nextTick(() => setImmediate(() => {
          // At least as long as the runtime's look-again interval (20 ms), and until the exit.
          const from = Date.now();
          while ((Date.now() - from < 50 || !existsSync(rt.exitFile(id))) && Date.now() - from < 10_000) { /* busy: the loop must not turn */ }
        }));
      },
    });
    assert.ok(pid > 0);
    assert.equal(readFileSync(rt.exitFile(id), 'utf8').trim(), '0', 'true ran and exited 0');
    await rt.release(id);
    assert.equal(existsSync(join(dir, 'state', id)), false, 'runtime state released');
  });

  test('a process that dies before it is started is still reported as such', async () => {
    const id = 'b'.repeat(64);
    const b = bundle(id, ['sleep', '1000']);
    await assert.rejects(rt.start({
      id, bundle: b, logPath: join(b, 'log'), tty: false, openStdin: false, stdinOnce: false,
      beforeStart: async () => {
        // The created process (still waiting for its start) is killed from outside.
        const state = JSON.parse(readFileSync(join(dir, 'state', id, 'state.json'), 'utf8'));
        process.kill(state.init_process_pid, 'SIGKILL');
        await waitFor(() => !existsSync(`/proc/${state.init_process_pid}`), 'the killed process to be gone');
      },
    }), /exited before it was started/);
    await rt.release(id).catch(() => undefined);
  });
});
