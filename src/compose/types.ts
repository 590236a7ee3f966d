/**
 * The normalised Compose application model: what `berth compose` loads from compose files and what the
 * runtime half turns into Engine API calls. Field names follow the Compose specification (snake_case)
 * so the model prints as `docker compose config` does; durations are nanoseconds and sizes bytes.
 */
import type { LoadCache } from './load-cache.js';

/** A duration in nanoseconds (Go's time.Duration, what the Engine API's HealthConfig takes). */
export type Nanoseconds = number;
/** A size in bytes. */
export type Bytes = number;

export interface ComposeProject {
  name: string;
  /** The project directory: relative paths in the compose files are resolved against it. */
  workingDir: string;
  /** Absolute paths of the compose files loaded (what docker compose puts in com.docker.compose.project.config_files). */
  configFiles: string[];
  /** The variables interpolation used (process environment over .env / --env-file). */
  environment: Record<string, string>;
  /** Active profiles. */
  profiles: string[];
  /** Enabled services (profiles applied), by name. */
  services: Record<string, ServiceConfig>;
  /** Services left out by the active profiles. */
  disabledServices: Record<string, ServiceConfig>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
}

export interface BuildConfig {
  /** Absolute path, or a URL (git or http) kept as written. */
  context: string;
  dockerfile?: string;
  dockerfile_inline?: string;
  args?: Record<string, string | null>;
  ssh?: string[];
  labels?: Record<string, string>;
  cache_from?: string[];
  cache_to?: string[];
  no_cache?: boolean;
  additional_contexts?: Record<string, string>;
  pull?: boolean;
  extra_hosts?: Record<string, string[]>;
  isolation?: string;
  network?: string;
  target?: string;
  secrets?: ServiceFileObjectRef[];
  shm_size?: Bytes;
  tags?: string[];
  ulimits?: Record<string, Ulimit>;
  platforms?: string[];
  privileged?: boolean;
}

export interface PortConfig {
  name?: string;
  /** `ingress` unless written otherwise (docker compose's default). */
  mode: string;
  host_ip?: string;
  target: number;
  /** A host port or host port range ("8080", "8000-8010"), absent when the engine picks one. */
  published?: string;
  protocol: 'tcp' | 'udp' | 'sctp' | string;
  app_protocol?: string;
}

export interface ServiceVolumeConfig {
  type: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  /** Bind: absolute host path; volume: the project-level volume key (absent for anonymous volumes). */
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: Bytes; mode?: number };
  image?: { subpath?: string };
}

export interface ServiceNetworkConfig {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  link_local_ips?: string[];
  mac_address?: string;
  driver_opts?: Record<string, string>;
  priority?: number;
  gw_priority?: number;
  interface_name?: string;
}

export type DependsOnCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ServiceDependency {
  condition: DependsOnCondition;
  restart?: boolean;
  required: boolean;
}

export interface HealthcheckConfig {
  /** Exec form as the Engine API wants it: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]. */
  test?: string[];
  timeout?: Nanoseconds;
  interval?: Nanoseconds;
  retries?: number;
  start_period?: Nanoseconds;
  start_interval?: Nanoseconds;
  disable?: boolean;
}

export type Ulimit = number | { soft: number; hard: number };

/** A service's reference to a top-level secret or config. */
export interface ServiceFileObjectRef {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface DeployConfig {
  mode?: string;
  replicas?: number;
  labels?: Record<string, string>;
  resources?: {
    limits?: { cpus?: number; memory?: Bytes; pids?: number };
    reservations?: { cpus?: number; memory?: Bytes; devices?: Array<Record<string, unknown>> };
  };
  restart_policy?: { condition?: string; delay?: Nanoseconds; max_attempts?: number; window?: Nanoseconds };
  [key: string]: unknown;
}

export interface LoggingConfig {
  driver?: string;
  options?: Record<string, string>;
}

export interface ServiceConfig {
  name: string;
  profiles?: string[];
  annotations?: Record<string, string>;
  build?: BuildConfig;
  cap_add?: string[];
  cap_drop?: string[];
  cgroup_parent?: string;
  cpu_count?: number;
  cpu_percent?: number;
  cpu_period?: number;
  cpu_quota?: number;
  cpu_rt_period?: number;
  cpu_rt_runtime?: number;
  cpus?: number;
  cpuset?: string;
  cpu_shares?: number;
  /** Exec form; a string command is split with shell-word rules. null clears the image's CMD. */
  command?: string[] | null;
  configs?: ServiceFileObjectRef[];
  container_name?: string;
  depends_on?: Record<string, ServiceDependency>;
  deploy?: DeployConfig;
  device_cgroup_rules?: string[];
  devices?: Array<{ source: string; target: string; permissions: string }>;
  dns?: string[];
  dns_opt?: string[];
  dns_search?: string[];
  domainname?: string;
  entrypoint?: string[] | null;
  /** The env files read into `environment` (kept for reference, as docker compose config shows them). */
  env_file?: Array<{ path: string; required: boolean; format?: string }>;
  /** The container environment, env_file entries merged under environment entries. null = no value. */
  environment?: Record<string, string | null>;
  expose?: string[];
  external_links?: string[];
  extra_hosts?: Record<string, string[]>;
  group_add?: string[];
  hostname?: string;
  healthcheck?: HealthcheckConfig;
  image?: string;
  init?: boolean;
  ipc?: string;
  isolation?: string;
  labels?: Record<string, string>;
  links?: string[];
  logging?: LoggingConfig;
  mem_limit?: Bytes;
  mem_reservation?: Bytes;
  memswap_limit?: Bytes;
  mem_swappiness?: number;
  mac_address?: string;
  network_mode?: string;
  /** Networks by top-level key; null means attached with no options. */
  networks?: Record<string, ServiceNetworkConfig | null>;
  oom_kill_disable?: boolean;
  oom_score_adj?: number;
  pid?: string;
  pids_limit?: number;
  platform?: string;
  ports?: PortConfig[];
  privileged?: boolean;
  pull_policy?: string;
  read_only?: boolean;
  restart?: string;
  runtime?: string;
  scale?: number;
  secrets?: ServiceFileObjectRef[];
  security_opt?: string[];
  shm_size?: Bytes;
  stdin_open?: boolean;
  stop_grace_period?: Nanoseconds;
  stop_signal?: string;
  storage_opt?: Record<string, string>;
  sysctls?: Record<string, string>;
  tmpfs?: string[];
  tty?: boolean;
  ulimits?: Record<string, Ulimit>;
  user?: string;
  userns_mode?: string;
  uts?: string;
  volumes?: ServiceVolumeConfig[];
  volumes_from?: string[];
  working_dir?: string;
  /** Attributes this model does not interpret, kept as written (validated by the schema). */
  [key: string]: unknown;
}

export interface IpamConfig {
  driver?: string;
  config?: Array<{ subnet?: string; ip_range?: string; gateway?: string; aux_addresses?: Record<string, string> }>;
  options?: Record<string, string>;
}

export interface NetworkConfig {
  /** The engine-side name: `<project>_<key>` unless `name:` is set or the network is external. */
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  ipam?: IpamConfig;
  external?: boolean;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  enable_ipv4?: boolean;
  enable_ipv6?: boolean;
}

export interface VolumeConfig {
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface FileObjectConfig {
  name: string;
  /** Absolute path of the file holding the secret/config. */
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
  labels?: Record<string, string>;
  driver?: string;
  template_driver?: string;
}

/** Options for loading a project: what the CLI's global flags and the environment say. */
export interface ProjectOptions {
  /** Working directory (defaults to process.cwd()). */
  cwd?: string;
  /** `-f` files in order; `-` reads stdin (`stdin` below). */
  files?: string[];
  /** `--project-directory`. */
  projectDirectory?: string;
  /** `-p`. */
  projectName?: string;
  /** `--env-file` (several allowed; later files override earlier ones). */
  envFiles?: string[];
  /** `--profile` (merged with COMPOSE_PROFILES). */
  profiles?: string[];
  /** The process environment (defaults to process.env). */
  env?: Record<string, string | undefined>;
  /** Content for `-f -`. */
  stdin?: string;
  /** Warnings (unset variables, both compose.yaml and docker-compose.yaml present, ...). */
  warn?: (message: string) => void;
  /** Services named on the command line: their profiles become active. */
  services?: string[];
  /** Skip interpolation (`config --no-interpolate`). */
  noInterpolate?: boolean;
  /** Where parsed files and schema verdicts are kept between runs (load-cache.ts); none when absent. */
  loadCache?: LoadCache;
}
