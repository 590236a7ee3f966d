/**
 * The OCI runtime spec (config.json) for a container, from its Engine API Config and HostConfig:
 * Docker's default capabilities, masked and read-only paths, /dev, and the files the engine
 * provides (/etc/hostname, /etc/hosts, /etc/resolv.conf).
 */
import { readFileSync } from 'node:fs';

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Linux capabilities by number (CAP_CHOWN is 0), without the CAP_ prefix. */
export const CAP_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

/** The capabilities this process may grant: its bounding set (root here lacks some, e.g. SYS_RESOURCE). */
export function boundingCapabilities(): string[] {
  try {
    const m = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    const mask = BigInt('0x' + (m?.[1] ?? '0'));
    return CAP_NAMES.map((n, i) => ((mask >> BigInt(i)) & 1n ? 'CAP_' + n : '')).filter(Boolean);
  } catch { return DEFAULT_CAPABILITIES; }
}

/** Current hard limits: never ask runc for more (it fails with "error setting rlimit"). */
export function hardLimit(resource: 'nofile' | 'nproc'): number {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const label = resource === 'nofile' ? 'Max open files' : 'Max processes';
    const line = text.split('\n').find((l) => l.startsWith(label));
    const hard = line?.slice(label.length).trim().split(/\s+/)[1];
    return hard === 'unlimited' || !hard ? Number.MAX_SAFE_INTEGER : Number(hard);
  } catch { return 1024; }
}

/** A namespace of the container: its own, the host's (none made), or one joined by path (another container's). */
export type NamespaceMode = 'private' | 'host' | { path: string };

export interface SpecInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids?: number[] };
  tty: boolean;
  hostname: string;
  domainname?: string;
  files: { hostname: string; hosts: string; resolvConf: string };
  netnsPath: string | null | 'host';   // null: a new namespace (runc brings up loopback)
  pidNamespace?: NamespaceMode;
  ipcNamespace?: NamespaceMode;
  utsNamespace?: 'private' | 'host';
  /** /dev/shm: a tmpfs of its own (default), none (--ipc none), or another's bind-mounted (host's or the IPC donor's). */
  shm?: 'none' | { bind: string };
  cgroupsPath: string;
  readonlyRootfs?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  mounts?: { destination: string; type: string; source: string; options: string[] }[];
  resources?: Record<string, unknown>;
  shmSize?: number;
  noNewPrivileges?: boolean;
  seccomp?: unknown;
  sysctls?: Record<string, string>;
  ulimits?: { Name: string; Soft: number; Hard: number }[];
  annotations?: Record<string, string>;
  /** HostConfig.MaskedPaths / ReadonlyPaths (the docker CLI sends [] for `--security-opt systempaths=unconfined`); default Docker's. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

function normCap(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : 'CAP_' + u;
}

export function capabilitiesFor(input: Pick<SpecInput, 'privileged' | 'capAdd' | 'capDrop'>): string[] {
  const bounding = boundingCapabilities();
  if (input.privileged) return bounding;
  let caps = new Set(DEFAULT_CAPABILITIES);
  for (const c of input.capAdd ?? []) {
    if (c.toUpperCase() === 'ALL') caps = new Set(bounding); else caps.add(normCap(c));
  }
  for (const c of input.capDrop ?? []) {
    if (c.toUpperCase() === 'ALL') caps.clear(); else caps.delete(normCap(c));
  }
  return [...caps].filter((c) => bounding.includes(c));
}

/** Components of a container path ("/" 0, "/etc" 1, "/etc/hosts" 2). */
function pathDepth(p: string): number { return p.split('/').filter(Boolean).length; }

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const caps = capabilitiesFor(input);
  const nofile = Math.min(1048576, hardLimit('nofile'));
  const rlimits: { type: string; hard: number; soft: number }[] = [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }];
  for (const u of input.ulimits ?? []) {
    const type = 'RLIMIT_' + u.Name.toUpperCase();
    const cap = u.Name === 'nproc' ? hardLimit('nproc') : u.Name === 'nofile' ? hardLimit('nofile') : Number.MAX_SAFE_INTEGER;
    const entry = { type, hard: Math.min(u.Hard, cap), soft: Math.min(u.Soft, u.Hard, cap) };
    const i = rlimits.findIndex((r) => r.type === type);
    if (i >= 0) rlimits[i] = entry; else rlimits.push(entry);
  }
  const ns = (type: string, mode: NamespaceMode = 'private'): { type: string; path?: string }[] =>
    mode === 'host' ? [] : mode === 'private' ? [{ type }] : [{ type, path: mode.path }];
  const namespaces = [...ns('pid', input.pidNamespace), ...ns('ipc', input.ipcNamespace), ...ns('uts', input.utsNamespace), { type: 'mount' }];
  if (input.netnsPath !== 'host') namespaces.push(input.netnsPath ? { type: 'network', path: input.netnsPath } : { type: 'network' });
  const shm = input.shmSize && input.shmSize > 0 ? input.shmSize : 64 * 1024 * 1024;
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', input.privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', input.privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...(input.shm === 'none' ? [] : input.shm ? [{ destination: '/dev/shm', type: 'bind', source: input.shm.bind, options: ['rbind', 'rprivate'] }]
      : [{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] }]),
    // The container's own mounts, parents before children (as dockerd sorts them): a volume on
    // /etc keeps the /etc/hosts bound over it. A stable sort: the user's own /etc/hosts still wins.
    ...[
      { destination: '/etc/resolv.conf', type: 'bind', source: input.files.resolvConf, options: ['rbind', 'rprivate'] },
      { destination: '/etc/hostname', type: 'bind', source: input.files.hostname, options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', type: 'bind', source: input.files.hosts, options: ['rbind', 'rprivate'] },
      ...(input.mounts ?? []),
    ].sort((a, b) => pathDepth(a.destination) - pathDepth(b.destination)),
  ];
  const linux: Record<string, unknown> = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: { devices: [{ allow: input.privileged ?? false, access: 'rwm' }], ...(input.resources ?? {}) },
    maskedPaths: input.privileged ? [] : (input.maskedPaths ?? MASKED_PATHS),
    readonlyPaths: input.privileged ? [] : (input.readonlyPaths ?? READONLY_PATHS),
  };
  if (input.sysctls && Object.keys(input.sysctls).length) linux.sysctl = input.sysctls;
  if (input.seccomp && !input.privileged) linux.seccomp = input.seccomp;
  if (!input.privileged) {
    // Docker's default device allow-list (runc adds the standard /dev nodes itself).
    (linux.resources as any).devices = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },  // null
      { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },  // zero
      { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },  // full
      { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },  // random
      { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },  // urandom
      { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },  // tty
      { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },  // console
      { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },  // ptmx
      { allow: true, type: 'c', major: 136, access: 'rwm' },          // pts
      { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // tun
    ];
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.tty,
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids?.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: input.args,
      env: input.env,
      cwd: input.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits,
      noNewPrivileges: input.noNewPrivileges ?? false,
      oomScoreAdj: 0,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    // The host's UTS namespace keeps the host's names: runc refuses to set them there.
    ...(input.utsNamespace === 'host' ? {} : { hostname: input.hostname, ...(input.domainname ? { domainname: input.domainname } : {}) }),
    mounts,
    linux,
    annotations: input.annotations ?? {},
  };
}
