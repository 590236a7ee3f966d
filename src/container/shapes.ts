/** Engine API shapes of a container: inspect (`GET /containers/{id}/json`) and list entries. */
import { join } from 'node:path';
import type { ContainerRecord } from './types.js';
import { LOG_DRIVER } from './log-options.js';

/** The attributes Docker puts on a container's events (exec's too): its labels, image and name. */
export function containerEventAttrs(c: ContainerRecord): Record<string, string> {
  return { ...(c.Config.Labels ?? {}), image: c.Config.Image, name: c.Name };
}

function commandLine(c: ContainerRecord): string {
  return [c.Path, ...c.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
}

/** "Up 3 seconds", "Exited (3) 2 minutes ago", "Created" — docker ps's Status column. */
export function humanStatus(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  switch (s.Status) {
    case 'running': return `Up ${humanDuration(now - Date.parse(s.StartedAt))}${c.State.Health ? ` (${c.State.Health.Status})` : ''}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting': return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'exited': return s.FinishedAt.startsWith('0001') ? 'Created' : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    default: return 'Created';
  }
}

/** Go's units.HumanDuration, which docker uses. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

type PortBinding = { HostIp: string; HostPort: string };

/**
 * NetworkSettings.Ports as dockerd reports it: nothing unless the container runs (its network is
 * released when it stops); otherwise the published bindings and, on a bridge or user network,
 * every exposed port (Config.ExposedPorts, the image's included) without one as null. Keys sorted,
 * as Go marshals a map.
 */
export function portMap(c: ContainerRecord): Record<string, PortBinding[] | null> {
  if (c.State.Status !== 'running' && c.State.Status !== 'paused') return {};
  const all: Record<string, PortBinding[] | null> = { ...(c.NetworkSettings?.Ports ?? {}) };
  const mode: string = c.HostConfig.NetworkMode ?? '';
  if (mode !== 'host' && mode !== 'none' && !mode.startsWith('container:')) {
    for (const p of Object.keys(c.Config.ExposedPorts ?? {})) if (!all[p]?.length) all[p] = null;
  }
  return Object.fromEntries(Object.keys(all).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => [k, all[k]]));
}

/** The list shape's Ports: one entry per binding, and one without PublicPort per unpublished port. */
export function portsList(c: ContainerRecord): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  for (const [key, bindings] of Object.entries(portMap(c))) {
    const [p, type] = key.split('/');
    if (!bindings || !bindings.length) { out.push({ PrivatePort: Number(p), Type: type }); continue; }
    for (const b of bindings) out.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(p), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

/** `image`: what the list names the image by (ContainerService.imageShown). */
export function listShape(c: ContainerRecord, size?: { rw: number; rootfs: number }, image = c.Config.Image): Record<string, unknown> {
  return {
    Id: c.Id,
    Names: ['/' + c.Name],
    Image: image,
    ImageID: c.ImageId,
    Command: commandLine(c),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: portsList(c),
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootfs } : {}),
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: humanStatus(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: endpointsShape(c) },
    Mounts: (c.Mounts ?? []).map((m) => ({ ...m })),
  };
}

export function inspectShape(c: ContainerRecord, dir: string, lowerDirs: string[]): Record<string, unknown> {
  const running = c.State.Status === 'running' || c.State.Status === 'paused';
  return {
    Id: c.Id,
    Created: c.Created,
    Path: c.Path,
    Args: c.Args,
    State: {
      Status: c.State.Status,
      Running: running,
      Paused: c.State.Status === 'paused',
      Restarting: c.State.Status === 'restarting',
      OOMKilled: c.State.OOMKilled,
      Dead: c.State.Status === 'dead',
      Pid: c.State.Pid,
      ExitCode: c.State.ExitCode,
      Error: c.State.Error,
      StartedAt: c.State.StartedAt,
      FinishedAt: c.State.FinishedAt,
      ...(c.State.Health ? { Health: c.State.Health } : {}),
    },
    Image: c.ImageId,
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: c.HostConfig.LogConfig?.Type === 'none' ? '' : join(dir, 'container.log'),
    Name: '/' + c.Name,
    RestartCount: c.RestartCount,
    Driver: 'overlay2',
    Platform: c.Platform,
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfigShape(c.HostConfig),
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        LowerDir: lowerDirs.join(':') || undefined,
        MergedDir: join(dir, 'rootfs'),
        UpperDir: join(dir, 'upper'),
        WorkDir: join(dir, 'work'),
      },
    },
    Mounts: c.Mounts ?? [],
    Config: {
      ...c.Config,
      Env: c.Config.Env ?? null,
      Volumes: c.Config.Volumes && Object.keys(c.Config.Volumes).length ? c.Config.Volumes : null,
      ExposedPorts: c.Config.ExposedPorts && Object.keys(c.Config.ExposedPorts).length ? c.Config.ExposedPorts : undefined,
    },
    NetworkSettings: networkSettingsShape(c),
  };
}

function hostConfigShape(h: Record<string, any>): Record<string, unknown> {
  return {
    Binds: h.Binds ?? null, ContainerIDFile: '', LogConfig: h.LogConfig ?? { Type: LOG_DRIVER, Config: {} },
    NetworkMode: h.NetworkMode ?? 'bridge', PortBindings: h.PortBindings ?? {}, RestartPolicy: h.RestartPolicy ?? { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: !!h.AutoRemove, VolumeDriver: h.VolumeDriver ?? '', VolumesFrom: h.VolumesFrom ?? null, ConsoleSize: h.ConsoleSize ?? [0, 0],
    CapAdd: h.CapAdd ?? null, CapDrop: h.CapDrop ?? null, CgroupnsMode: h.CgroupnsMode || 'host', Dns: h.Dns ?? [], DnsOptions: h.DnsOptions ?? [], DnsSearch: h.DnsSearch ?? [],
    ExtraHosts: h.ExtraHosts ?? null, GroupAdd: h.GroupAdd ?? null, IpcMode: h.IpcMode ?? 'private', Cgroup: '', Links: h.Links ?? null,
    OomScoreAdj: h.OomScoreAdj ?? 0, PidMode: h.PidMode ?? '', Privileged: !!h.Privileged, PublishAllPorts: !!h.PublishAllPorts,
    ReadonlyRootfs: !!h.ReadonlyRootfs, SecurityOpt: h.SecurityOpt ?? null, UTSMode: h.UTSMode ?? '', UsernsMode: h.UsernsMode ?? '', ShmSize: h.ShmSize ?? 67108864,
    Runtime: h.Runtime ?? 'runc', Isolation: h.Isolation ?? '', CpuShares: h.CpuShares ?? 0, Memory: h.Memory ?? 0, NanoCpus: h.NanoCpus ?? 0,
    CgroupParent: h.CgroupParent ?? '', BlkioWeight: h.BlkioWeight ?? 0, BlkioWeightDevice: h.BlkioWeightDevice ?? [],
    BlkioDeviceReadBps: h.BlkioDeviceReadBps ?? [], BlkioDeviceWriteBps: h.BlkioDeviceWriteBps ?? [], BlkioDeviceReadIOps: h.BlkioDeviceReadIOps ?? [], BlkioDeviceWriteIOps: h.BlkioDeviceWriteIOps ?? [], CpuPeriod: h.CpuPeriod ?? 0, CpuQuota: h.CpuQuota ?? 0, CpuRealtimePeriod: h.CpuRealtimePeriod ?? 0, CpuRealtimeRuntime: h.CpuRealtimeRuntime ?? 0,
    CpusetCpus: h.CpusetCpus ?? '', CpusetMems: h.CpusetMems ?? '', Devices: h.Devices ?? [], DeviceCgroupRules: h.DeviceCgroupRules ?? null, DeviceRequests: h.DeviceRequests ?? null,
    MemoryReservation: h.MemoryReservation ?? 0, MemorySwap: h.MemorySwap ?? 0, MemorySwappiness: null, OomKillDisable: h.OomKillDisable ?? false,
    PidsLimit: h.PidsLimit ?? null, Ulimits: h.Ulimits ?? [], Mounts: h.Mounts, Tmpfs: h.Tmpfs, Sysctls: h.Sysctls, Init: h.Init ?? null,
    MaskedPaths: h.MaskedPaths ?? null, ReadonlyPaths: h.ReadonlyPaths ?? null,
    CpuCount: h.CpuCount ?? 0, CpuPercent: h.CpuPercent ?? 0, IOMaximumBandwidth: h.IOMaximumBandwidth ?? 0, IOMaximumIOps: h.IOMaximumIOps ?? 0,
    ...(h.Annotations && Object.keys(h.Annotations).length ? { Annotations: h.Annotations } : {}),
  };
}

/** NetworkSettings.Networks: a container that does not run has its networks, without their addresses (released at its stop). */
function endpointsShape(c: ContainerRecord): Record<string, any> {
  const networks: Record<string, any> = c.NetworkSettings?.Networks ?? {};
  if (c.State.Status === 'running' || c.State.Status === 'paused') return networks;
  return Object.fromEntries(Object.entries(networks).map(([k, v]) => [k, { ...v, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' }]));
}

function networkSettingsShape(c: ContainerRecord): Record<string, unknown> {
  const ns = c.NetworkSettings ?? {};
  const running = c.State.Status === 'running' || c.State.Status === 'paused';
  const networks = endpointsShape(c);
  // Docker's top-level address fields describe the default bridge only.
  const primary: any = (ns.Networks ?? {}).bridge ?? {};
  return {
    Bridge: '', SandboxID: ns.SandboxID ?? '', SandboxKey: running ? (ns.SandboxKey ?? '') : '',
    HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: portMap(c),
    SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
    EndpointID: running ? (primary.EndpointID ?? '') : '', Gateway: running ? (primary.Gateway ?? '') : '',
    GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
    IPAddress: running ? (primary.IPAddress ?? '') : '', IPPrefixLen: running ? (primary.IPPrefixLen ?? 0) : 0,
    IPv6Gateway: '', MacAddress: running ? (primary.MacAddress ?? '') : '',
    Networks: networks,
  };
}
