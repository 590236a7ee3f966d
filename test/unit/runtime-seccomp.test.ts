import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSeccomp, probeKernelX32, seccompFor } from '../../src/runtime/seccomp.js';
import { DOCKER_DEFAULT_SECCOMP } from '../../src/runtime/seccomp-default.js';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/oci-spec.js';

test('the default profile on amd64 covers x86_64, x86 and x32, and leaves x32 out when the kernel cannot run it', () => {
  const withX32 = resolveSeccomp(DOCKER_DEFAULT_SECCOMP, DEFAULT_CAPABILITIES, 'x64', true);
  assert.deepEqual(withX32.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const without = resolveSeccomp(DOCKER_DEFAULT_SECCOMP, DEFAULT_CAPABILITIES, 'x64', false);
  assert.deepEqual(without.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  // The rules themselves are the same: only the ABI list changes.
  assert.deepEqual(without.syscalls, withX32.syscalls);
  const names = (without.syscalls as { names: string[]; action: string }[]).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names);
  assert.ok(names.includes('read') && names.includes('clone'));
  assert.ok(!names.includes('unshare'), 'unshare needs CAP_SYS_ADMIN in Docker\'s profile');
});

test('the x32 probe reads the kernel symbol table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-x32-'));
  try {
    const f = join(dir, 'kallsyms');
    writeFileSync(f, 'ffffffff81249190 T x64_sys_call\nffffffff8124b860 T ia32_sys_call\n');
    assert.equal(await probeKernelX32(f), false);
    writeFileSync(f, 'ffffffff81249190 T x64_sys_call\nffffffff8124a000 T x32_sys_call\nffffffff8124a001 T after\n');
    assert.equal(await probeKernelX32(f), true);
    assert.equal(await probeKernelX32(join(dir, 'missing')), true, 'unknown means keep the rules');
    // This machine: the probe agrees with the kernel's own configuration when it is published.
    if (existsSync('/proc/config.gz')) {
      const config = execFileSync('sh', ['-c', 'zcat /proc/config.gz'], { encoding: 'utf8' });
      assert.equal(await probeKernelX32(), /^CONFIG_X86_X32_ABI=y$/m.test(config));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unconfined and privileged containers get no filter; a bad profile is refused', () => {
  assert.equal(seccompFor(['seccomp=unconfined'], DEFAULT_CAPABILITIES, false), undefined);
  assert.equal(seccompFor([], DEFAULT_CAPABILITIES, true), undefined);
  assert.throws(() => seccompFor(['seccomp={'], DEFAULT_CAPABILITIES, false), /Decoding seccomp profile failed/);
});
