/**
 * Seccomp for containers: Docker's profile format (archMap, includes/excludes on capabilities,
 * architectures and minimum kernel) resolved into the OCI runtime spec's `linux.seccomp` for one
 * container's capabilities on this machine. Profiles given with `--security-opt seccomp=<file>`
 * (the CLI sends the file's JSON) go through the same conversion; OCI-form profiles pass through.
 */
import { execFile } from 'node:child_process';
import { release } from 'node:os';
import { InvalidParameterError } from '../errors/index.js';
import { DOCKER_DEFAULT_SECCOMP } from './seccomp-default.js';

export interface DockerSeccompRule {
  names?: string[]; name?: string; action: string; errnoRet?: number; args?: unknown[] | null; comment?: string;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[]; minKernel?: string };
}

export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  architectures?: string[];
  listenerPath?: string;
  flags?: string[];
  syscalls?: DockerSeccompRule[] | null;
}

/** Node's process.arch → the Go names the profile's `arches` use, and the libseccomp name. */
const ARCHES: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' }, arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  arm: { go: 'arm', scmp: 'SCMP_ARCH_ARM' }, ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' }, ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' }, riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
};

function kernelAtLeast(min: string, current = release()): boolean {
  const a = current.split(/[.-]/).map(Number); const b = min.split('.').map(Number);
  for (let i = 0; i < 2; i++) { if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0); }
  return true;
}

let x32Support: boolean | undefined;

/**
 * Finds out whether this kernel runs x32 binaries (CONFIG_X86_X32_ABI): its x32 syscall entry shows
 * in kallsyms. Without it, x32 rules in a filter guard an ABI nothing can use, yet libseccomp still
 * compiles them at every container start (about a third of runc's CPU time here). The daemon probes
 * once at start-up (kallsyms is a few MB); until then the x32 rules are kept.
 */
export function probeKernelX32(kallsyms = '/proc/kallsyms'): Promise<boolean> {
  // grep reads the table, so the daemon never holds its megabytes (idle memory counts).
  return new Promise((resolve) => {
    execFile('grep', ['-qE', ' (x32_sys_call|x32_sys_call_table|__x32_sys_[a-z0-9_]+)$', kallsyms], (err) => {
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      x32Support = code !== 1;   // 0: found; 1: not there; anything else: unknown, keep the rules
      resolve(x32Support);
    });
  });
}

export function kernelRunsX32(): boolean { return x32Support ?? true; }

/** Resolves a Docker-format profile for a container holding `caps` (e.g. ["CAP_CHOWN", …]). */
export function resolveSeccomp(profile: DockerSeccompProfile, caps: string[], arch = process.arch, x32 = arch === 'x64' ? kernelRunsX32() : true): Record<string, unknown> {
  const a = ARCHES[arch] ?? { go: arch, scmp: '' };
  const goArches = a.go === 'amd64' ? ['amd64', 'x32', 'x86', '386'] : [a.go];
  const capSet = new Set(caps);
  let architectures = profile.architectures ?? [];
  if (profile.archMap?.length) {
    const m = profile.archMap.find((x) => x.architecture === a.scmp);
    architectures = m ? [m.architecture, ...(m.subArchitectures ?? [])] : [];
  }
  if (!x32) architectures = architectures.filter((x) => x !== 'SCMP_ARCH_X32');
  const syscalls: Record<string, unknown>[] = [];
  for (const r of profile.syscalls ?? []) {
    const inc = r.includes ?? {}; const exc = r.excludes ?? {};
    if (inc.caps?.length && !inc.caps.every((c) => capSet.has(c))) continue;
    if (inc.arches?.length && !inc.arches.some((x) => goArches.includes(x))) continue;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) continue;
    if (exc.caps?.length && exc.caps.some((c) => capSet.has(c))) continue;
    if (exc.arches?.length && exc.arches.some((x) => goArches.includes(x))) continue;
    if (exc.minKernel && kernelAtLeast(exc.minKernel)) continue;
    const names = r.names?.length ? r.names : r.name ? [r.name] : [];
    if (!names.length) continue;
    syscalls.push({ names, action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(r.args?.length ? { args: r.args } : {}) });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures, ...(profile.flags?.length ? { flags: profile.flags } : {}), syscalls,
  };
}

/**
 * The seccomp section for a container from its SecurityOpt: undefined for `seccomp=unconfined`
 * (and for privileged containers), the given profile for `seccomp=<json>`, Docker's default otherwise.
 */
export function seccompFor(securityOpt: string[] | undefined, caps: string[], privileged: boolean): Record<string, unknown> | undefined {
  const opt = (securityOpt ?? []).find((s) => /^seccomp[=:]/.test(s));
  const value = opt?.slice('seccomp='.length);
  if (value === 'unconfined') return undefined;
  if (value !== undefined && value !== 'builtin') {
    let profile: DockerSeccompProfile;
    try { profile = JSON.parse(value); } catch { throw new InvalidParameterError(`Decoding seccomp profile failed: invalid character in ${value.slice(0, 40)}`); }
    if (!profile || typeof profile.defaultAction !== 'string') throw new InvalidParameterError('Decoding seccomp profile failed: missing defaultAction');
    return resolveSeccomp(profile, caps);
  }
  if (privileged) return undefined;
  return resolveSeccomp(DOCKER_DEFAULT_SECCOMP, caps);
}
