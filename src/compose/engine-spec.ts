/**
 * From the compose model to Engine API request bodies, as docker compose builds them (pkg/compose/create.go):
 * container create bodies (Config, HostConfig, the primary network's endpoint), network and volume create bodies.
 * Pure functions: the runtime half sends these through src/client.
 */
import type {
  ContainerCreateBody, HostConfig, MountSpec, NetworkCreateBody, NetworkingConfig, PortBinding, RestartPolicy,
  VolumeCreateBody,
} from '../client/index.js';
import { InvalidParameterError } from '../errors/index.js';
import { containerLabels, containerName, defaultImageName, networkLabels, volumeLabels } from './labels.js';
import type { ComposeProject, HealthcheckConfig, ServiceConfig, ServiceNetworkConfig } from './types.js';
import { COMPOSE_COMPAT_VERSION } from './version.js';

export interface EndpointSpec {
  /** Engine-side network name. */
  network: string;
  /** Key of the network in the compose file. */
  key: string;
  config: { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string }; Links?: string[]; MacAddress?: string; DriverOpts?: Record<string, string> };
}

export interface ContainerSpec {
  /** Container name: project-service-N or container_name. */
  name: string;
  body: ContainerCreateBody;
  /** Networks to connect after create (the Engine API attaches one network at create time). */
  extraNetworks: EndpointSpec[];
}

export interface ContainerSpecOptions {
  /** Replica number (com.docker.compose.container-number), from 1. */
  number: number;
  /** A one-off container (`compose run`). */
  oneoff?: boolean;
  /** Overrides the command (`compose run svc cmd...`). */
  command?: string[];
  /** The image to run (e.g. a digest), default: the service's image or project-service. */
  image?: string;
  /** Paths of the env files the project was loaded with (label com.docker.compose.project.environment_file). */
  envFiles?: string[];
}

/** Networks of a service, highest priority first, then by name (docker compose's order). */
export function serviceNetworksByPriority(service: ServiceConfig): Array<[string, ServiceNetworkConfig | null]> {
  return Object.entries(service.networks ?? {}).sort(([a, ca], [b, cb]) => {
    const pa = ca?.priority ?? 0;
    const pb = cb?.priority ?? 0;
    return pa !== pb ? pb - pa : a < b ? -1 : a > b ? 1 : 0;
  });
}

function env(service: ServiceConfig): string[] {
  return Object.entries(service.environment ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === null ? k : `${k}=${v}`));
}

function healthcheck(h: HealthcheckConfig | undefined): ContainerCreateBody['Healthcheck'] {
  if (!h) return undefined;
  if (h.disable) return { Test: ['NONE'] };
  const out: NonNullable<ContainerCreateBody['Healthcheck']> = {};
  if (h.test) out.Test = h.test;
  if (h.interval !== undefined) out.Interval = h.interval;
  if (h.timeout !== undefined) out.Timeout = h.timeout;
  if (h.start_period !== undefined) out.StartPeriod = h.start_period;
  if (h.start_interval !== undefined) out.StartInterval = h.start_interval;
  if (h.retries !== undefined) out.Retries = h.retries;
  return out;
}

/** `restart:` (or deploy.restart_policy) as the Engine API's RestartPolicy. */
export function restartPolicy(service: ServiceConfig): RestartPolicy | undefined {
  if (service.restart) {
    const [name, max] = service.restart.split(':');
    if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) {
      throw new InvalidParameterError(`service "${service.name}": invalid restart policy "${service.restart}"`);
    }
    return { Name: name as RestartPolicy['Name'], MaximumRetryCount: max ? Number(max) : 0 };
  }
  const rp = service.deploy?.restart_policy;
  if (rp?.condition) {
    const name = rp.condition === 'any' ? 'always' : rp.condition === 'none' ? 'no' : 'on-failure';
    return { Name: name, MaximumRetryCount: rp.max_attempts ?? 0 };
  }
  return undefined;
}

function exposedPorts(service: ServiceConfig): Record<string, Record<string, never>> | undefined {
  const out: Record<string, Record<string, never>> = {};
  for (const p of service.ports ?? []) out[`${p.target}/${p.protocol}`] = {};
  for (const e of service.expose ?? []) {
    const [port, proto = 'tcp'] = e.split('/');
    const [a, b] = port.split('-').map(Number);
    for (let x = a; x <= (b ?? a); x++) out[`${x}/${proto}`] = {};
  }
  return Object.keys(out).length ? out : undefined;
}

function portBindings(service: ServiceConfig): Record<string, PortBinding[]> | undefined {
  const out: Record<string, PortBinding[]> = {};
  for (const p of service.ports ?? []) {
    const key = `${p.target}/${p.protocol}`;
    (out[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: p.published ?? '' });
  }
  return Object.keys(out).length ? out : undefined;
}

/** Volumes, tmpfs mounts, secrets and configs of a service as Binds and Mounts. */
function mounts(project: ComposeProject, service: ServiceConfig): { binds: string[]; mounts: MountSpec[] } {
  const binds: string[] = [];
  const out: MountSpec[] = [];
  for (const v of service.volumes ?? []) {
    if (v.type === 'bind' && v.bind?.create_host_path) {
      // short syntax: a bind the engine creates when missing, as `docker run -v` does
      const opts = [v.read_only ? 'ro' : 'rw', v.bind.selinux, v.bind.propagation].filter(Boolean);
      binds.push(`${v.source}:${v.target}:${opts.join(',')}`);
      continue;
    }
    const m: MountSpec = { Type: v.type as MountSpec['Type'], Target: v.target };
    if (v.read_only) m.ReadOnly = true;
    if (v.consistency) m.Consistency = v.consistency;
    if (v.type === 'bind') {
      m.Source = v.source;
      if (v.bind?.propagation) m.BindOptions = { Propagation: v.bind.propagation };
    } else if (v.type === 'volume') {
      if (v.source) {
        const vol = project.volumes[v.source];
        m.Source = vol?.name ?? v.source;
      }
      if (v.volume?.nocopy) m.VolumeOptions = { NoCopy: true };
    } else if (v.type === 'tmpfs') {
      const t: NonNullable<MountSpec['TmpfsOptions']> = {};
      if (v.tmpfs?.size !== undefined) t.SizeBytes = v.tmpfs.size;
      if (v.tmpfs?.mode !== undefined) t.Mode = v.tmpfs.mode;
      if (Object.keys(t).length) m.TmpfsOptions = t;
    }
    out.push(m);
  }
  for (const [kind, dir] of [['secrets', '/run/secrets/'], ['configs', '/']] as const) {
    for (const ref of service[kind] ?? []) {
      const def = project[kind][ref.source];
      if (!def?.file) continue; // external/environment/content ones are the runtime's to materialise
      const target = ref.target ? (ref.target.startsWith('/') ? ref.target : `${dir}${ref.target}`) : `${dir}${ref.source}`;
      out.push({ Type: 'bind', Source: def.file, Target: target, ReadOnly: true });
    }
  }
  return { binds, mounts: out };
}

/** network_mode, ipc and pid: `service:NAME` is that service's first container. */
function sharedMode(project: ComposeProject, service: ServiceConfig, attr: 'network_mode' | 'ipc' | 'pid'): string | undefined {
  const mode = service[attr];
  if (mode?.startsWith('service:')) {
    const other = project.services[mode.slice(8)];
    if (!other) throw new InvalidParameterError(`service "${service.name}" ${attr} refers to undefined service "${mode.slice(8)}"`);
    return `container:${containerName(project.name, other, 1)}`;
  }
  return mode;
}

function endpoint(project: ComposeProject, service: ServiceConfig, key: string, cfg: ServiceNetworkConfig | null): EndpointSpec {
  const net = project.networks[key];
  if (!net) throw new InvalidParameterError(`service "${service.name}" refers to undefined network ${key}`);
  const config: EndpointSpec['config'] = { Aliases: [service.name, ...(cfg?.aliases ?? [])] };
  if (cfg?.ipv4_address || cfg?.ipv6_address) {
    config.IPAMConfig = {};
    if (cfg.ipv4_address) config.IPAMConfig.IPv4Address = cfg.ipv4_address;
    if (cfg.ipv6_address) config.IPAMConfig.IPv6Address = cfg.ipv6_address;
  }
  if (cfg?.mac_address) config.MacAddress = cfg.mac_address;
  if (cfg?.driver_opts) config.DriverOpts = cfg.driver_opts;
  return { network: net.name, key, config };
}

function links(project: ComposeProject, service: ServiceConfig): string[] | undefined {
  if (!service.links?.length) return undefined;
  return service.links.map((l) => {
    const [target, alias] = l.split(':');
    const other = project.services[target];
    return `${other ? containerName(project.name, other, 1) : target}:${alias ?? target}`;
  });
}

function volumesFrom(project: ComposeProject, service: ServiceConfig): string[] | undefined {
  if (!service.volumes_from?.length) return undefined;
  return service.volumes_from.map((v) => {
    if (v.startsWith('container:')) return v.slice(10);
    const [name, mode] = v.split(':');
    const other = project.services[name];
    const c = other ? containerName(project.name, other, 1) : name;
    return mode ? `${c}:${mode}` : c;
  });
}

/** The Engine API create request for replica `number` of a service. */
export function containerSpec(project: ComposeProject, service: ServiceConfig, opts: ContainerSpecOptions): ContainerSpec {
  const name = opts.oneoff ? `${project.name}-${service.name}-run-${opts.number}` : containerName(project.name, service, opts.number);
  const { binds, mounts: mountList } = mounts(project, service);
  const limits = service.deploy?.resources?.limits;
  const reservations = service.deploy?.resources?.reservations;
  const cpus = service.cpus ?? limits?.cpus;
  const host: HostConfig = {
    Binds: binds.length ? binds : undefined,
    Mounts: mountList.length ? mountList : undefined,
    NetworkMode: sharedMode(project, service, 'network_mode'),
    PortBindings: portBindings(service),
    RestartPolicy: restartPolicy(service),
    VolumesFrom: volumesFrom(project, service),
    Links: links(project, service),
    CapAdd: service.cap_add,
    CapDrop: service.cap_drop,
    Dns: service.dns,
    DnsOptions: service.dns_opt,
    DnsSearch: service.dns_search,
    ExtraHosts: service.extra_hosts
      ? Object.entries(service.extra_hosts).flatMap(([h, ips]) => ips.map((ip) => `${h}:${ip}`))
      : undefined,
    GroupAdd: service.group_add,
    IpcMode: sharedMode(project, service, 'ipc'),
    PidMode: sharedMode(project, service, 'pid'),
    Privileged: service.privileged,
    ReadonlyRootfs: service.read_only,
    SecurityOpt: service.security_opt,
    Tmpfs: service.tmpfs
      ? Object.fromEntries(service.tmpfs.map((t) => {
        const i = t.indexOf(':');
        return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)];
      }))
      : undefined,
    UTSMode: service.uts,
    UsernsMode: service.userns_mode,
    ShmSize: service.shm_size,
    Sysctls: service.sysctls,
    Runtime: service.runtime,
    Init: service.init,
    Memory: service.mem_limit ?? limits?.memory,
    MemoryReservation: service.mem_reservation ?? reservations?.memory,
    MemorySwap: service.memswap_limit,
    MemorySwappiness: service.mem_swappiness,
    NanoCpus: cpus !== undefined ? Math.round(cpus * 1e9) : undefined,
    CpuShares: service.cpu_shares,
    CpuPeriod: service.cpu_period,
    CpuQuota: service.cpu_quota,
    CpusetCpus: service.cpuset,
    PidsLimit: service.pids_limit ?? limits?.pids,
    Ulimits: service.ulimits
      ? Object.entries(service.ulimits).map(([n, u]) => (typeof u === 'number' ? { Name: n, Soft: u, Hard: u } : { Name: n, Soft: u.soft, Hard: u.hard }))
      : undefined,
    OomKillDisable: service.oom_kill_disable,
    OomScoreAdj: service.oom_score_adj,
    Devices: service.devices?.map((d) => ({ PathOnHost: d.source, PathInContainer: d.target, CgroupPermissions: d.permissions })),
    LogConfig: service.logging?.driver || service.logging?.options
      ? { Type: service.logging.driver ?? '', Config: service.logging.options ?? {} }
      : undefined,
    CgroupParent: service.cgroup_parent,
  };
  const nets = service.network_mode ? [] : serviceNetworksByPriority(service);
  const endpoints = nets.map(([key, cfg]) => endpoint(project, service, key, cfg));
  const primary = endpoints[0];
  if (primary) host.NetworkMode = primary.network;
  const networking: NetworkingConfig | undefined = primary ? { EndpointsConfig: { [primary.network]: primary.config } } : undefined;
  const body: ContainerCreateBody = {
    Hostname: service.hostname,
    Domainname: service.domainname,
    User: service.user,
    ExposedPorts: exposedPorts(service),
    Tty: service.tty ?? false,
    OpenStdin: service.stdin_open ?? false,
    StdinOnce: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Cmd: opts.command ?? (service.command === undefined ? undefined : service.command),
    Image: opts.image ?? defaultImageName(project.name, service),
    WorkingDir: service.working_dir,
    Entrypoint: service.entrypoint === undefined ? undefined : service.entrypoint,
    Labels: containerLabels(project, service, { number: opts.number, oneoff: opts.oneoff, version: COMPOSE_COMPAT_VERSION, envFiles: opts.envFiles }),
    StopSignal: service.stop_signal,
    StopTimeout: service.stop_grace_period !== undefined ? Math.round(service.stop_grace_period / 1e9) : undefined,
    Env: env(service),
    Healthcheck: healthcheck(service.healthcheck),
    HostConfig: dropUndefined(host),
    NetworkingConfig: networking,
  };
  if (service.mac_address) body.MacAddress = service.mac_address;
  return { name, body: dropUndefined(body), extraNetworks: endpoints.slice(1) };
}

/** The create body of a project network. */
export function networkCreateBody(project: ComposeProject, key: string): NetworkCreateBody {
  const n = project.networks[key];
  if (!n) throw new InvalidParameterError(`network ${key} is not declared in project ${project.name}`);
  const body: NetworkCreateBody = {
    Name: n.name,
    Driver: n.driver ?? 'bridge',
    Internal: n.internal ?? false,
    Attachable: n.attachable ?? false,
    EnableIPv6: n.enable_ipv6,
    CheckDuplicate: true,
    Options: n.driver_opts,
    Labels: networkLabels(project, key, COMPOSE_COMPAT_VERSION),
  };
  if (n.ipam) {
    body.IPAM = dropUndefined({
      Driver: n.ipam.driver ?? 'default',
      Config: (n.ipam.config ?? []).map((c) => dropUndefined({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ip_range, AuxiliaryAddresses: c.aux_addresses })),
      Options: n.ipam.options,
    });
  }
  return dropUndefined(body);
}

/** The create body of a project volume. */
export function volumeCreateBody(project: ComposeProject, key: string): VolumeCreateBody {
  const v = project.volumes[key];
  if (!v) throw new InvalidParameterError(`volume ${key} is not declared in project ${project.name}`);
  return dropUndefined({ Name: v.name, Driver: v.driver ?? 'local', DriverOpts: v.driver_opts, Labels: volumeLabels(project, key, COMPOSE_COMPAT_VERSION) });
}

function dropUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
