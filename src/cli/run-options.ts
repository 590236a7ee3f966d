/**
 * `run`/`create` flags and their translation into the Engine API's container create body
 * (Config + HostConfig + NetworkingConfig), following the docker CLI's parsing rules.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ContainerCreateBody, HostConfig, MountSpec, PortBinding } from '../client/index.js';
import { FlagError, splitKeyValue, type FlagSpec, type ParsedFlags } from './flags.js';
import { parseBytes, parseGoDuration } from './format/humanize.js';

export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: 'attach', short: 'a', type: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'domainname', type: 'string', description: 'Container NIS domain name' },
  { name: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume' },
  { name: 'mount', type: 'list', description: 'Attach a filesystem mount to the container' },
  { name: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
  { name: 'network', type: 'string', aliases: ['net'], description: 'Connect a container to a network' },
  { name: 'network-alias', type: 'list', aliases: ['net-alias'], description: 'Add network-scoped alias for the container' },
  { name: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'dns', type: 'list', description: 'Set custom DNS servers' },
  { name: 'dns-search', type: 'list', description: 'Set custom DNS search domains' },
  { name: 'dns-option', type: 'list', aliases: ['dns-opt'], description: 'Set DNS options' },
  { name: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'link', type: 'list', description: 'Add link to another container' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
  { name: 'memory-swap', type: 'string', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'memory-reservation', type: 'string', description: 'Memory soft limit' },
  { name: 'oom-kill-disable', type: 'bool', description: 'Disable OOM Killer' },
  { name: 'cpus', type: 'string', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'shm-size', type: 'string', description: 'Size of /dev/shm' },
  { name: 'ulimit', type: 'list', description: 'Ulimit options' },
  { name: 'sysctl', type: 'list', description: 'Sysctl options' },
  { name: 'device', type: 'list', description: 'Add a host device to the container' },
  { name: 'group-add', type: 'list', description: 'Add additional groups to join' },
  { name: 'restart', type: 'string', default: 'no', description: 'Restart policy to apply when a container exits' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { name: 'security-opt', type: 'list', description: 'Security Options' },
  { name: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', type: 'string', description: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', type: 'string', description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', type: 'int', description: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', type: 'string', description: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-start-interval', type: 'string', description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)' },
  { name: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'ipc', type: 'string', description: 'IPC mode to use' },
  { name: 'pid', type: 'string', description: 'PID namespace to use' },
  { name: 'uts', type: 'string', description: 'UTS namespace to use' },
  { name: 'runtime', type: 'string', description: 'Runtime to use for this container' },
  { name: 'log-driver', type: 'string', description: 'Logging driver for the container' },
  { name: 'log-opt', type: 'list', description: 'Log driver options' },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'pull', type: 'string', default: 'missing', description: 'Pull image before creating ("always", "missing", "never")' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
  { name: 'cidfile', type: 'string', description: 'Write the container ID to the file' },
];

export const RUN_ONLY_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
  { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy received signals to the process' },
  { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
];

function parseEnvFile(path: string, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new FlagError(`open ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const [k, v] = splitKeyValue(line);
    if (/\s/.test(k)) throw new FlagError(`variable '${k}' contains whitespaces`);
    if (v !== undefined) out.push(`${k}=${v}`);
    else if (env[k] !== undefined) out.push(`${k}=${env[k]}`);
  }
  return out;
}

/** -e handling: KEY=VALUE as is; a bare KEY takes the local value (dropped if unset). */
export function resolveEnv(values: string[], files: string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const f of files) out.push(...parseEnvFile(f, env));
  for (const v of values) {
    const [k, val] = splitKeyValue(v);
    if (k === '') throw new FlagError(`invalid environment variable: ${v}`);
    if (val !== undefined) out.push(v);
    else if (env[k] !== undefined) out.push(`${k}=${env[k]}`);
  }
  return out;
}

export function parseLabels(values: string[], files: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const all = [...files.flatMap((f) => readFileSync(f, 'utf8').split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith('#'))), ...values];
  for (const l of all) {
    const [k, v] = splitKeyValue(l);
    out[k] = v ?? '';
  }
  return out;
}

/** Parses -p specs: [ip:][hostPort[-end]:]containerPort[-end][/proto]. */
export function parsePortSpecs(specs: string[]): { exposed: Record<string, Record<string, never>>; bindings: Record<string, PortBinding[]> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const spec of specs) {
    let rest = spec; let proto = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) { proto = rest.slice(slash + 1).toLowerCase(); rest = rest.slice(0, slash); }
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new FlagError(`invalid proto: ${proto}`);
    let ip = ''; let host = ''; let ctr: string;
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
    if (v6) { ip = v6[1]; rest = v6[2]; }
    const parts = rest.split(':');
    if (v6) { if (parts.length === 1) ctr = parts[0]; else { host = parts[0]; ctr = parts[1]; } } else if (parts.length === 1) ctr = parts[0];
    else if (parts.length === 2) { host = parts[0]; ctr = parts[1]; } else if (parts.length === 3) { ip = parts[0]; host = parts[1]; ctr = parts[2]; } else throw new FlagError(`invalid port specification: "${spec}"`);
    const range = (s: string, what: string): [number, number] => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(s);
      if (!m) throw new FlagError(`invalid ${what}: ${s}`);
      const a = Number(m[1]); const b = m[2] ? Number(m[2]) : a;
      if (a < 0 || b > 65535 || b < a) throw new FlagError(`invalid ${what}: ${s}`);
      return [a, b];
    };
    if (!ctr) throw new FlagError(`no port specified: ${spec}<empty>`);
    const [c0, c1] = range(ctr, 'containerPort');
    const [h0, h1] = host ? range(host, 'hostPort') : [0, 0];
    if (host && h1 - h0 !== c1 - c0 && h0 !== h1) throw new FlagError(`invalid ranges specified for container and host Ports: ${ctr} and ${host}`);
    for (let p = c0; p <= c1; p++) {
      const key = `${p}/${proto}`;
      exposed[key] = {};
      const hp = host ? (h0 === h1 && c0 !== c1 ? `${h0}` : String(h0 + (p - c0))) : '';
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: hp });
    }
  }
  return { exposed, bindings };
}

function parseMount(spec: string, cwd: string): MountSpec {
  const m: MountSpec = {};
  for (const field of spec.split(',')) {
    const [k0, v] = splitKeyValue(field);
    const k = k0.trim().toLowerCase();
    switch (k) {
      case 'type': m.Type = v as MountSpec['Type']; break;
      case 'source': case 'src': m.Source = v && m.Type === 'bind' && !isAbsolute(v) ? resolve(cwd, v) : v; break;
      case 'target': case 'destination': case 'dst': m.Target = v; break;
      case 'readonly': case 'ro': m.ReadOnly = v === undefined || v === 'true' || v === '1'; break;
      case 'bind-propagation': m.BindOptions = { ...m.BindOptions, Propagation: v }; break;
      case 'volume-nocopy': m.VolumeOptions = { ...m.VolumeOptions, NoCopy: v === undefined || v === 'true' }; break;
      case 'volume-driver': m.VolumeOptions = { ...m.VolumeOptions, DriverConfig: { ...m.VolumeOptions?.DriverConfig, Name: v } }; break;
      case 'volume-opt': {
        const [ok, ov] = splitKeyValue(v ?? '');
        const dc = m.VolumeOptions?.DriverConfig ?? {};
        m.VolumeOptions = { ...m.VolumeOptions, DriverConfig: { ...dc, Options: { ...dc.Options, [ok]: ov ?? '' } } };
        break;
      }
      case 'volume-label': {
        const [lk, lv] = splitKeyValue(v ?? '');
        m.VolumeOptions = { ...m.VolumeOptions, Labels: { ...m.VolumeOptions?.Labels, [lk]: lv ?? '' } };
        break;
      }
      case 'tmpfs-size': m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseBytes(v ?? '') }; break;
      case 'tmpfs-mode': m.TmpfsOptions = { ...m.TmpfsOptions, Mode: parseInt(v ?? '0', 8) }; break;
      case 'consistency': m.Consistency = v; break;
      default: throw new FlagError(`invalid argument "${spec}" for "--mount" flag: unexpected key '${k}' in '${field}'`);
    }
  }
  m.Type ??= 'volume';
  if (!m.Target) throw new FlagError(`invalid argument "${spec}" for "--mount" flag: target is required`);
  return m;
}

function nanos(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  try { return Math.round(parseGoDuration(text) * 1e6); } catch (e) { throw new FlagError(`invalid argument "${text}" for "--${flag}" flag: ${(e as Error).message}`); }
}

function bytesFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (text === '-1') return -1;
  try { return parseBytes(text); } catch { throw new FlagError(`invalid argument "${text}" for "--${flag}" flag: invalid size: '${text}'`); }
}

export function parseRestartPolicy(text: string): HostConfig['RestartPolicy'] {
  const [name, count] = text.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure', ''].includes(name)) throw new FlagError(`invalid restart policy: ${name}`);
  if (count !== undefined && name !== 'on-failure') throw new FlagError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  if (count !== undefined && !/^\d+$/.test(count)) throw new FlagError(`invalid restart policy format: maximum retry count must be an integer`);
  return { Name: (name || 'no') as 'no', MaximumRetryCount: count ? Number(count) : 0 };
}

/** Builds the /containers/create body from parsed run/create flags and positional args (image, cmd...). */
export function buildCreateBody(p: ParsedFlags, env: NodeJS.ProcessEnv, cwd: string): ContainerCreateBody {
  const f = p.flags;
  const [image, ...cmd] = p.args;
  const list = (n: string): string[] => (f[n] as string[] | undefined) ?? [];
  const str = (n: string): string | undefined => p.changed.has(n) ? f[n] as string : undefined;
  const num = (n: string): number | undefined => p.changed.has(n) ? f[n] as number : undefined;
  const attach = list('attach').map((s) => s.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new FlagError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  const detach = f.detach === true;
  const interactive = f.interactive === true;
  const hc: HostConfig = {};
  const body: ContainerCreateBody = {
    Hostname: str('hostname') ?? '', Domainname: str('domainname') ?? '', User: str('user') ?? '',
    AttachStdin: !detach && (attach.length ? attach.includes('stdin') : interactive),
    AttachStdout: !detach && (attach.length ? attach.includes('stdout') : true),
    AttachStderr: !detach && (attach.length ? attach.includes('stderr') : true),
    Tty: f.tty === true, OpenStdin: interactive, StdinOnce: false,
    Env: resolveEnv(list('env'), list('env-file'), env),
    Cmd: cmd.length ? cmd : null,
    Image: image,
    Volumes: {},
    WorkingDir: str('workdir') ?? '',
    Entrypoint: null,
    Labels: parseLabels(list('label'), list('label-file')),
  };
  if (interactive && !detach) body.StdinOnce = true;
  const ep = str('entrypoint');
  if (ep !== undefined) body.Entrypoint = ep === '' ? [''] : [ep];
  const { exposed, bindings } = parsePortSpecs(list('publish'));
  for (const e of list('expose')) {
    const [port, proto = 'tcp'] = e.split('/');
    const m = /^(\d+)(?:-(\d+))?$/.exec(port);
    if (!m) throw new FlagError(`invalid range format for --expose: ${e}`);
    for (let x = Number(m[1]); x <= Number(m[2] ?? m[1]); x++) exposed[`${x}/${proto}`] = {};
  }
  if (Object.keys(exposed).length) body.ExposedPorts = exposed;
  const binds: string[] = [];
  for (const v of list('volume')) {
    const parts = v.split(':');
    if (parts.length === 1) { body.Volumes![v] = {}; continue; }
    let src = parts[0];
    if (src.startsWith('.') || src.startsWith('~')) src = src.startsWith('~') ? src.replace(/^~/, env.HOME ?? '~') : resolve(cwd, src);
    binds.push([src, ...parts.slice(1)].join(':'));
  }
  if (binds.length) hc.Binds = binds;
  const mounts = list('mount').map((m) => parseMount(m, cwd));
  if (mounts.length) hc.Mounts = mounts;
  hc.NetworkMode = str('network') ?? 'default';
  hc.PortBindings = bindings;
  hc.RestartPolicy = parseRestartPolicy(f.restart as string);
  hc.AutoRemove = f.rm === true;
  if (hc.AutoRemove && hc.RestartPolicy && hc.RestartPolicy.Name !== 'no') throw new FlagError('conflicting options: cannot specify both --restart and --rm');
  hc.VolumesFrom = list('volumes-from').length ? list('volumes-from') : undefined;
  hc.CapAdd = list('cap-add').length ? list('cap-add') : undefined;
  hc.CapDrop = list('cap-drop').length ? list('cap-drop') : undefined;
  hc.Dns = list('dns'); hc.DnsOptions = list('dns-option'); hc.DnsSearch = list('dns-search');
  hc.ExtraHosts = list('add-host').length ? list('add-host') : undefined;
  hc.GroupAdd = list('group-add').length ? list('group-add') : undefined;
  hc.IpcMode = str('ipc') ?? ''; hc.PidMode = str('pid') ?? ''; hc.UTSMode = str('uts') ?? '';
  hc.Privileged = f.privileged === true;
  hc.PublishAllPorts = f['publish-all'] === true;
  hc.ReadonlyRootfs = f['read-only'] === true;
  hc.SecurityOpt = list('security-opt').length ? list('security-opt') : undefined;
  if (list('tmpfs').length) {
    hc.Tmpfs = {};
    for (const t of list('tmpfs')) { const i = t.indexOf(':'); hc.Tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1); }
  }
  if (list('sysctl').length) hc.Sysctls = Object.fromEntries(list('sysctl').map((s) => { const [k, v] = splitKeyValue(s); return [k, v ?? '']; }));
  if (list('ulimit').length) {
    hc.Ulimits = list('ulimit').map((u) => {
      const [name, val] = splitKeyValue(u);
      const m = /^(-?\d+)(?::(-?\d+))?$/.exec(val ?? '');
      if (!m) throw new FlagError(`invalid argument "${u}" for "--ulimit" flag: invalid ulimit argument: ${u}`);
      return { Name: name, Soft: Number(m[1]), Hard: Number(m[2] ?? m[1]) };
    });
  }
  if (list('device').length) {
    hc.Devices = list('device').map((d) => {
      const parts = d.split(':');
      return { PathOnHost: parts[0], PathInContainer: parts[1] ?? parts[0], CgroupPermissions: parts[2] ?? 'rwm' };
    });
  }
  if (p.changed.has('init')) hc.Init = f.init === true;
  if (str('runtime')) hc.Runtime = str('runtime');
  const mem = bytesFlag(str('memory'), 'memory'); if (mem !== undefined) hc.Memory = mem;
  const swap = bytesFlag(str('memory-swap'), 'memory-swap'); if (swap !== undefined) hc.MemorySwap = swap;
  const res = bytesFlag(str('memory-reservation'), 'memory-reservation'); if (res !== undefined) hc.MemoryReservation = res;
  const shm = bytesFlag(str('shm-size'), 'shm-size'); if (shm !== undefined) hc.ShmSize = shm;
  if (f['oom-kill-disable']) hc.OomKillDisable = true;
  const cpus = str('cpus');
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (!Number.isFinite(n) || n < 0) throw new FlagError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    hc.NanoCpus = Math.round(n * 1e9);
  }
  const shares = num('cpu-shares'); if (shares !== undefined) hc.CpuShares = shares;
  const period = num('cpu-period'); if (period !== undefined) hc.CpuPeriod = period;
  const quota = num('cpu-quota'); if (quota !== undefined) hc.CpuQuota = quota;
  const cpuset = str('cpuset-cpus'); if (cpuset !== undefined) hc.CpusetCpus = cpuset;
  const pids = num('pids-limit'); if (pids !== undefined) hc.PidsLimit = pids;
  if (str('log-driver') || list('log-opt').length) {
    hc.LogConfig = { Type: str('log-driver') ?? '', Config: Object.fromEntries(list('log-opt').map((o) => { const [k, v] = splitKeyValue(o); return [k, v ?? '']; })) };
  }
  if (list('link').length) (hc as Record<string, unknown>).Links = list('link');
  // Health checks.
  const healthCmd = str('health-cmd');
  const anyHealth = ['health-cmd', 'health-interval', 'health-timeout', 'health-retries', 'health-start-period', 'health-start-interval'].some((n) => p.changed.has(n));
  if (f['no-healthcheck']) {
    if (anyHealth) throw new FlagError('--no-healthcheck conflicts with --health-* options');
    body.Healthcheck = { Test: ['NONE'] };
  } else if (anyHealth) {
    body.Healthcheck = {
      Test: healthCmd !== undefined ? ['CMD-SHELL', healthCmd] : undefined,
      Interval: nanos(str('health-interval'), 'health-interval') ?? 0,
      Timeout: nanos(str('health-timeout'), 'health-timeout') ?? 0,
      Retries: num('health-retries') ?? 0,
      StartPeriod: nanos(str('health-start-period'), 'health-start-period') ?? 0,
      StartInterval: nanos(str('health-start-interval'), 'health-start-interval') ?? 0,
    };
  }
  const stopSignal = str('stop-signal'); if (stopSignal) body.StopSignal = stopSignal;
  const stopTimeout = num('stop-timeout'); if (stopTimeout !== undefined) body.StopTimeout = stopTimeout;
  body.HostConfig = hc;
  const net = str('network');
  const aliases = list('network-alias'); const ip = str('ip');
  if (net && !['default', 'bridge', 'host', 'none'].includes(net) && !net.startsWith('container:') || aliases.length || ip) {
    body.NetworkingConfig = {
      EndpointsConfig: { [net ?? 'default']: { Aliases: aliases.length ? aliases : undefined, IPAMConfig: ip ? { IPv4Address: ip } : undefined } },
    };
  }
  return body;
}
