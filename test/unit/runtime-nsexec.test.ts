/**
 * The fast exec path's pure parts: the seccomp profile in berth-nsexec's line format (runc's
 * rule semantics), the helper's arguments from a container's config, runc state and process
 * spec, the fallback for specs it does not support, and the helper's compile of Docker's
 * default profile into a loadable BPF program.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledSeccomp, nsexecBinary, nsexecPlan, seccompLines } from '../../src/runtime/index.js';
import { resolveSeccomp } from '../../src/runtime/seccomp.js';
import { DOCKER_DEFAULT_SECCOMP } from '../../src/runtime/seccomp-default.js';

test('seccomp lines: default and per-rule errno, arches, ANDed conditions, one rule per condition on a shared argument', () => {
  const lines = seccompLines({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 2, op: 'SCMP_CMP_NE' }] },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['kexec_load'], action: 'SCMP_ACT_KILL' },
    ],
  }).trim().split('\n');
  assert.deepEqual(lines, [
    'default errno 1',
    'arch x86_64',
    'arch x86',
    'rule allow 0 read 0',
    'rule allow 0 write 0',
    'rule errno 38 clone3 0',
    'rule errno 1 mkdir 0',
    'rule allow 0 clone 1 0 masked_eq 2114060288 0',
    'rule allow 0 socket 2 0 eq 1 0 1 ne 2 0',
    'rule allow 0 personality 1 0 eq 0 0',
    'rule allow 0 personality 1 0 eq 8 0',
    'rule kill_thread 0 kexec_load 0',
  ]);
});

test('seccomp lines: 64-bit values survive', () => {
  const lines = seccompLines({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0xffffffff00000000, op: 'SCMP_CMP_GE' }] }] });
  assert.match(lines, /rule errno 1 ioctl 1 1 ge 18446744069414584320 0/);
});

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'nsexec-unit-'));
  const statePath = join(dir, 'state.json');
  writeFileSync(statePath, JSON.stringify({
    init_process_pid: 4242, init_process_start: 777,
    cgroup_paths: { '': '/sys/fs/cgroup/unified/x', pids: '/sys/fs/cgroup/pids/x', cpu: '/sys/fs/cgroup/cpu,cpuacct/x', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/x' },
  }));
  const config = {
    process: {},
    linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/x' }] },
  };
  const proc = {
    args: ['sh', '-c', 'echo "a b"'], env: ['PATH=/bin', 'X=1'], cwd: '/tmp',
    user: { uid: 1000, gid: 1001, additionalGids: [10, 20] },
    capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: ['CAP_NOT_A_CAP'] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }],
    noNewPrivileges: true, oomScoreAdj: 5,
  };
  return { dir, statePath, config, proc };
}

test('plan: the helper\'s arguments from config, runc state and the process spec', { skip: !nsexecBinary() && 'berth-nsexec not built' }, async () => {
  const f = fixture();
  try {
    const plan = await nsexecPlan({ id: 'cid', config: f.config, statePath: f.statePath, cacheDir: f.dir }, f.proc, '/home/u');
    assert.deepEqual(plan, [
      'exec', 'pid=4242', 'start=777', `ns=${0x08000000 | 0x04000000 | 0x00020000 | 0x40000000}`, 'pidns=1',
      'cgroup=/sys/fs/cgroup/unified/x', 'cgroup=/sys/fs/cgroup/pids/x', 'cgroup=/sys/fs/cgroup/cpu,cpuacct/x',
      'keyring=_ses.cid', 'uid=1000', 'gid=1001', 'groups=10,20', 'rlimit=7:1024:4096', 'oom=5',
      'capb=21', 'cape=20', 'capp=20', 'capi=0', 'capa=0', 'nnp=1', 'cwd=/tmp',
      'env=PATH=/bin', 'env=X=1', 'env=HOME=/home/u', 'arg=sh', 'arg=-c', 'arg=echo "a b"',
    ]);
    // HOME is added only when the environment has none (as runc does).
    const withHome = await nsexecPlan({ id: 'cid', config: f.config, statePath: f.statePath, cacheDir: f.dir }, { ...f.proc, env: ['HOME=/mine'] }, '/home/u');
    assert.deepEqual(withHome?.filter((a) => a.startsWith('env=')), ['env=HOME=/mine']);
  } finally { rmSync(f.dir, { recursive: true, force: true }); }
});

test('plan: specs the helper does not support go to runc', { skip: !nsexecBinary() && 'berth-nsexec not built' }, async () => {
  const f = fixture();
  try {
    const target = { id: 'cid', config: f.config, statePath: f.statePath, cacheDir: f.dir };
    assert.equal(await nsexecPlan(target, { ...f.proc, terminal: true }, '/'), undefined);
    assert.equal(await nsexecPlan(target, { ...f.proc, apparmorProfile: 'docker-default' }, '/'), undefined);
    assert.equal(await nsexecPlan(target, { ...f.proc, selinuxLabel: 'x' }, '/'), undefined);
    assert.equal(await nsexecPlan({ ...target, config: { linux: { namespaces: [{ type: 'user' }] } } }, f.proc, '/'), undefined);
    assert.equal(await nsexecPlan({ ...target, config: { linux: { seccomp: { defaultAction: 'SCMP_ACT_NOTIFY' } } } }, f.proc, '/'), undefined);
    assert.equal(await nsexecPlan({ ...target, config: { linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x' } } } }, f.proc, '/'), undefined);
    assert.equal(await nsexecPlan({ ...target, statePath: join(f.dir, 'missing.json') }, f.proc, '/'), undefined);
  } finally { rmSync(f.dir, { recursive: true, force: true }); }
});

test('Docker\'s default profile compiles once into a BPF program, cached by content', { skip: !nsexecBinary() && 'berth-nsexec not built' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nsexec-unit-'));
  try {
    const profile = resolveSeccomp(DOCKER_DEFAULT_SECCOMP, ['CAP_CHOWN', 'CAP_KILL'], 'x64', false) as any;
    const file = await compiledSeccomp(nsexecBinary()!, dir, profile);
    const bpf = readFileSync(file);
    assert.equal(bpf.length % 8, 0);
    assert.ok(bpf.length / 8 > 100, `${bpf.length / 8} instructions`);
    // runc's ENOSYS stub comes first: ld [arch]; jeq x86_64; jeq i386; ja filter; ld [nr]; jset x32 bit; ...
    const insn = (i: number) => ({ code: bpf.readUInt16LE(i * 8), k: bpf.readUInt32LE(i * 8 + 4) });
    assert.deepEqual(insn(0), { code: 0x20, k: 4 });
    assert.deepEqual(insn(1), { code: 0x15, k: 0xc000003e });
    assert.deepEqual(insn(4), { code: 0x20, k: 0 });
    assert.deepEqual(insn(5), { code: 0x45, k: 0x40000000 });
    const mtime = statSync(file).mtimeMs;
    assert.equal(await compiledSeccomp(nsexecBinary()!, dir, profile), file);
    assert.equal(statSync(file).mtimeMs, mtime);
    // A permissive default gets no stub: libseccomp's program starts with its own arch check.
    const allow = readFileSync(await compiledSeccomp(nsexecBinary()!, dir, { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    const retEnosys = (b: Buffer) => Array.from({ length: b.length / 8 }, (_, i) => i).some((i) => b.readUInt16LE(i * 8) === 0x06 && b.readUInt32LE(i * 8 + 4) === 0x50026);
    assert.equal(retEnosys(allow), false);
    assert.equal(retEnosys(bpf), true);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
