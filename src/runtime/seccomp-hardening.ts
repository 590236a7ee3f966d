/**
 * Container hooks for the OCI spec's security and resource details that the core spec builder
 * leaves out: Docker's default seccomp profile (or the one asked for), `--init` (tini bound in
 * as /sbin/docker-init), `--device`, `--device-cgroup-rule`, OomScoreAdj, memory swappiness, blkio
 * weights and throttles, `--cgroupns private`, annotations — and the
 * create-time checks for impossible limits, with Docker's messages.
 */
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { InvalidParameterError } from '../errors/index.js';
import { CAP_NAMES } from './oci-spec.js';
import { seccompFor } from './seccomp.js';

interface HostConfigured { HostConfig: Record<string, any> }

const TINI = ['/usr/bin/tini-static', '/usr/bin/tini', '/sbin/tini', '/usr/local/bin/tini'];

function parseCpuList(list: string): number[] | undefined {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]); const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** Docker's checks of resource and security options at create. */
export function validateResources(h: Record<string, any>): void {
  // os.cpus() reads /proc/cpuinfo (~0.3 ms): only when a limit needs the count.
  const n = h.NanoCpus || h.CpusetCpus ? cpus().length : 0;
  if (h.NanoCpus && (h.NanoCpus < 1e7 || h.NanoCpus > n * 1e9)) throw new InvalidParameterError(`Range of CPUs is from 0.01 to ${n.toFixed(2)}, as there are only ${n} CPUs available`);
  if (h.NanoCpus && (h.CpuQuota > 0 || h.CpuPeriod > 0)) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (h.CpusetCpus) {
    const list = parseCpuList(String(h.CpusetCpus));
    if (!list) throw new InvalidParameterError(`Invalid value ${h.CpusetCpus} for cpuset cpus`);
    if (list.some((c) => c >= n)) throw new InvalidParameterError(`Requested CPUs are not available - requested ${h.CpusetCpus}, available: ${n === 1 ? '0' : `0-${n - 1}`}`);
  }
  if (h.CpuShares < 0) throw new InvalidParameterError(`invalid CPU shares (${h.CpuShares}): value must be a positive integer`);
  if (h.CpuQuota > 0 && h.CpuQuota < 1000) throw new InvalidParameterError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (h.CpuPeriod > 0 && (h.CpuPeriod < 1000 || h.CpuPeriod > 1_000_000)) throw new InvalidParameterError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (h.CpuRealtimePeriod > 0 || h.CpuRealtimeRuntime > 0) {
    const rt = existsSync('/sys/fs/cgroup/cpu/cpu.rt_period_us');   // the real-time group scheduler (cgroup v1 cpu controller)
    if (h.CpuRealtimePeriod > 0 && !rt) throw new InvalidParameterError('Your kernel does not support cgroup cpu real-time period');
    if (h.CpuRealtimeRuntime > 0 && !rt) throw new InvalidParameterError('Your kernel does not support cgroup cpu real-time runtime');
    if (h.CpuRealtimePeriod > 0 && h.CpuRealtimeRuntime > h.CpuRealtimePeriod) throw new InvalidParameterError('cpu real-time runtime cannot be higher than cpu real-time period');
  }
  if (h.MemorySwap > 0 && !(h.Memory > 0)) throw new InvalidParameterError('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory) throw new InvalidParameterError('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (h.MemoryReservation > 0 && h.Memory > 0 && h.MemoryReservation > h.Memory) throw new InvalidParameterError('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (h.MemorySwappiness !== undefined && h.MemorySwappiness !== null && h.MemorySwappiness !== -1 && (h.MemorySwappiness < 0 || h.MemorySwappiness > 100)) throw new InvalidParameterError(`Invalid value: ${h.MemorySwappiness}, valid memory swappiness range is 0-100`);
  if (h.ShmSize < 0) throw new InvalidParameterError('SHM size can not be less than 0');
  for (const [field, list] of [['CapAdd', h.CapAdd], ['CapDrop', h.CapDrop]] as const) {
    for (const cap of (list ?? []) as string[]) {
      const name = String(cap).toUpperCase().replace(/^CAP_/, '');
      if (name !== 'ALL' && !CAP_NAMES.includes(name)) throw new InvalidParameterError(`invalid ${field}: unknown capability: "CAP_${name}"`);
    }
  }
  if (h.CgroupnsMode !== undefined && !['', 'host', 'private'].includes(h.CgroupnsMode)) throw new InvalidParameterError(`invalid cgroup namespace mode: ${h.CgroupnsMode}`);
  if (h.Annotations && Object.keys(h.Annotations).some((k) => k === '')) throw new InvalidParameterError('invalid Annotations: the empty string is not permitted as an annotation key');
  for (const rule of (h.DeviceCgroupRules ?? []) as string[]) deviceCgroupRule(rule);
  for (const field of BLKIO_DEVICE_FIELDS) for (const d of (h[field] ?? []) as { Path?: string }[]) blockDevice(d.Path);
  if (h.OomScoreAdj !== undefined && (h.OomScoreAdj < -1000 || h.OomScoreAdj > 1000)) throw new InvalidParameterError(`Invalid value ${h.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  for (const opt of (h.SecurityOpt ?? []) as string[]) {
    if (!/^(no-new-privileges([:=](true|false))?|seccomp[=:].+|apparmor[=:].+|label[=:].+|systempaths=unconfined|mask=.*|unmask=.*)$/.test(opt)) throw new InvalidParameterError(`invalid --security-opt 2: "${opt}"`);
  }
  for (const d of (h.Devices ?? []) as { PathOnHost?: string }[]) {
    if (!d.PathOnHost || !existsSync(d.PathOnHost)) throw new InvalidParameterError(`error gathering device information while adding custom device "${d.PathOnHost}": no such file or directory`);
  }
  if (h.Init && !TINI.some((p) => existsSync(p))) throw new InvalidParameterError('docker-init binary not found: install tini');
  // Seccomp profiles are parsed now so a bad one fails the create, not the start.
  seccompFor(h.SecurityOpt, [], !!h.Privileged);
}

/** `--device-cgroup-rule 'c 1:3 mr'` → an OCI device cgroup entry. */
function deviceCgroupRule(rule: string): { allow: true; type: string; major?: number; minor?: number; access: string } {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(String(rule));
  if (!m) throw new InvalidParameterError(`invalid device cgroup rule format: '${rule}'`);
  return { allow: true, type: m[1], ...(m[2] === '*' ? {} : { major: Number(m[2]) }), ...(m[3] === '*' ? {} : { minor: Number(m[3]) }), access: m[4] };
}

const BLKIO_DEVICE_FIELDS = ['BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps'] as const;

/** Major and minor numbers of a device node (Linux's encoding of st_rdev). */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return { major: Number((r >> 8n) & 0xfffn), minor: Number((r & 0xffn) | ((r >> 12n) & 0xfff00n)) };
}

function blockDevice(path: string | undefined): { major: number; minor: number } {
  let st;
  try { st = statSync(String(path)); } catch { throw new InvalidParameterError(`stat ${path}: no such file or directory`); }
  if (!st.isBlockDevice()) throw new InvalidParameterError(`${path} is not a block device`);
  return deviceNumbers(st.rdev);
}

/** The device nodes under /dev, as dockerd's privileged containers get them (its HostDevices: the same directories left out). */
function hostDevices(dir = '/dev'): { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[] {
  const out: ReturnType<typeof hostDevices> = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    const p = `${dir}/${n}`;
    let st;
    try { st = lstatSync(p); } catch { continue; }
    if (st.isDirectory()) { if (!['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(n)) out.push(...hostDevices(p)); continue; }
    if (p === '/dev/console') continue;   // the container's own console, if any, is the runtime's
    const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '';
    if (type) out.push({ path: p, type, ...deviceNumbers(st.rdev), fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid });
  }
  return out;
}

/**
 * dockerd's create warnings for settings this host cannot honour (they are discarded, as there) or
 * that are risky; the docker CLI prints them.
 */
export function resourceWarnings(h: Record<string, any>): string[] {
  const warnings: string[] = [];
  if (h.BlkioWeight > 0 && !existsSync('/sys/fs/cgroup/blkio/blkio.weight')) {
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    h.BlkioWeight = 0;
  }
  if (h.BlkioWeightDevice?.length && !existsSync('/sys/fs/cgroup/blkio/blkio.weight_device')) {
    warnings.push('Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
    h.BlkioWeightDevice = [];
  }
  if (h.OomKillDisable && !(h.Memory > 0)) warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  return warnings;
}

export function specHardening() {
  return {
    created(c: HostConfigured): string[] { validateResources(c.HostConfig); return resourceWarnings(c.HostConfig); },
    adjustSpec(c: HostConfigured, spec: Record<string, any>): void {
      const h = c.HostConfig;
      const linux = (spec.linux ??= {});
      const seccomp = seccompFor(h.SecurityOpt, spec.process?.capabilities?.bounding ?? [], !!h.Privileged);
      if (seccomp) linux.seccomp = seccomp; else delete linux.seccomp;
      // --privileged sees the host's devices, as with dockerd (its cgroup already allows them all).
      if (h.Privileged) (linux.devices ??= []).push(...hostDevices());
      if (h.Init) {
        const tini = TINI.find((p) => existsSync(p))!;
        spec.mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: tini, options: ['rbind', 'ro', 'rprivate'] });
        spec.process.args = ['/sbin/docker-init', '--', ...spec.process.args];
      }
      if (typeof h.OomScoreAdj === 'number') spec.process.oomScoreAdj = h.OomScoreAdj;
      const res = (linux.resources ??= {});
      if (typeof h.MemorySwappiness === 'number' && h.MemorySwappiness >= 0) res.memory = { ...(res.memory ?? {}), swappiness: h.MemorySwappiness };
      if (h.BlkioWeight > 0) res.blockIO = { ...(res.blockIO ?? {}), weight: h.BlkioWeight };
      if (h.MemorySwap === -1 && res.memory) res.memory.swap = -1;
      for (const d of (h.Devices ?? []) as { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }[]) {
        const st = statSync(d.PathOnHost);
        const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '';
        if (!type) throw new InvalidParameterError(`error gathering device information while adding custom device "${d.PathOnHost}": not a device node`);
        const { major, minor } = deviceNumbers(st.rdev);
        (linux.devices ??= []).push({ path: d.PathInContainer || d.PathOnHost, type, major, minor, fileMode: st.mode & 0o777, uid: 0, gid: 0 });
        (res.devices ??= []).push({ allow: true, type, major, minor, access: d.CgroupPermissions || 'rwm' });
      }
      for (const rule of (h.DeviceCgroupRules ?? []) as string[]) (res.devices ??= []).push(deviceCgroupRule(rule));
      const io = (key: string, field: typeof BLKIO_DEVICE_FIELDS[number], value: 'Weight' | 'Rate') => {
        const list = ((h[field] ?? []) as Record<string, any>[]).map((d) => ({ ...blockDevice(d.Path), [value === 'Weight' ? 'weight' : 'rate']: d[value] }));
        if (list.length) res.blockIO = { ...(res.blockIO ?? {}), [key]: list };
      };
      io('weightDevice', 'BlkioWeightDevice', 'Weight');
      io('throttleReadBpsDevice', 'BlkioDeviceReadBps', 'Rate');
      io('throttleWriteBpsDevice', 'BlkioDeviceWriteBps', 'Rate');
      io('throttleReadIOPSDevice', 'BlkioDeviceReadIOps', 'Rate');
      io('throttleWriteIOPSDevice', 'BlkioDeviceWriteIOps', 'Rate');
      if (h.CgroupnsMode === 'private') (linux.namespaces ??= []).push({ type: 'cgroup' });
      if (h.Annotations) spec.annotations = { ...(spec.annotations ?? {}), ...h.Annotations };
    },
  };
}
