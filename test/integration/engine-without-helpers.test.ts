/**
 * berthd as a machine without a C compiler runs it (BERTH_NO_NATIVE_HELPERS=1): mounts and
 * namespaces through mount(8) and ip(8), conmon (not berth-monitor) and the tools spawned by the daemon, exec through
 * conmon + runc exec. The same user-visible behaviour, checked through the real docker CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { importBusybox, parentPid, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

/** Processes whose parent is `pid`, by command name. */
function childNames(pid: number): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(pid) ? [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))] : [];
    } catch { return []; }
  });
}

describe('berthd without its native helpers', () => {
  let d: Berthd;

  before(async () => {
    d = await startBerthd({ env: { BERTH_NO_NATIVE_HELPERS: '1' } });
    importBusybox(d);
  });
  after(async () => { await d?.cleanup(); });

  test('run, network, exec, stop and removal work through the tools', async () => {
    const run = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0 | grep -c inet; grep -c . /etc/hosts']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim().split('\n')[0], '1', 'eth0 has its address');
    const started = d.docker(['run', '-d', '--name', 'plain', 'busybox', 'sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    assert.equal(started.status, 0, started.stderr);
    const initPid = d.docker(['inspect', '-f', '{{.State.Pid}}', 'plain']).stdout.trim();
    const monitor = parentPid(initPid);
    assert.equal(readFileSync(`/proc/${monitor}/comm`, 'utf8').trim(), 'conmon', 'conmon holds the container');
    const ex = d.docker(['exec', 'plain', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.equal(ex.status, 5);
    assert.equal(ex.stdout, 'out\n');
    assert.equal(ex.stderr, 'err\n');
    // Large stdin through conmon's attach socket, for the container and for an exec.
    const data = randomBytes(4 * 1024 * 1024);
    const md5 = createHash('md5').update(data).digest('hex');
    assert.equal(d.docker(['run', '-i', '--rm', 'busybox', 'md5sum'], { input: data }).stdout.split(' ')[0], md5);
    assert.equal(d.docker(['exec', '-i', 'plain', 'md5sum'], { input: data }).stdout.split(' ')[0], md5);
    const missing = d.docker(['exec', 'plain', '/no/such/thing']);
    assert.equal(missing.status, 127);
    assert.ok(!childNames(d.proc.pid!).some((n) => n.startsWith('berth-hostops') || n.startsWith('berth-nsexec')), 'no helper was started');
    const id = d.docker(['inspect', '-f', '{{.Id}}', 'plain']).stdout.trim();
    const rootfs = `${d.dataRoot}/containers/${id}/rootfs`;
    assert.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${rootfs} `), 'the root is mounted');
    assert.equal(d.docker(['stop', 'plain']).status, 0);
    await waitFor(() => !readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${rootfs} `), 'root unmounted after the stop', 10_000);
    assert.equal(d.docker(['rm', 'plain']).status, 0);
    assert.ok(!existsSync(`${d.dataRoot}/containers/${id}`));
  });
});
