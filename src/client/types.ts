/**
 * Engine API shapes the client uses (subset of the swagger spec; unknown fields pass through).
 * Field names are the API's own, so values can be sent and received unchanged.
 */

export type Filters = Record<string, string[]>;

export interface PortBinding { HostIp?: string; HostPort?: string }
export interface RestartPolicy { Name?: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount?: number }
export interface HealthConfig { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number }
export interface MountSpec {
  Type?: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster';
  Source?: string; Target?: string; ReadOnly?: boolean; Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}
export interface Ulimit { Name: string; Soft: number; Hard: number }

export interface ContainerConfig {
  Hostname?: string; Domainname?: string; User?: string;
  AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean; OpenStdin?: boolean; StdinOnce?: boolean;
  Env?: string[]; Cmd?: string[] | null; Healthcheck?: HealthConfig;
  Image?: string; Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string; Entrypoint?: string[] | null; NetworkDisabled?: boolean;
  Labels?: Record<string, string>; StopSignal?: string; StopTimeout?: number; Shell?: string[];
  [extra: string]: unknown;
}

export interface HostConfig {
  Binds?: string[]; NetworkMode?: string; PortBindings?: Record<string, PortBinding[]>;
  RestartPolicy?: RestartPolicy; AutoRemove?: boolean; VolumesFrom?: string[]; Mounts?: MountSpec[];
  CapAdd?: string[]; CapDrop?: string[]; Dns?: string[]; DnsOptions?: string[]; DnsSearch?: string[];
  ExtraHosts?: string[]; GroupAdd?: string[]; IpcMode?: string; PidMode?: string; Privileged?: boolean;
  PublishAllPorts?: boolean; ReadonlyRootfs?: boolean; SecurityOpt?: string[]; Tmpfs?: Record<string, string>;
  UTSMode?: string; ShmSize?: number; Sysctls?: Record<string, string>; Runtime?: string; Init?: boolean | null;
  Memory?: number; MemorySwap?: number; MemoryReservation?: number; NanoCpus?: number; CpuShares?: number;
  CpuPeriod?: number; CpuQuota?: number; CpusetCpus?: string; PidsLimit?: number | null; Ulimits?: Ulimit[];
  OomKillDisable?: boolean; Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
  LogConfig?: { Type?: string; Config?: Record<string, string> };
  [extra: string]: unknown;
}

export interface NetworkingConfig {
  EndpointsConfig?: Record<string, { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string }; Links?: string[] }>;
}

export interface ContainerCreateBody extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: NetworkingConfig;
}

export interface ContainerCreateResponse { Id: string; Warnings?: string[] | null }

export interface Port { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }

export interface ContainerSummary {
  Id: string; Names: string[]; Image: string; ImageID: string; Command: string; Created: number;
  Ports: Port[]; SizeRw?: number; SizeRootFs?: number; Labels: Record<string, string> | null;
  State: string; Status: string; HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string; NetworkID?: string }> };
  Mounts?: { Type?: string; Name?: string; Source?: string; Destination?: string }[];
}

export interface ContainerState {
  Status: string; Running: boolean; Paused: boolean; Restarting: boolean; OOMKilled: boolean; Dead: boolean;
  Pid: number; ExitCode: number; Error: string; StartedAt: string; FinishedAt: string;
  Health?: { Status: string; FailingStreak: number; Log: unknown[] };
}

export interface ContainerInspect {
  Id: string; Created: string; Path: string; Args: string[]; State: ContainerState; Image: string;
  Name: string; RestartCount: number; Driver: string; Platform?: string;
  HostConfig: HostConfig; Config: ContainerConfig;
  NetworkSettings: { Ports?: Record<string, PortBinding[] | null> | null; Networks?: Record<string, { IPAddress?: string }>; [k: string]: unknown };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; [k: string]: unknown }[];
  SizeRw?: number; SizeRootFs?: number;
  [extra: string]: unknown;
}

export interface WaitResponse { StatusCode: number; Error?: { Message?: string } | null }

export interface ImageSummary {
  Id: string; ParentId: string; RepoTags: string[] | null; RepoDigests: string[] | null; Created: number;
  Size: number; SharedSize: number; VirtualSize?: number; Labels: Record<string, string> | null; Containers: number;
}

export interface ImageInspect {
  Id: string; RepoTags: string[]; RepoDigests: string[]; Parent?: string; Comment?: string; Created: string;
  Author?: string; Config: ContainerConfig; Architecture: string; Os: string; Size: number;
  RootFS: { Type: string; Layers?: string[] };
  [extra: string]: unknown;
}

export interface ImageHistoryItem { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }

export interface ImageDeleteItem { Untagged?: string; Deleted?: string }

export interface PruneResponse {
  ContainersDeleted?: string[] | null; ImagesDeleted?: ImageDeleteItem[] | null;
  VolumesDeleted?: string[] | null; NetworksDeleted?: string[] | null; SpaceReclaimed?: number;
}

export interface VersionResponse {
  Platform?: { Name: string }; Components?: { Name: string; Version: string; Details?: Record<string, string> }[];
  Version: string; ApiVersion: string; MinAPIVersion?: string; GitCommit: string; GoVersion: string;
  Os: string; Arch: string; KernelVersion?: string; Experimental?: boolean; BuildTime?: string;
}

export type SystemInfo = Record<string, unknown> & {
  ID?: string; Containers?: number; ContainersRunning?: number; ContainersPaused?: number; ContainersStopped?: number;
  Images?: number; Driver?: string; ServerVersion?: string; Name?: string;
};

export interface SystemEvent {
  Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> };
  scope?: string; time: number; timeNano: number;
  /** timeNano exactly as the daemon sent it (int64 does not fit a JS number). */
  timeNanoText?: string;
  status?: string; id?: string; from?: string;
}

export interface DiskUsage {
  LayersSize?: number; Images?: ImageSummary[] | null; Containers?: ContainerSummary[] | null;
  Volumes?: Volume[] | null; BuildCache?: { Size: number; InUse: boolean; Shared: boolean }[] | null;
}

export interface Volume {
  Name: string; Driver: string; Mountpoint: string; CreatedAt?: string; Status?: Record<string, unknown>;
  Labels: Record<string, string> | null; Scope: string; Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}
export interface VolumeCreateBody { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }

export interface Network {
  Name: string; Id: string; Created: string; Scope: string; Driver: string; EnableIPv6: boolean;
  IPAM: { Driver: string; Config: { Subnet?: string; Gateway?: string; IPRange?: string }[] | null; Options?: Record<string, string> | null };
  Internal: boolean; Attachable: boolean; Ingress: boolean; Containers?: Record<string, unknown>;
  Options: Record<string, string> | null; Labels: Record<string, string> | null;
}
export interface NetworkCreateBody {
  Name: string; Driver?: string; Internal?: boolean; Attachable?: boolean; EnableIPv6?: boolean; CheckDuplicate?: boolean;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[]; Options?: Record<string, string> };
  Options?: Record<string, string>; Labels?: Record<string, string>;
}

export interface ExecCreateBody {
  AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean; DetachKeys?: string; Tty?: boolean;
  Env?: string[]; Cmd: string[]; Privileged?: boolean; User?: string; WorkingDir?: string; ConsoleSize?: [number, number];
}
export interface ExecInspect { ID: string; Running: boolean; ExitCode: number | null; Pid: number; ContainerID: string; ProcessConfig?: unknown; OpenStdin?: boolean }

export interface ContainerChange { Path: string; Kind: 0 | 1 | 2 }
export interface ContainerTop { Titles: string[]; Processes: string[][] }
export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

export interface ContainerUpdateBody extends Partial<HostConfig> { RestartPolicy?: RestartPolicy }
export interface ContainerUpdateResponse { Warnings?: string[] | null }

export interface AuthConfig { username?: string; password?: string; serveraddress?: string; identitytoken?: string; registrytoken?: string; auth?: string }
