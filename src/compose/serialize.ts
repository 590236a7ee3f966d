/**
 * The model as `docker compose config` prints it: docker compose's key order (compose-go's struct order),
 * services, networks, volumes and mapping entries sorted by name, durations as Go durations ("1m30s"),
 * sizes as strings of bytes ("104857600").
 */
import type { ComposeProject, ServiceConfig } from './types.js';
import { formatDuration } from './units.js';
import { yaml } from './yaml-file.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

const SERVICE_ORDER = [
  'profiles', 'annotations', 'attach', 'build', 'develop', 'blkio_config', 'cap_add', 'cap_drop', 'cgroup_parent',
  'cgroup', 'cpu_count', 'cpu_percent', 'cpu_period', 'cpu_quota', 'cpu_rt_period', 'cpu_rt_runtime', 'cpus',
  'cpuset', 'cpu_shares', 'command', 'configs', 'container_name', 'credential_spec', 'depends_on', 'deploy',
  'device_cgroup_rules', 'devices', 'dns', 'dns_opt', 'dns_search', 'dockerfile', 'domainname', 'entrypoint',
  'provider', 'environment', 'env_file', 'expose', 'extends', 'external_links', 'extra_hosts', 'group_add', 'gpus',
  'hostname', 'healthcheck', 'image', 'init', 'ipc', 'isolation', 'labels', 'label_file', 'links', 'logging',
  'log_driver', 'log_opt', 'mem_limit', 'mem_reservation', 'memswap_limit', 'mem_swappiness', 'mac_address',
  'models', 'net', 'network_mode', 'networks', 'oom_kill_disable', 'oom_score_adj', 'pid', 'pids_limit', 'platform',
  'ports', 'privileged', 'pull_policy', 'read_only', 'restart', 'runtime', 'scale', 'secrets', 'security_opt',
  'shm_size', 'stdin_open', 'stop_grace_period', 'stop_signal', 'storage_opt', 'sysctls', 'tmpfs', 'tty', 'ulimits',
  'use_api_socket', 'user', 'userns_mode', 'uts', 'volume_driver', 'volumes', 'volumes_from', 'working_dir',
  'post_start', 'pre_stop',
];
const BUILD_ORDER = [
  'context', 'dockerfile', 'dockerfile_inline', 'entitlements', 'args', 'ssh', 'labels', 'cache_from', 'cache_to',
  'no_cache', 'additional_contexts', 'pull', 'extra_hosts', 'isolation', 'network', 'target', 'secrets', 'shm_size',
  'tags', 'ulimits', 'platforms', 'privileged',
];
const DEPLOY_ORDER = ['mode', 'replicas', 'labels', 'update_config', 'rollback_config', 'resources', 'restart_policy', 'placement', 'endpoint_mode'];
const OMIT_FALSE = new Set(['privileged', 'read_only', 'stdin_open', 'tty', 'oom_kill_disable', 'attach']);
const HEALTH_ORDER = ['test', 'timeout', 'interval', 'retries', 'start_period', 'start_interval', 'disable'];
const NETWORK_ORDER = ['name', 'driver', 'driver_opts', 'ipam', 'external', 'internal', 'attachable', 'labels', 'enable_ipv4', 'enable_ipv6'];
const VOLUME_ORDER = ['name', 'driver', 'driver_opts', 'external', 'labels'];
const FILE_OBJECT_ORDER = ['name', 'content', 'environment', 'file', 'external', 'labels', 'driver', 'driver_opts', 'template_driver'];
const SORTED_MAPS = new Set(['environment', 'labels', 'annotations', 'sysctls', 'storage_opt', 'extra_hosts', 'ulimits', 'depends_on', 'networks']);

function ordered(d: Dict, order: string[]): Dict {
  const out: Dict = {};
  for (const k of order) if (d[k] !== undefined) out[k] = d[k];
  for (const k of Object.keys(d).sort()) if (!(k in out) && d[k] !== undefined) out[k] = d[k];
  return out;
}

function sortedKeys(d: Dict): Dict {
  const out: Dict = {};
  for (const k of Object.keys(d).sort()) out[k] = d[k];
  return out;
}

const bytes = (n: unknown): unknown => (typeof n === 'number' ? String(n) : n);

/** One service as docker compose config prints it. */
export function serializeService(s: ServiceConfig, opts: { json?: boolean } = {}): Dict {
  const d: Dict = { ...s };
  delete d.name;
  for (const k of Object.keys(d)) if (SORTED_MAPS.has(k) && isDict(d[k])) d[k] = sortedKeys(d[k] as Dict);
  if (isDict(d.extra_hosts)) {
    d.extra_hosts = Object.entries(d.extra_hosts as Record<string, string[]>).flatMap(([h, ips]) => ips.map((ip) => `${h}=${ip}`));
  }
  if (s.build) {
    const b: Dict = { ...s.build };
    if (isDict(b.args)) b.args = sortedKeys(b.args);
    if (isDict(b.labels)) b.labels = sortedKeys(b.labels);
    if (b.shm_size !== undefined) b.shm_size = bytes(b.shm_size);
    d.build = ordered(b, BUILD_ORDER);
  }
  if (s.healthcheck) {
    const h: Dict = { ...s.healthcheck };
    for (const k of ['timeout', 'interval', 'start_period', 'start_interval']) {
      if (typeof h[k] === 'number') h[k] = formatDuration(h[k] as number);
    }
    d.healthcheck = ordered(h, HEALTH_ORDER);
  }
  if (s.stop_grace_period !== undefined) d.stop_grace_period = formatDuration(s.stop_grace_period);
  for (const k of ['mem_limit', 'mem_reservation', 'memswap_limit', 'shm_size']) if (d[k] !== undefined) d[k] = bytes(d[k]);
  if (s.deploy) {
    const dep: Dict = { ...s.deploy };
    if (isDict(dep.resources)) {
      const r: Dict = {};
      for (const [k, v] of Object.entries(dep.resources)) {
        r[k] = isDict(v) && v.memory !== undefined ? { ...v, memory: bytes(v.memory) } : v;
      }
      dep.resources = r;
    }
    if (isDict(dep.restart_policy)) {
      const rp: Dict = { ...dep.restart_policy };
      for (const k of ['delay', 'window']) if (typeof rp[k] === 'number') rp[k] = formatDuration(rp[k] as number);
      dep.restart_policy = rp;
    }
    d.deploy = dep;
  }
  if (Array.isArray(d.volumes)) {
    d.volumes = (d.volumes as Dict[]).map((v) => (isDict(v.tmpfs) && v.tmpfs.size !== undefined ? { ...v, tmpfs: { ...v.tmpfs, size: bytes(v.tmpfs.size) } } : v));
  }
  // docker compose config reads env files into `environment` and leaves them out (WithDiscardEnvFile)
  delete d.env_file;
  if (s.devices) d.devices = s.devices.map((x) => `${x.source}:${x.target}${x.permissions && x.permissions !== 'rwm' ? `:${x.permissions}` : ''}`);
  if (d.deploy) d.deploy = ordered(d.deploy as Dict, DEPLOY_ORDER);
  if (opts.json) {
    // compose-go's JSON always carries these two (no omitempty)
    if (d.command === undefined) d.command = null;
    if (d.entrypoint === undefined) d.entrypoint = null;
  }
  // Go's omitempty: false plain booleans, empty strings and empty lists/mappings are not printed
  for (const [k, v] of Object.entries(d)) {
    if ((v === false && OMIT_FALSE.has(k)) || v === '' || (Array.isArray(v) && v.length === 0 && k !== 'command' && k !== 'entrypoint')
      || (isDict(v) && Object.keys(v).length === 0 && k !== 'build')) delete d[k];
  }
  return ordered(d, SERVICE_ORDER);
}

/**
 * The whole project as the plain object `docker compose config` prints. With `json`, the shape of its
 * `--format json`: top-level keys sorted, `ipam: {}` on networks, null command/entrypoint.
 */
export function projectToConfig(p: ComposeProject, opts: { json?: boolean } = {}): Dict {
  const out: Dict = { name: p.name };
  const services: Dict = {};
  for (const name of Object.keys(p.services).sort()) services[name] = serializeService(p.services[name], opts);
  out.services = services;
  const section = (src: Record<string, unknown>, order: string[]): Dict | undefined => {
    const keys = Object.keys(src).sort();
    if (!keys.length) return undefined;
    const o: Dict = {};
    for (const k of keys) {
      const v = { ...(src[k] as Dict) };
      for (const f of ['external', 'internal', 'attachable']) if (v[f] === false) delete v[f];
      if (isDict(v.labels)) v.labels = sortedKeys(v.labels);
      o[k] = ordered(v, order);
    }
    return o;
  };
  const networks = section(p.networks, NETWORK_ORDER);
  if (networks && opts.json) {
    for (const [k, n] of Object.entries(networks) as Array<[string, Dict]>) networks[k] = ordered({ ipam: {}, ...n }, NETWORK_ORDER);
  }
  if (networks) out.networks = networks;
  const volumes = section(p.volumes, VOLUME_ORDER);
  if (volumes) out.volumes = volumes;
  const secrets = section(p.secrets, FILE_OBJECT_ORDER);
  if (secrets) out.secrets = secrets;
  const configs = section(p.configs, FILE_OBJECT_ORDER);
  if (configs) out.configs = configs;
  return opts.json ? sortedKeys(out) : out;
}

// strings YAML 1.1 readers (docker-compose 1.x, PyYAML) would take for booleans: quoted, as Go's yaml does
const YAML11_BOOL = /^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;
const YAML11_SEXAGESIMAL = /^[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/;

export function toYaml(v: unknown): string {
  const { Document, visit } = yaml();
  const doc = new Document(v, { aliasDuplicateObjects: false });
  visit(doc, {
    Scalar(_k, node) {
      if (typeof node.value === 'string' && (YAML11_BOOL.test(node.value) || YAML11_SEXAGESIMAL.test(node.value))) {
        node.type = 'QUOTE_DOUBLE';
      }
    },
  });
  return doc.toString({ lineWidth: 0, indentSeq: true });
}

/** JSON as Go's encoder writes it: two-space indent, <, > and & escaped. */
export function toJson(v: unknown): string {
  const s = JSON.stringify(v, null, 2).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
  return `${s}\n`;
}
