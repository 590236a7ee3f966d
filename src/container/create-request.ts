/**
 * The JSON types of a containers/create body, as the Go structs dockerd decodes it into
 * (container.Config, HostConfig with its embedded Resources, NetworkingConfig), and the value
 * checks dockerd makes at create that would otherwise only fail at start: port specifications,
 * host IPs and ulimit names.
 */
import { isIP } from 'node:net';
import { InvalidParameterError } from '../errors/index.js';
import {
  arrayOf, bool, checked, checkJson, emptyStruct, goInt, int, int64, mapOf, str, strings, stringMap, strslice, struct, uint16, uint64,
} from '../errors/json-types.js';
import { endpointSettings } from '../network/requests.js';

/** The rlimit names Docker knows (go-units). */
const ULIMIT_NAMES = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

const inPortRange = (lo: string, hi: string | undefined, min: number) => {
  const start = Number(lo); const end = hi === undefined ? start : Number(hi);
  return start >= min && end >= start && end <= 65535;
};

/** A container port: `80`, `80/tcp`, `53/udp`, `8000-8010/tcp`. */
function checkPortKey(key: string): void {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(key);
  if (!m || !inPortRange(m[1], m[2], 1)) throw new InvalidParameterError(`invalid port specification: ${JSON.stringify(key)}`);
}

/** A host port: empty (any), a number (0 is any) or a range to pick from. */
function checkHostPort(port: string): void {
  const m = /^(\d+)(?:-(\d+))?$/.exec(port);
  if (port !== '' && !(m && inPortRange(m[1], m[2], 0))) throw new InvalidParameterError(`invalid port specification: ${JSON.stringify(port)}`);
}

function checkHostIp(ip: string): void {
  if (ip !== '' && isIP(ip) === 0) throw new InvalidParameterError(`invalid host IP: ${ip}`);
}

const duration = int('time.Duration');

const healthConfig = struct('container.HealthConfig', ['HealthConfig', {
  Test: strings, Interval: duration, Timeout: duration, StartPeriod: duration, StartInterval: duration, Retries: goInt,
}]);

const configFields = {
  Hostname: str, Domainname: str, User: str, AttachStdin: bool, AttachStdout: bool, AttachStderr: bool,
  ExposedPorts: mapOf(emptyStruct, 'nat.PortSet', checkPortKey), Tty: bool, OpenStdin: bool, StdinOnce: bool,
  Env: strings, Cmd: strslice, Healthcheck: healthConfig, ArgsEscaped: bool, Image: str,
  Volumes: mapOf(emptyStruct), WorkingDir: str, Entrypoint: strslice, NetworkDisabled: bool, MacAddress: str,
  OnBuild: strings, Labels: stringMap, StopSignal: str, StopTimeout: goInt, Shell: strslice,
};

const portBinding = struct('nat.PortBinding', ['PortBinding', { HostIp: checked(str, checkHostIp), HostPort: checked(str, checkHostPort) }]);

const mount = struct('mount.Mount', ['Mount', {
  Type: str, Source: str, Target: str, ReadOnly: bool, Consistency: str,
  BindOptions: struct('mount.BindOptions', ['BindOptions', {
    Propagation: str, NonRecursive: bool, CreateMountpoint: bool, ReadOnlyNonRecursive: bool, ReadOnlyForceRecursive: bool,
  }]),
  VolumeOptions: struct('mount.VolumeOptions', ['VolumeOptions', {
    NoCopy: bool, Labels: stringMap, Subpath: str, DriverConfig: struct('mount.Driver', ['Driver', { Name: str, Options: stringMap }]),
  }]),
  ImageOptions: struct('mount.ImageOptions', ['ImageOptions', { Subpath: str }]),
  TmpfsOptions: struct('mount.TmpfsOptions', ['TmpfsOptions', { SizeBytes: int64, Mode: int('fs.FileMode', 0, 0xffffffff), Options: arrayOf(strings) }]),
}]);

const ulimit = checked(struct('units.Ulimit', ['Ulimit', { Name: str, Hard: int64, Soft: int64 }]), (u: { Name?: string }) => {
  if (!ULIMIT_NAMES.includes(u.Name ?? '')) throw new InvalidParameterError(`invalid ulimit type: ${u.Name ?? ''}`);
});

const throttleDevice = struct('blkiodev.ThrottleDevice', ['ThrottleDevice', { Path: str, Rate: uint64 }]);

const resourcesFields = {
  CpuShares: int64, Memory: int64, NanoCpus: int64, CgroupParent: str, BlkioWeight: uint16,
  BlkioWeightDevice: arrayOf(struct('blkiodev.WeightDevice', ['WeightDevice', { Path: str, Weight: uint16 }])),
  BlkioDeviceReadBps: arrayOf(throttleDevice), BlkioDeviceWriteBps: arrayOf(throttleDevice),
  BlkioDeviceReadIOps: arrayOf(throttleDevice), BlkioDeviceWriteIOps: arrayOf(throttleDevice),
  CpuPeriod: int64, CpuQuota: int64, CpuRealtimePeriod: int64, CpuRealtimeRuntime: int64, CpusetCpus: str, CpusetMems: str,
  Devices: arrayOf(struct('container.DeviceMapping', ['DeviceMapping', { PathOnHost: str, PathInContainer: str, CgroupPermissions: str }])),
  DeviceCgroupRules: strings,
  DeviceRequests: arrayOf(struct('container.DeviceRequest', ['DeviceRequest', {
    Driver: str, Count: goInt, DeviceIDs: strings, Capabilities: arrayOf(strings), Options: stringMap,
  }])),
  KernelMemory: int64, KernelMemoryTCP: int64, MemoryReservation: int64, MemorySwap: int64, MemorySwappiness: int64,
  OomKillDisable: bool, PidsLimit: int64, Ulimits: arrayOf(ulimit), CpuCount: int64, CpuPercent: int64,
  IOMaximumIOps: uint64, IOMaximumBandwidth: uint64,
};

const hostConfigFields = {
  Binds: strings, ContainerIDFile: str, LogConfig: struct('container.LogConfig', ['LogConfig', { Type: str, Config: stringMap }]),
  NetworkMode: str, PortBindings: mapOf(arrayOf(portBinding), 'nat.PortMap', checkPortKey),
  RestartPolicy: struct('container.RestartPolicy', ['RestartPolicy', { Name: str, MaximumRetryCount: goInt }]),
  AutoRemove: bool, VolumeDriver: str, VolumesFrom: strings, ConsoleSize: arrayOf(int('uint', 0, 2 ** 64)), Annotations: stringMap,
  CapAdd: strslice, CapDrop: strslice, CgroupnsMode: str, Dns: strings, DnsOptions: strings, DnsSearch: strings,
  ExtraHosts: strings, GroupAdd: strings, IpcMode: str, Cgroup: str, Links: strings, OomScoreAdj: goInt, PidMode: str,
  Privileged: bool, PublishAllPorts: bool, ReadonlyRootfs: bool, SecurityOpt: strings, StorageOpt: stringMap,
  Tmpfs: stringMap, UTSMode: str, UsernsMode: str, ShmSize: int64, Sysctls: stringMap, Runtime: str, Isolation: str,
  Mounts: arrayOf(mount), MaskedPaths: strings, ReadonlyPaths: strings, Init: bool,
};

const createRequest = struct('runconfig.ContainerConfigWrapper', ['ContainerConfigWrapper', {
  ...configFields,
  HostConfig: struct('container.HostConfig', ['HostConfig', hostConfigFields], ['Resources', resourcesFields]),
  NetworkingConfig: struct('network.NetworkingConfig', ['NetworkingConfig', {
    EndpointsConfig: mapOf(endpointSettings, 'map[string]*network.EndpointSettings'),
  }]),
}]);

/**
 * Refuses a create body whose fields have the wrong JSON types, or port specifications, host IPs
 * or ulimit names dockerd refuses at create; throws InvalidParameterError (400) with dockerd's words.
 */
export function validateCreateRequest(body: unknown): void {
  checkJson(body, createRequest);
}
