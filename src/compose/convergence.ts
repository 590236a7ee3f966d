/**
 * What `up` must do to bring a project's containers in line with its model, decided from the containers that
 * exist (their com.docker.compose.* labels) — docker compose's convergence, as pure logic:
 * unchanged containers are kept (started if stopped), a container whose config hash differs is recreated,
 * missing replicas are created, surplus ones removed (highest numbers first), containers of services the project
 * no longer has are orphans. When a service is recreated, services sharing its namespaces or volumes
 * (network_mode/ipc/pid `service:x`, volumes_from) are recreated too and `depends_on` with `restart: true` are
 * restarted; other dependents are left alone (so editing one service recreates only that service).
 */
import type { ContainerSummary } from '../client/index.js';
import { serviceConfigHash } from './config-hash.js';
import {
  LABEL_CONFIG_HASH, LABEL_CONTAINER_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, containerName,
} from './labels.js';
import { serviceDependencies } from './dependencies.js';
import type { ComposeProject, ServiceConfig } from './types.js';

export interface ExistingContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  oneoff: boolean;
  configHash: string;
  /** Engine state: created, running, paused, restarting, exited, dead. */
  state: string;
}

/** The project's containers among a container list (`GET /containers/json?all=1`), read from their labels. */
export function projectContainers(projectName: string, summaries: ContainerSummary[]): ExistingContainer[] {
  const out: ExistingContainer[] = [];
  for (const c of summaries) {
    const l = c.Labels ?? {};
    if (l[LABEL_PROJECT] !== projectName) continue;
    out.push({
      id: c.Id,
      name: (c.Names?.[0] ?? '').replace(/^\//, ''),
      service: l[LABEL_SERVICE] ?? '',
      number: Number(l[LABEL_CONTAINER_NUMBER] ?? 0) || 0,
      oneoff: l[LABEL_ONEOFF] === 'True',
      configHash: l[LABEL_CONFIG_HASH] ?? '',
      state: c.State,
    });
  }
  return out;
}

export type RecreateReason = 'config-changed' | 'forced' | 'dependency-recreated';

export type PlannedAction =
  | { action: 'create'; service: string; number: number; name: string }
  | { action: 'recreate'; service: string; number: number; container: ExistingContainer; reason: RecreateReason }
  | { action: 'start'; service: string; container: ExistingContainer }
  | { action: 'restart'; service: string; container: ExistingContainer }
  | { action: 'keep'; service: string; container: ExistingContainer }
  | { action: 'remove'; service: string; container: ExistingContainer };

export interface ConvergenceOptions {
  /** `--force-recreate`. */
  forceRecreate?: boolean;
  /** `--no-recreate`: changed containers are kept as they are. */
  noRecreate?: boolean;
  /** `--scale svc=N`. */
  scale?: Record<string, number>;
  /** Services named on the command line (default: all enabled ones). */
  services?: string[];
  /** `--no-deps`: do not bring the named services' dependencies along. */
  noDeps?: boolean;
  /** Recreate every dependent of a recreated service, not only those sharing its namespaces or volumes. */
  recreateAllDependents?: boolean;
}

export interface ConvergencePlan {
  /** Services in the order to converge them (dependencies first). */
  order: string[];
  actions: Record<string, PlannedAction[]>;
  /** Containers of services the project does not have (reported; `--remove-orphans` removes them). */
  orphans: ExistingContainer[];
}

/** Replicas wanted for a service: --scale, else deploy.replicas / scale, else 1. */
export function desiredReplicas(service: ServiceConfig, scale?: Record<string, number>): number {
  return scale?.[service.name] ?? service.deploy?.replicas ?? service.scale ?? 1;
}

function dependencyOrder(project: ComposeProject, roots: string[], withDeps: boolean): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n) || !project.services[n]) return;
    seen.add(n);
    if (withDeps) for (const d of serviceDependencies(project.services[n]).sort()) visit(d);
    out.push(n);
  };
  for (const n of [...roots].sort()) visit(n);
  return out;
}

/** Does `service` share a namespace or the volumes of `dep` (so it must follow a recreated `dep`)? */
function tiedTo(service: ServiceConfig, dep: string): boolean {
  const ref = `service:${dep}`;
  return service.network_mode === ref || service.ipc === ref || service.pid === ref
    || (service.volumes_from ?? []).some((v) => v.split(':')[0] === dep);
}

export function planConvergence(project: ComposeProject, existing: ExistingContainer[], opts: ConvergenceOptions = {}): ConvergencePlan {
  const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabledServices)]);
  const orphans = existing.filter((c) => !c.oneoff && !known.has(c.service));
  const roots = opts.services?.length ? opts.services : Object.keys(project.services);
  const order = dependencyOrder(project, roots, !opts.noDeps);
  const recreated = new Set<string>();
  const actions: Record<string, PlannedAction[]> = {};

  for (const name of order) {
    const service = project.services[name];
    const hash = serviceConfigHash(service);
    const mine = existing.filter((c) => c.service === name && !c.oneoff).sort((a, b) => a.number - b.number);
    const want = desiredReplicas(service, opts.scale);
    const list: PlannedAction[] = [];
    const deps = serviceDependencies(service).filter((d) => recreated.has(d));
    const mustFollow = deps.some((d) => opts.recreateAllDependents || tiedTo(service, d));
    const mustRestart = !mustFollow && Object.entries(service.depends_on ?? {}).some(([d, cfg]) => cfg.restart && recreated.has(d));

    const keep = mine.slice(0, want);
    for (const c of mine.slice(want).reverse()) list.push({ action: 'remove', service: name, container: c });
    for (const c of keep) {
      const reason: RecreateReason | undefined = opts.forceRecreate
        ? 'forced'
        : !opts.noRecreate && c.configHash !== hash
          ? 'config-changed'
          : !opts.noRecreate && mustFollow
            ? 'dependency-recreated'
            : undefined;
      if (reason) {
        list.push({ action: 'recreate', service: name, number: c.number, container: c, reason });
        recreated.add(name);
      } else if (!['running', 'paused', 'restarting'].includes(c.state)) {
        list.push({ action: 'start', service: name, container: c });
      } else if (mustRestart) {
        list.push({ action: 'restart', service: name, container: c });
      } else {
        list.push({ action: 'keep', service: name, container: c });
      }
    }
    let next = keep.reduce((m, c) => Math.max(m, c.number), 0) + 1;
    for (let i = keep.length; i < want; i++) {
      const number = next++;
      list.push({ action: 'create', service: name, number, name: containerName(project.name, service, number) });
    }
    // services tied to this one point at its first container: a brand-new one is news for them too
    if (keep.length === 0 && want > 0) recreated.add(name);
    actions[name] = list;
  }
  return { order, actions, orphans };
}
