/**
 * The cgroup-move warmer (src/runtime/cgroup-move-warmer.ts): which cgroup.procs it writes, from
 * /proc/self/cgroup on a hybrid, a v1 and a v2-only host; and that it writes this process's pid
 * there while a start holds it, again and again, and stops once every start has let go. (Whether
 * the kernel then spares runc the grace period is measured by the benchmark, not asserted here.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupMoveWarmer, ownCgroupProcsFile } from '../../src/runtime/cgroup-move-warmer.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-warmer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function procCgroup(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('the cgroup.procs of its own cgroup: pids first on cgroup v1, else the unified hierarchy', () => {
  const hybrid = procCgroup('hybrid', '9:name=systemd:/\n8:pids:/system.slice/berth.service\n4:memory:/x\n0::/system.slice/berth.service\n');
  assert.equal(ownCgroupProcsFile(hybrid, '/sys/fs/cgroup'), '/sys/fs/cgroup/pids/system.slice/berth.service/cgroup.procs');
  const noPids = procCgroup('nopids', '9:name=systemd:/\n3:cpu,cpuacct:/\n0::/\n');
  assert.equal(ownCgroupProcsFile(noPids, '/sys/fs/cgroup'), '/sys/fs/cgroup/cpu/cgroup.procs');
  const root = join(dir, 'v2root');
  mkdirSync(root);
  const v2 = procCgroup('v2', '0::/user.slice/session-1.scope\n');
  assert.equal(ownCgroupProcsFile(v2, root), `${root}/user.slice/session-1.scope/cgroup.procs`);
  mkdirSync(join(root, 'unified'));
  writeFileSync(join(root, 'unified', 'cgroup.controllers'), '');
  assert.equal(ownCgroupProcsFile(v2, root), `${root}/unified/user.slice/session-1.scope/cgroup.procs`, 'a hybrid host without v1 controllers of ours');
  assert.equal(ownCgroupProcsFile(join(dir, 'missing'), root), undefined);
});

test('writes its own pid while held, repeatedly, and stops when let go', async () => {
  const file = join(dir, 'cgroup.procs');
  writeFileSync(file, '');
  const warmer = new CgroupMoveWarmer(file);
  const writes = () => statSync(file).mtimeMs;
  const release = warmer.hold();
  await until(() => readFileSync(file, 'utf8') === String(process.pid));
  // Written again while held: the mtime moves on.
  const first = writes();
  await until(() => writes() > first);
  const second = warmer.hold();
  release();
  release();   // twice is once
  assert.equal(warmer.holding, 1);
  second();
  assert.equal(warmer.holding, 0);
  await warmer.whenIdle();   // the write in flight, if any, lands
  const last = writes();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(writes(), last, 'no writes once nobody holds it');
  warmer.close();
});

test('without a file of its own to write, holding is a no-op', () => {
  const warmer = new CgroupMoveWarmer(undefined);
  const release = warmer.hold();
  assert.equal(warmer.holding, 0);
  release();
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition never met');
}
