/**
 * From the merged canonical tree to the typed ComposeProject: defaults docker compose fills in (default network,
 * depends_on conditions, resource names `<project>_<key>`), env_file merged into environment, durations to
 * nanoseconds and sizes to bytes, profiles applied, and the semantic checks (references, dependency cycles).
 */
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { listOrDictToMap } from './canonical.js';
import { parseDotEnv } from './dotenv.js';
import { exists, readText } from './load-inputs.js';
import type {
  ComposeProject, DependsOnCondition, FileObjectConfig, HealthcheckConfig, NetworkConfig, ServiceConfig,
  ServiceDependency, VolumeConfig,
} from './types.js';
import { parseBytes, parseDuration } from './units.js';
import { serviceDependencies } from './dependencies.js';

export { serviceDependencies };

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

/** An error about one service: the loader names the file that defines it. */
export class ServiceError extends InvalidParameterError {
  constructor(readonly service: string, message: string) {
    super(message);
  }
}

export interface NormalizeOptions {
  name: string;
  workingDir: string;
  configFiles: string[];
  environment: Record<string, string>;
  profiles: string[];
  /** Services targeted by the command: their profiles are enabled. */
  services: string[];
  warn: (m: string) => void;
}

export function normalizeProject(tree: Dict, opts: NormalizeOptions): ComposeProject {
  const all: Record<string, ServiceConfig> = {};
  const rawServices = isDict(tree.services) ? tree.services : {};
  for (const [name, raw] of Object.entries(rawServices)) {
    all[name] = normalizeService(name, isDict(raw) ? raw : {}, opts);
  }

  // profiles: services without profiles are always on; named services bring their profiles along
  const active = new Set(opts.profiles);
  for (const s of opts.services) {
    if (!all[s]) throw new NotFoundError(`no such service: ${s}`);
    for (const p of all[s].profiles ?? []) active.add(p);
  }
  const enabled = (s: ServiceConfig): boolean =>
    !s.profiles?.length || active.has('*') || s.profiles.some((p) => active.has(p));
  const services: Record<string, ServiceConfig> = {};
  const disabledServices: Record<string, ServiceConfig> = {};
  for (const [name, s] of Object.entries(all)) (enabled(s) ? services : disabledServices)[name] = s;

  const project: ComposeProject = {
    name: opts.name,
    workingDir: opts.workingDir,
    configFiles: opts.configFiles,
    environment: opts.environment,
    profiles: [...active],
    services,
    disabledServices,
    networks: {},
    volumes: {},
    secrets: {},
    configs: {},
  };

  const usesDefaultNetwork = Object.values(services).some((s) => s.networks && 'default' in s.networks);
  const rawNetworks: Dict = isDict(tree.networks) ? { ...tree.networks } : {};
  if (usesDefaultNetwork && !('default' in rawNetworks)) rawNetworks.default = {};
  for (const [key, raw] of Object.entries(rawNetworks)) project.networks[key] = normalizeNetwork(key, raw, opts.name);
  for (const [key, raw] of Object.entries(isDict(tree.volumes) ? tree.volumes : {})) {
    project.volumes[key] = normalizeVolume(key, raw, opts.name);
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const [key, raw] of Object.entries(isDict(tree[kind]) ? (tree[kind] as Dict) : {})) {
      project[kind][key] = normalizeFileObject(key, raw, opts.name);
    }
  }
  checkProject(project, opts.warn);
  return project;
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isNaN(n) ? undefined : n;
}

function normalizeHealthcheck(h: Dict, where: string): HealthcheckConfig {
  const out: HealthcheckConfig = {};
  if (h.test !== undefined) out.test = (h.test as unknown[]).map(String);
  for (const k of ['timeout', 'interval', 'start_period', 'start_interval'] as const) {
    if (h[k] !== undefined) out[k] = parseDuration(h[k] as string, `${where}.healthcheck.${k}`);
  }
  if (h.retries !== undefined) out.retries = num(h.retries);
  if (h.disable !== undefined) out.disable = !!h.disable;
  return out;
}

function normalizeService(name: string, raw: Dict, opts: NormalizeOptions): ServiceConfig {
  const where = `service "${name}"`;
  const s: ServiceConfig = { name };
  const lookup = (k: string): string | undefined => opts.environment[k];
  try {
    for (const [k, v] of Object.entries(raw)) {
      if (k.startsWith('x-')) continue; // extensions are not part of the model
      switch (k) {
        case 'extends':
        case 'label_file':
          break;
        case 'env_file':
          s.env_file = v as ServiceConfig['env_file'];
          break;
        case 'build': {
          const b = { ...(v as Dict) } as Dict;
          if (b.dockerfile === undefined && b.dockerfile_inline === undefined) b.dockerfile = 'Dockerfile';
          if (isDict(b.args)) {
            const args: Dict = {};
            for (const [ak, av] of Object.entries(b.args)) args[ak] = av === null ? (lookup(ak) ?? null) : av;
            b.args = args;
          }
          if (b.shm_size !== undefined) b.shm_size = parseBytes(b.shm_size as string, `${where}.build.shm_size`);
          if (Array.isArray(b.secrets)) b.secrets = b.secrets.map(defaultSecretTarget);
          s.build = b as unknown as ServiceConfig['build'];
          break;
        }
        case 'healthcheck':
          s.healthcheck = normalizeHealthcheck(v as Dict, where);
          break;
        case 'stop_grace_period':
          s.stop_grace_period = parseDuration(v as string, `${where}.stop_grace_period`);
          break;
        case 'mem_limit':
        case 'mem_reservation':
        case 'memswap_limit':
        case 'shm_size':
          s[k] = v === -1 || v === '-1' ? -1 : parseBytes(v as string, `${where}.${k}`);
          break;
        case 'cpus':
          s.cpus = num(v);
          break;
        case 'depends_on': {
          const deps: Record<string, ServiceDependency> = {};
          for (const [dep, d] of Object.entries(v as Dict)) {
            const dd = isDict(d) ? d : {};
            const out: ServiceDependency = {
              condition: (dd.condition as DependsOnCondition | undefined) ?? 'service_started',
              required: dd.required === undefined ? true : !!dd.required,
            };
            if (dd.restart) out.restart = true;
            deps[dep] = { condition: out.condition, ...(out.restart ? { restart: true } : {}), required: out.required };
          }
          s.depends_on = deps;
          break;
        }
        case 'deploy':
          s.deploy = normalizeDeploy(v as Dict, where);
          break;
        case 'ulimits': {
          const u: Dict = {};
          for (const [uk, uv] of Object.entries(v as Dict)) {
            u[uk] = isDict(uv) ? { soft: num(uv.soft), hard: num(uv.hard) } : num(uv);
          }
          s.ulimits = u as ServiceConfig['ulimits'];
          break;
        }
        case 'devices':
          s.devices = (v as unknown[]).map((d) => {
            if (isDict(d)) return { source: String(d.source), target: String(d.target ?? d.source), permissions: String(d.permissions ?? 'rwm') };
            const [source, target, permissions] = String(d).split(':');
            return { source, target: target ?? source, permissions: permissions ?? 'rwm' };
          });
          break;
        case 'volumes':
          s.volumes = (v as Dict[]).map((vol) => {
            if (vol.target === undefined || vol.target === '') throw new InvalidParameterError('volumes: target is required');
            if (vol.type === 'bind' && !vol.source) throw new InvalidParameterError('volumes: bind mount requires a source');
            if (isDict(vol.tmpfs) && vol.tmpfs.size !== undefined) {
              return { ...vol, tmpfs: { ...vol.tmpfs, size: parseBytes(vol.tmpfs.size as string, `${where}.volumes.tmpfs.size`) } };
            }
            return vol;
          }) as unknown as ServiceConfig['volumes'];
          break;
        case 'scale':
          s.scale = num(v);
          break;
        case 'pull_policy':
          s.pull_policy = v === 'if_not_present' ? 'missing' : String(v);
          break;
        case 'secrets':
          // docker compose mounts a secret at /run/secrets/<source> unless told otherwise
          s.secrets = (v as Dict[]).map(defaultSecretTarget) as unknown as ServiceConfig['secrets'];
          break;
        default:
          s[k] = v;
      }
    }
    // environment: env_file entries first, `environment` over them, unset values from the project environment
    const env: Record<string, string | null> = {};
    for (const ef of (raw.env_file as Dict[] | undefined) ?? []) {
      const path = String(ef.path);
      if (!exists(path)) {
        if (ef.required === false) continue;
        throw new NotFoundError(`env file ${path} not found: stat ${path}: no such file or directory`);
      }
      const parsed = parseDotEnv(readText(path), (k) => env[k] ?? lookup(k), path, { environmentWins: false });
      Object.assign(env, parsed);
    }
    for (const [k, v] of Object.entries((raw.environment as Dict | undefined) ?? {})) {
      env[k] = v === null || v === undefined ? (lookup(k) ?? null) : String(v);
    }
    if (raw.env_file !== undefined || raw.environment !== undefined) s.environment = env;
    // label_file: labels from files under labels written in the service
    if (raw.label_file !== undefined) {
      const labels: Record<string, string> = {};
      for (const f of raw.label_file as string[]) {
        Object.assign(labels, parseDotEnv(readText(f), () => undefined, f, { environmentWins: false }));
      }
      s.labels = { ...labels, ...(s.labels ?? {}) };
    }
    if (s.network_mode === undefined && s.networks === undefined) s.networks = { default: null };
    if (s.networks) {
      const nets: Dict = {};
      for (const [n, c] of Object.entries(s.networks)) {
        nets[n] = isDict(c) ? pick(c, ['aliases', 'ipv4_address', 'ipv6_address', 'link_local_ips', 'mac_address', 'driver_opts', 'priority', 'gw_priority', 'interface_name']) : null;
      }
      s.networks = nets as ServiceConfig['networks'];
    }
    if (s.scale !== undefined && s.deploy?.replicas !== undefined && s.scale !== s.deploy.replicas) {
      throw new InvalidParameterError(`can't set distinct values on 'scale' and 'deploy.replicas'`);
    }
    if (s.scale !== undefined) s.deploy = { ...(s.deploy ?? {}), replicas: s.scale };
    if (s.image === undefined && s.build === undefined) {
      throw new InvalidParameterError('has neither an image nor a build context specified: invalid compose project');
    }
  } catch (err) {
    if (err instanceof InvalidParameterError || err instanceof NotFoundError) throw new ServiceError(name, `${where} ${err.message}`);
    throw err;
  }
  return s;
}

function defaultSecretTarget(ref: unknown): Dict {
  const r = ref as Dict;
  if (r.target !== undefined) return r;
  const out: Dict = { source: r.source, target: `/run/secrets/${String(r.source)}` };
  for (const [k, v] of Object.entries(r)) if (!(k in out)) out[k] = v;
  return out;
}

function normalizeDeploy(d: Dict, where: string): ServiceConfig['deploy'] {
  const out: Dict = { ...d };
  if (d.replicas !== undefined) out.replicas = num(d.replicas);
  if (isDict(d.resources)) {
    const r: Dict = {};
    for (const kind of ['limits', 'reservations']) {
      const x = d.resources[kind];
      if (!isDict(x)) continue;
      const o: Dict = { ...x };
      if (x.cpus !== undefined) o.cpus = num(x.cpus);
      if (x.memory !== undefined) o.memory = parseBytes(x.memory as string, `${where}.deploy.resources.${kind}.memory`);
      if (x.pids !== undefined) o.pids = num(x.pids);
      r[kind] = o;
    }
    out.resources = r;
    for (const kind of ['limits', 'reservations']) {
      if (isDict(r[kind])) r[kind] = pick(r[kind] as Dict, ['cpus', 'memory', 'pids', 'devices', 'generic_resources']);
    }
  }
  if (isDict(d.restart_policy)) {
    const rp: Dict = { ...d.restart_policy };
    for (const k of ['delay', 'window']) {
      if (rp[k] !== undefined) rp[k] = parseDuration(rp[k] as string, `${where}.deploy.restart_policy.${k}`);
    }
    out.restart_policy = rp;
  }
  return out as ServiceConfig['deploy'];
}

function resourceName(key: string, d: Dict, project: string): string {
  if (typeof d.name === 'string' && d.name) return d.name;
  if (d.external === true) return key;
  return `${project}_${key}`;
}

/** The legacy `external: {name: x}` form means `name: x, external: true`. */
function legacyExternal(d: Dict): Dict {
  if (!isDict(d.external)) return d;
  const out: Dict = { ...d, external: true };
  if (typeof d.external.name === 'string' && out.name === undefined) out.name = d.external.name;
  return out;
}

/** The same mapping with `first` keys leading, in that order. */
function pick(d: Dict, first: string[]): Dict {
  const out: Dict = {};
  for (const k of first) if (d[k] !== undefined) out[k] = d[k];
  for (const [k, v] of Object.entries(d)) if (!(k in out)) out[k] = v;
  return out;
}

function normalizeNetwork(key: string, raw: unknown, project: string): NetworkConfig {
  const d: Dict = legacyExternal(isDict(raw) ? raw : {});
  const out: Dict = { name: resourceName(key, d, project) };
  for (const [k, v] of Object.entries(d)) {
    if (k === 'name' || k.startsWith('x-')) continue;
    out[k] = k === 'labels' || k === 'driver_opts' ? listOrDictToMap(v, '=', false) : v;
  }
  if (isDict(out.ipam) && Array.isArray(out.ipam.config)) {
    out.ipam = { ...out.ipam, config: out.ipam.config.map((c) => (isDict(c) ? pick(c, ['subnet', 'gateway', 'ip_range', 'aux_addresses']) : c)) };
  }
  return out as unknown as NetworkConfig;
}

function normalizeVolume(key: string, raw: unknown, project: string): VolumeConfig {
  const d: Dict = legacyExternal(isDict(raw) ? raw : {});
  const out: Dict = { name: resourceName(key, d, project) };
  for (const [k, v] of Object.entries(d)) {
    if (k === 'name' || k.startsWith('x-')) continue;
    out[k] = k === 'labels' || k === 'driver_opts' ? listOrDictToMap(v, '=', false) : v;
  }
  return out as unknown as VolumeConfig;
}

function normalizeFileObject(key: string, raw: unknown, project: string): FileObjectConfig {
  const d: Dict = legacyExternal(isDict(raw) ? raw : {});
  const out: Dict = { name: resourceName(key, d, project) };
  for (const [k, v] of Object.entries(d)) if (k !== 'name' && !k.startsWith('x-')) out[k] = v;
  return out as unknown as FileObjectConfig;
}

/** References between services and resources, and the dependency graph. */
function checkProject(p: ComposeProject, warn: (m: string) => void): void {
  for (const [name, s] of Object.entries(p.services)) {
    for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
      if (p.services[dep]) continue;
      if (!d.required) {
        warn(`service "${name}" depends on undefined service "${dep}" (required: false): ignored`);
        continue;
      }
      if (p.disabledServices[dep]) {
        throw new ServiceError(
          name,
          `service "${dep}" was pulled in as a dependency of service "${name}" but is not enabled by the active profiles. You may fix this by adding a common profile to "${dep}" and "${name}".`,
        );
      }
      throw new ServiceError(name, `service "${name}" depends on undefined service "${dep}": invalid compose project`);
    }
    for (const net of Object.keys(s.networks ?? {})) {
      if (!p.networks[net]) throw new ServiceError(name, `service "${name}" refers to undefined network ${net}: invalid compose project`);
    }
    for (const v of s.volumes ?? []) {
      if (v.type === 'volume' && v.source && !p.volumes[v.source]) {
        throw new ServiceError(name, `service "${name}" refers to undefined volume ${v.source}: invalid compose project`);
      }
    }
    for (const kind of ['secrets', 'configs'] as const) {
      for (const ref of s[kind] ?? []) {
        if (!p[kind][ref.source]) {
          throw new ServiceError(name, `service "${name}" refers to undefined ${kind.slice(0, -1)} ${ref.source}: invalid compose project`);
        }
      }
    }
    const shared = (v: string | undefined): string | undefined => (v?.startsWith('service:') ? v.slice(8) : undefined);
    for (const [attr, ref] of [['network_mode', shared(s.network_mode)], ['ipc', shared(s.ipc)], ['pid', shared(s.pid)]] as const) {
      if (ref && !p.services[ref]) throw new ServiceError(name, `service "${name}" ${attr} refers to undefined service "${ref}": invalid compose project`);
    }
    if (s.container_name && (s.deploy?.replicas ?? 1) > 1) {
      throw new ServiceError(name, `service "${name}": can't set container_name and ${name} as container name must be unique`);
    }
  }
  const cycle = findDependencyCycle(p.services);
  if (cycle) throw new ServiceError(cycle[0], `dependency cycle detected: ${cycle.join(' -> ')}`);
}

/** Service names forming a cycle through depends_on (first one found, closed: a -> b -> a), or undefined. */
export function findDependencyCycle(services: Record<string, ServiceConfig>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const dep of (services[n] ? serviceDependencies(services[n]) : []).sort()) {
      if (!services[dep]) continue;
      const st = state.get(dep);
      if (st === 1) return [...stack.slice(stack.indexOf(dep)), dep];
      if (st === undefined) {
        const c = visit(dep);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of Object.keys(services).sort()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}
