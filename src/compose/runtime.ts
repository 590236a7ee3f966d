/**
 * The runtime half of berth compose: a loaded project driven through the Engine API (src/client), so it works
 * against berthd and a real dockerd alike. Networks, volumes, images, containers with docker compose's labels
 * and names; `up` converges (planConvergence) and waits for depends_on conditions; a failed `up` removes what it
 * started.
 */
import type { Readable } from 'node:stream';
import {
  readBody, type ContainerInspect, type ContainerSummary, type EngineClient, type ImageInspect, type JsonMessage,
} from '../client/index.js';
import { ConflictError, messageOf, NotFoundError } from '../errors/index.js';
import { serviceConfigHash } from './config-hash.js';
import { planConvergence, projectContainers, type ExistingContainer, type PlannedAction } from './convergence.js';
import { containerSpec } from './engine-spec.js';
import { ExitError } from './flags.js';
import {
  LABEL_CONTAINER_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, LABEL_VERSION, defaultImageName,
} from './labels.js';
import { serviceDependencies } from './dependencies.js';
import type { ComposeProject, ServiceConfig } from './types.js';
import { COMPOSE_COMPAT_VERSION } from './version.js';

export interface Output { write(s: string): unknown }

export interface UpOptions {
  services?: string[];
  build?: 'always' | 'never' | 'missing';
  pull?: 'always' | 'missing' | 'never' | 'policy';
  forceRecreate?: boolean;
  noRecreate?: boolean;
  noDeps?: boolean;
  removeOrphans?: boolean;
  scale?: Record<string, number>;
  noStart?: boolean;
  timeout?: number;
  /** `--always-recreate-deps`: a recreated service takes its dependents along. */
  alwaysRecreateDeps?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Byte order, as Go sorts names (localeCompare would also load ICU's collator: ~20 ms on first use). */
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Waits for all (so that what did get created is known to the rollback), then throws the first failure. */
async function settleAll(work: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Seconds from a compose -t flag or the service's stop_grace_period. */
function stopTimeout(service: ServiceConfig | undefined, t?: number): number | undefined {
  if (t !== undefined) return t;
  return service?.stop_grace_period !== undefined ? Math.round(service.stop_grace_period / 1e9) : undefined;
}

export function containerNameOf(c: ContainerSummary): string {
  return (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
}

/** A short "where" for messages: the service and the compose file(s) it came from. */
export function where(project: ComposeProject, service: string): string {
  const files = project.configFiles.map((f) => f.slice(project.workingDir.length + 1) || f).join(', ');
  return `service "${service}"${files ? ` (${files})` : ''}`;
}

export class ComposeRuntime {
  /** What this process created, so that a failed `up` can take it back. */
  private readonly created = { containers: [] as string[], networks: [] as string[], volumes: [] as string[] };

  constructor(
    readonly client: EngineClient,
    readonly project: ComposeProject,
    readonly out: Output,
    readonly err: Output,
    readonly opts: { envFiles?: string[] } = {},
  ) {}

  private status(kind: string, name: string, state: string): void {
    this.err.write(` ${kind} ${name}  ${state}\n`);
  }

  // ---- lookups ------------------------------------------------------------------------

  /** All containers of the project (any state), including one-off ones. */
  async summaries(): Promise<ContainerSummary[]> {
    const list = await this.client.listContainers({ all: true, filters: { label: [`${LABEL_PROJECT}=${this.project.name}`] } });
    return list.filter((c) => c.Labels?.[LABEL_PROJECT] === this.project.name)
      .sort((a, b) => byCodePoint(a.Labels?.[LABEL_SERVICE] ?? '', b.Labels?.[LABEL_SERVICE] ?? '')
        || Number(a.Labels?.[LABEL_CONTAINER_NUMBER] ?? 0) - Number(b.Labels?.[LABEL_CONTAINER_NUMBER] ?? 0));
  }

  /** Containers of the given services (all when empty), without one-offs unless asked. */
  async serviceContainers(services: string[] = [], opts: { oneoff?: boolean; running?: boolean } = {}): Promise<ContainerSummary[]> {
    return (await this.summaries()).filter((c) => (!services.length || services.includes(c.Labels?.[LABEL_SERVICE] ?? ''))
      && (opts.oneoff || c.Labels?.[LABEL_ONEOFF] !== 'True')
      && (!opts.running || c.State === 'running'));
  }

  checkServices(names: string[]): void {
    for (const n of names) if (!this.project.services[n]) throw new ExitError(1, `no such service: ${n}`);
  }

  // ---- networks and volumes -----------------------------------------------------------

  private networkKeysOf(services: string[]): string[] {
    const keys = new Set<string>();
    for (const s of services) for (const k of Object.keys(this.project.services[s]?.networks ?? {})) keys.add(k);
    return [...keys].sort();
  }

  async ensureNetworks(services: string[]): Promise<void> {
    const keys = this.networkKeysOf(services);
    if (!keys.length) return;   // network_mode services only: nothing to look up
    const { networkCreateBody } = await import('./engine-spec.js');
    const existing = await this.client.listNetworks();
    await settleAll(keys.map(async (key) => {
      const n = this.project.networks[key];
      const found = existing.find((x) => x.Name === n.name);
      if (n.external) {
        if (!found) throw new ExitError(1, `network ${n.name} declared as external, but could not be found`);
        return;
      }
      if (found) return;
      this.status('Network', n.name, 'Creating');
      await this.client.createNetwork(networkCreateBody(this.project, key));
      this.created.networks.push(n.name);
      this.status('Network', n.name, 'Created');
    }));
  }

  async ensureVolumes(services: string[]): Promise<void> {
    const { volumeCreateBody } = await import('./engine-spec.js');
    const keys = new Set<string>();
    for (const s of services) for (const v of this.project.services[s]?.volumes ?? []) if (v.type === 'volume' && v.source) keys.add(v.source);
    if (!keys.size) return;
    await settleAll([...keys].sort().map(async (key) => {
      const v = this.project.volumes[key];
      if (!v) return;
      let exists = true;
      try { await this.client.inspectVolume(v.name); } catch (e) { if (e instanceof NotFoundError) exists = false; else throw e; }
      if (v.external) {
        if (!exists) throw new ExitError(1, `external volume "${v.name}" not found`);
        return;
      }
      if (exists) return;
      this.status('Volume', `"${v.name}"`, 'Creating');
      await this.client.createVolume(volumeCreateBody(this.project, key));
      this.created.volumes.push(v.name);
      this.status('Volume', `"${v.name}"`, 'Created');
    }));
  }

  // ---- images -------------------------------------------------------------------------

  /** Image inspections of this run by reference (services sharing an image ask once); dropped after a build or pull. */
  private readonly images = new Map<string, Promise<ImageInspect | undefined>>();

  /** The image's inspection, or undefined when the engine does not have it. */
  inspectImageOnce(ref: string): Promise<ImageInspect | undefined> {
    let p = this.images.get(ref);
    if (!p) {
      p = this.client.inspectImage(ref).catch((e: unknown) => { if (e instanceof NotFoundError) return undefined; throw e; });
      this.images.set(ref, p);
      p.catch(() => this.images.delete(ref));
    }
    return p;
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.inspectImageOnce(ref)) !== undefined;
  }

  /** Drains a JSON progress stream; throws the first error message. Returns the stream's `stream` text. */
  private async drain(res: Readable, onMessage?: (m: JsonMessage) => void): Promise<string> {
    let text = '';
    for await (const m of this.client.messages(res)) {
      if (m.stream) text += m.stream;
      onMessage?.(m);
    }
    return text;
  }

  async build(name: string, opts: { pull?: boolean; noCache?: boolean; quiet?: boolean } = {}): Promise<void> {
    const service = this.project.services[name];
    if (!service?.build) return;
    const tag = defaultImageName(this.project.name, service);
    this.status('Service', name, 'Building');
    let res;
    try {
      const { buildContextTar, buildQuery } = await import('./build-context.js');   // only builds need it
      res = await this.client.buildImage(buildContextTar(service.build), buildQuery(service.build, tag, {
        pull: opts.pull, noCache: opts.noCache,
        labels: { [LABEL_PROJECT]: this.project.name, [LABEL_SERVICE]: name, [LABEL_VERSION]: COMPOSE_COMPAT_VERSION },
      }));
      if (res.statusCode === 404) {
        await readBody(res);
        throw new Error('the engine has no image builder (POST /build answered 404)');
      }
      if ((res.statusCode ?? 500) >= 400) {
        const body = (await readBody(res)).toString('utf8');
        let msg = body;
        try { msg = (JSON.parse(body) as { message?: string }).message ?? body; } catch { /* raw */ }
        throw new Error(msg.trim());
      }
      await this.drain(res, (m) => { if (m.stream && !opts.quiet) this.err.write(m.stream); });
    } catch (e) {
      throw new ExitError(1, `failed to build ${where(this.project, name)}: ${messageOf(e)}`);
    }
    this.status('Service', name, 'Built');
  }

  async pull(name: string, opts: { ignoreFailures?: boolean; quiet?: boolean } = {}): Promise<void> {
    const service = this.project.services[name];
    if (!service?.image) return;
    this.status('Image', service.image, 'Pulling');
    try {
      const [repo, tag] = splitTag(service.image);
      await this.drain(await this.client.pullImage(repo, { tag }));
      this.status('Image', service.image, 'Pulled');
    } catch (e) {
      if (opts.ignoreFailures) { this.err.write(`WARN[0000] ${where(this.project, name)}: pull ${service.image}: ${messageOf(e)}\n`); return; }
      throw new ExitError(1, `${where(this.project, name)}: failed to pull image ${service.image}: ${messageOf(e)}`);
    }
  }

  async push(name: string, opts: { ignoreFailures?: boolean } = {}): Promise<void> {
    const service = this.project.services[name];
    if (!service?.build || !service.image) return;
    this.status('Image', service.image, 'Pushing');
    try {
      const [repo, tag] = splitTag(service.image);
      await this.drain(await this.client.pushImage(repo, { tag }));
      this.status('Image', service.image, 'Pushed');
    } catch (e) {
      if (opts.ignoreFailures) return;
      throw new ExitError(1, `${where(this.project, name)}: failed to push ${service.image}: ${messageOf(e)}`);
    }
  }

  /** Builds or pulls what the services need, as `up` does (pull_policy, --build, --pull). */
  async ensureImages(services: string[], opts: Pick<UpOptions, 'build' | 'pull'>): Promise<void> {
    // builds one at a time (they are heavy), image checks and pulls of the others in parallel
    const building = services.filter((n) => this.project.services[n].build && opts.build !== 'never');
    for (const name of building) await this.ensureImage(name, opts);
    await Promise.all(services.filter((n) => !building.includes(n)).map((n) => this.ensureImage(n, opts)));
  }

  private pullPolicy(s: ServiceConfig, opts: Pick<UpOptions, 'pull'>): string {
    return opts.pull && opts.pull !== 'policy' ? opts.pull : (s.pull_policy ?? 'missing');
  }

  /** True when `ensureImage` starts by inspecting the service's image (no forced build, no pull: always). */
  private checksImageFirst(name: string, opts: Pick<UpOptions, 'build' | 'pull'>): boolean {
    const s = this.project.services[name];
    const policy = this.pullPolicy(s, opts);
    if (s.build && opts.build !== 'never') return opts.build !== 'always' && policy !== 'build';
    return policy !== 'always';
  }

  private async ensureImage(name: string, opts: Pick<UpOptions, 'build' | 'pull'>): Promise<void> {
    const s = this.project.services[name];
    const ref = defaultImageName(this.project.name, s);
    const policy = this.pullPolicy(s, opts);
    if (s.build && opts.build !== 'never' && (opts.build === 'always' || policy === 'build' || !(await this.imageExists(ref)))) {
      await this.build(name);
      this.images.delete(ref);
      return;
    }
    if (policy === 'always' || (['missing', 'if_not_present'].includes(policy) && !(await this.imageExists(ref)))) {
      if (s.image) await this.pull(name);
      this.images.delete(ref);
      return;
    }
    if (!(await this.imageExists(ref))) {
      throw new ExitError(1, `${where(this.project, name)}: image ${ref} not found${policy === 'never' ? ' (pull_policy: never)' : ''}${s.build && opts.build === 'never' ? ' and --no-build was given' : ''}`);
    }
  }

  // ---- containers ---------------------------------------------------------------------

  /** Creates replica `number` of a service (connected to all its networks); returns the container ID. */
  async createReplica(name: string, number: number, extra: { oneoff?: boolean; command?: string[]; entrypoint?: string[]; env?: string[]; user?: string; workdir?: string; ports?: string[]; tty?: boolean; stdin?: boolean; autoRemove?: boolean; containerName?: string } = {}): Promise<{ id: string; name: string }> {
    const service = this.project.services[name];
    const spec = containerSpec(this.project, service, { number, oneoff: extra.oneoff, command: extra.command, envFiles: this.opts.envFiles });
    const body = spec.body;
    if (extra.entrypoint) body.Entrypoint = extra.entrypoint;
    if (extra.env?.length) body.Env = [...(body.Env ?? []), ...extra.env];
    if (extra.user) body.User = extra.user;
    if (extra.workdir) body.WorkingDir = extra.workdir;
    if (extra.tty !== undefined) body.Tty = extra.tty;
    if (extra.stdin !== undefined) { body.OpenStdin = extra.stdin; body.AttachStdin = extra.stdin; body.StdinOnce = extra.stdin; }
    if (extra.oneoff) {
      // `run` publishes no ports unless asked (--service-ports / -p)
      body.HostConfig = { ...body.HostConfig, PortBindings: undefined };
      if (extra.autoRemove) body.HostConfig.AutoRemove = true;
      for (const p of extra.ports ?? []) {
        const m = /^(?:(.*):)?(\d*):(\d+)(?:\/(\w+))?$/.exec(p) ?? /^(\d+)(?:\/(\w+))?$/.exec(p);
        if (!m) throw new ExitError(1, `invalid port ${p}`);
        const [ip, host, target, proto] = m.length === 5 ? [m[1] ?? '', m[2], m[3], m[4] ?? 'tcp'] : ['', '', m[1], m[2] ?? 'tcp'];
        const key = `${target}/${proto}`;
        body.ExposedPorts = { ...(body.ExposedPorts ?? {}), [key]: {} };
        body.HostConfig.PortBindings = { ...(body.HostConfig.PortBindings ?? {}), [key]: [{ HostIp: ip, HostPort: host }] };
      }
    }
    const cname = extra.containerName ?? spec.name;
    let id: string;
    for (let attempt = 0; ; attempt++) {
      try {
        id = (await this.client.createContainer(body, { name: cname })).Id;
        break;
      } catch (e) {
        // a just-removed container of the same name may still be on its way out (recreate)
        if (e instanceof ConflictError && attempt < 20 && /already in use/.test(messageOf(e))) { await sleep(250); continue; }
        throw new ExitError(1, `${where(this.project, name)}: failed to create container ${cname}: ${messageOf(e)}`);
      }
    }
    this.created.containers.push(id);
    for (const ep of spec.extraNetworks) await this.client.connectNetwork(ep.network, id, ep.config);
    return { id, name: cname };
  }

  async startContainer(service: string, id: string, name: string): Promise<void> {
    this.status('Container', name, 'Starting');
    try {
      await this.client.startContainer(id);
    } catch (e) {
      throw new ExitError(1, `${where(this.project, service)}: failed to start container ${name}: ${messageOf(e)}`);
    }
    this.status('Container', name, 'Started');
  }

  private async removeContainer(c: ExistingContainer, service: string, timeout?: number): Promise<void> {
    const svc = this.project.services[service];
    if (['running', 'paused', 'restarting'].includes(c.state)) {
      this.status('Container', c.name, 'Stopping');
      await this.client.stopContainer(c.id, { timeout: stopTimeout(svc, timeout) }).catch(() => {});
      this.status('Container', c.name, 'Stopped');
    }
    await this.client.removeContainer(c.id, { force: true, volumes: true });
    this.status('Container', c.name, 'Removed');
  }

  /** Waits until what `service` depends on satisfies its conditions. */
  async waitDependencies(service: string, timeoutMs = 300_000): Promise<void> {
    const deps = this.project.services[service]?.depends_on ?? {};
    for (const [dep, cfg] of Object.entries(deps)) {
      if (!this.project.services[dep]) continue;
      if (cfg.condition === 'service_started') continue;
      const containers = await this.serviceContainers([dep]);
      if (!containers.length) {
        if (!cfg.required) { this.err.write(`WARN[0000] optional dependency "${dep}" of service "${service}" has no container\n`); continue; }
        throw new ExitError(1, `${where(this.project, service)}: dependency "${dep}" has no container`);
      }
      try {
        for (const c of containers) {
          if (cfg.condition === 'service_healthy') await this.waitHealthy(dep, c, timeoutMs);
          else await this.waitCompleted(dep, c);
        }
      } catch (e) {
        if (!cfg.required) { this.err.write(`WARN[0000] optional dependency "${dep}" of service "${service}": ${messageOf(e)}\n`); continue; }
        throw e;
      }
    }
  }

  /** Polls a container until it is healthy (or running, without a health check when `orRunning`). */
  async waitHealthy(service: string, c: ContainerSummary, timeoutMs: number, orRunning = false): Promise<void> {
    const name = containerNameOf(c);
    const svc = this.project.services[service];
    const check = svc?.healthcheck && !svc.healthcheck.disable && svc.healthcheck.test?.[0] !== 'NONE' ? svc.healthcheck : undefined;
    this.status('Container', name, 'Waiting');
    const deadline = Date.now() + timeoutMs;
    let probeAt = 0;
    const watch = this.watchContainer(c.Id);
    try {
      for (;;) {
        const info = await this.client.inspectContainer(c.Id);
        const st = info.State;
        if (!st.Running && !st.Restarting) {
          throw new ExitError(1, `dependency failed to start: container ${name} exited (${st.ExitCode})`);
        }
        if (st.Health) {
          if (st.Health.Status === 'healthy') break;
          if (st.Health.Status === 'unhealthy') throw new ExitError(1, `dependency failed to start: container ${name} is unhealthy`);
        } else if (!check && !info.Config.Healthcheck?.Test) {
          if (orRunning) { this.status('Container', name, 'Running'); return; }
          throw new ExitError(1, `dependency failed to start: container ${name} has no healthcheck configured`);
        } else if (Date.now() >= probeAt) {
          // the engine does not run health checks: probe from here with an exec of the same test
          probeAt = Date.now() + Math.min(2000, (check?.interval ?? 2e9) / 1e6);
          if (await this.probe(info)) break;
        }
        if (Date.now() > deadline) throw new ExitError(1, `timed out waiting for container ${name} to be healthy`);
        await watch.next(250);
      }
    } finally {
      watch.close();
    }
    this.status('Container', name, 'Healthy');
  }

  /**
   * The engine's events about one container (health_status, die, ...): `next(ms)` resolves as soon as one came
   * since the last call, else after `ms` (the poll stays: an engine without events, or an event that came before
   * the subscription, costs at most one interval, as before).
   */
  private watchContainer(id: string): { next(ms: number): Promise<void>; close(): void } {
    const abort = new AbortController();
    let seen = false;
    let wake: (() => void) | undefined;
    void (async () => {
      try {
        for await (const e of this.client.events({ filters: { container: [id], type: ['container'] }, signal: abort.signal })) {
          const about = e.Actor?.ID || e.id;
          if (about && about !== id) continue;
          seen = true;
          wake?.();
        }
      } catch { /* no event stream: polling only */ }
    })();
    return {
      next: (ms) => new Promise<void>((resolve) => {
        if (seen) { seen = false; resolve(); return; }
        const timer = setTimeout(() => { wake = undefined; resolve(); }, ms);
        wake = () => { clearTimeout(timer); wake = undefined; seen = false; resolve(); };
      }),
      close: () => abort.abort(),
    };
  }

  /** False when neither the service nor its image defines a health check (true when unsure). */
  private async mayHaveHealthcheck(service: string): Promise<boolean> {
    const svc = this.project.services[service];
    if (!svc) return true;
    if (svc.healthcheck) return !svc.healthcheck.disable && svc.healthcheck.test?.[0] !== 'NONE';
    try {
      const image = await this.inspectImageOnce(defaultImageName(this.project.name, svc));
      return !image || !!image.Config?.Healthcheck?.Test?.length && image.Config.Healthcheck.Test[0] !== 'NONE';
    } catch { return true; }
  }

  private async probe(info: ContainerInspect): Promise<boolean> {
    const test = info.Config.Healthcheck?.Test;
    if (!test?.length || test[0] === 'NONE') return true;
    const cmd = test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test[0] === 'CMD' ? test.slice(1) : test;
    try {
      const { Id } = await this.client.createExec(info.Id, { Cmd: cmd, AttachStdout: false, AttachStderr: false });
      await this.client.startExecDetached(Id);
      for (let i = 0; i < 200; i++) {
        const x = await this.client.inspectExec(Id);
        if (!x.Running && x.ExitCode !== null) return x.ExitCode === 0;
        await sleep(100);
      }
    } catch { /* not ready yet */ }
    return false;
  }

  private async waitCompleted(service: string, c: ContainerSummary): Promise<void> {
    const name = containerNameOf(c);
    this.status('Container', name, 'Waiting');
    const r = await this.client.waitContainer(c.Id, 'not-running');
    if (r.StatusCode !== 0) throw new ExitError(1, `service "${service}" didn't complete successfully: exit ${r.StatusCode}`);
    this.status('Container', name, 'Exited');
  }

  // ---- up / down ----------------------------------------------------------------------

  /** Converges the project (create/recreate/start), dependencies first, waiting for depends_on conditions. */
  async up(opts: UpOptions): Promise<void> {
    const services = opts.services?.length ? opts.services : Object.keys(this.project.services);
    this.checkServices(services);
    // the images `ensureImages` will look at are asked for while the containers are listed
    for (const name of services) if (this.checksImageFirst(name, opts)) void this.inspectImageOnce(defaultImageName(this.project.name, this.project.services[name]));
    const existing = projectContainers(this.project.name, await this.summaries());
    const plan = planConvergence(this.project, existing, {
      services, noDeps: opts.noDeps, forceRecreate: opts.forceRecreate, noRecreate: opts.noRecreate, scale: opts.scale,
      recreateAllDependents: opts.alwaysRecreateDeps,
    });
    if (plan.orphans.length) {
      if (opts.removeOrphans) {
        for (const o of plan.orphans) await this.removeContainer(o, o.service, opts.timeout);
      } else {
        this.err.write(`WARN[0000] Found orphan containers ([${plan.orphans.map((o) => o.name).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n`);
      }
    }
    try {
      // independent of each other: networks, volumes and images side by side
      await settleAll([this.ensureNetworks(plan.order), this.ensureVolumes(plan.order), this.ensureImages(plan.order, opts)]);
      // each service waits for its dependencies' convergence, independent branches go in parallel
      const done = new Map<string, Promise<void>>();
      const converge = (name: string): Promise<void> => {
        let p = done.get(name);
        if (p) return p;
        p = (async () => {
          const deps = serviceDependencies(this.project.services[name]).filter((d) => plan.order.includes(d));
          await Promise.all(deps.map(converge));
          if (!opts.noStart) await this.waitDependencies(name);
          await this.applyActions(name, plan.actions[name] ?? [], opts);
        })();
        done.set(name, p);
        return p;
      };
      const all = await Promise.allSettled(plan.order.map(converge));
      const failed = all.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  private async applyActions(name: string, actions: PlannedAction[], opts: UpOptions): Promise<void> {
    for (const a of actions) {
      switch (a.action) {
        case 'remove':
          await this.removeContainer(a.container, name, opts.timeout);
          break;
        case 'recreate': {
          this.status('Container', a.container.name, 'Recreate');
          await this.removeContainer({ ...a.container }, name, opts.timeout);
          const c = await this.createReplica(name, a.number);
          this.status('Container', c.name, 'Recreated');
          if (!opts.noStart) await this.startContainer(name, c.id, c.name);
          break;
        }
        case 'create': {
          this.status('Container', a.name, 'Creating');
          const c = await this.createReplica(name, a.number);
          this.status('Container', c.name, 'Created');
          if (!opts.noStart) await this.startContainer(name, c.id, c.name);
          break;
        }
        case 'start':
          if (!opts.noStart) await this.startContainer(name, a.container.id, a.container.name);
          break;
        case 'restart':
          if (!opts.noStart) {
            this.status('Container', a.container.name, 'Restarting');
            await this.client.restartContainer(a.container.id, { timeout: opts.timeout });
            this.status('Container', a.container.name, 'Started');
          }
          break;
        case 'keep':
          this.status('Container', a.container.name, 'Running');
          break;
      }
    }
  }

  /** Removes what this process created (containers, then networks and volumes) after a failed `up`. */
  async rollback(): Promise<void> {
    if (!this.created.containers.length && !this.created.networks.length && !this.created.volumes.length) return;
    this.err.write('Removing what this up created after the failure\n');
    for (const id of this.created.containers.reverse()) await this.client.removeContainer(id, { force: true, volumes: true }).catch(() => {});
    for (const n of this.created.networks.reverse()) await this.client.removeNetwork(n).catch(() => {});
    for (const v of this.created.volumes.reverse()) await this.client.removeVolume(v).catch(() => {});
    this.created.containers = [];
    this.created.networks = [];
    this.created.volumes = [];
  }

  /** Waits until every (running) container of the services is running, and healthy if it has a health check. */
  async waitReady(services: string[], timeoutMs: number): Promise<void> {
    const list = await this.serviceContainers(services);
    await Promise.all(list.map(async (c) => {
      const svc = c.Labels?.[LABEL_SERVICE] ?? '';
      const dependedOnToComplete = Object.values(this.project.services)
        .some((s) => s.depends_on?.[svc]?.condition === 'service_completed_successfully');
      if (dependedOnToComplete) return this.waitCompleted(svc, c);
      if (c.State === 'running' && !(await this.mayHaveHealthcheck(svc))) {
        // running, and nothing to wait for: the list says so, no inspection needed
        this.status('Container', containerNameOf(c), 'Waiting');
        this.status('Container', containerNameOf(c), 'Running');
        return;
      }
      return this.waitHealthy(svc, c, timeoutMs, true);
    }));
  }

  async down(opts: { volumes?: boolean; rmi?: 'all' | 'local'; removeOrphans?: boolean; timeout?: number }): Promise<void> {
    const known = new Set([...Object.keys(this.project.services), ...Object.keys(this.project.disabledServices)]);
    // the network list does not depend on the containers: asked for while they stop
    const networksListed = this.client.listNetworks();
    networksListed.catch(() => {});
    const all = projectContainers(this.project.name, await this.summaries());
    const mine = all.filter((c) => known.has(c.service) || c.oneoff);
    const orphans = all.filter((c) => !known.has(c.service) && !c.oneoff);
    if (orphans.length && !opts.removeOrphans && known.size) {
      this.err.write(`WARN[0000] Found orphan containers ([${orphans.map((o) => o.name).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n`);
    }
    // `down -p NAME` without compose files: everything of the project goes
    const targets = opts.removeOrphans || !known.size ? all : mine;
    // dependents first; services at the same depth go in parallel
    const depth = this.dependentDepth();
    const byRank = new Map<number, ExistingContainer[]>();
    for (const c of targets) { const r = depth.get(c.service) ?? 0; byRank.set(r, [...(byRank.get(r) ?? []), c]); }
    for (const r of [...byRank.keys()].sort((a, b) => a - b)) {
      await Promise.all(byRank.get(r)!.map((c) => this.removeContainer(c, c.service, opts.timeout)));
    }
    // the project's networks: those its model names (by name) and any other carrying its label (all removed at once)
    const nets = (await networksListed).filter((x) => x.Labels?.[LABEL_PROJECT] === this.project.name);
    await Promise.all(nets.sort((x, y) => byCodePoint(x.Name, y.Name)).map(async (n) => {
      const declared = Object.values(this.project.networks).find((d) => d.name === n.Name);
      if (declared?.external) return;
      this.status('Network', n.Name, 'Removing');
      try { await this.client.removeNetwork(n.Id); this.status('Network', n.Name, 'Removed'); } catch (e) {
        this.err.write(`WARN[0000] network ${n.Name}: ${messageOf(e)}\n`);
      }
    }));
    if (opts.volumes) {
      const declared = Object.values(this.project.volumes).filter((v) => !v.external).map((v) => v.name);
      const labelled = ((await this.client.listVolumes()).Volumes ?? [])
        .filter((v) => v.Labels?.[LABEL_PROJECT] === this.project.name && (declared.includes(v.Name) || !Object.keys(this.project.services).length));
      await Promise.all(labelled.map(async (v) => {
        this.status('Volume', v.Name, 'Removing');
        try { await this.client.removeVolume(v.Name); this.status('Volume', v.Name, 'Removed'); } catch (e) {
          if (!(e instanceof NotFoundError)) this.err.write(`WARN[0000] volume ${v.Name}: ${messageOf(e)}\n`);
        }
      }));
      // anonymous volumes went with their containers
    }
    if (opts.rmi) {
      for (const s of Object.values(this.project.services)) {
        if (opts.rmi === 'local' && s.image) continue;
        const ref = defaultImageName(this.project.name, s);
        try { await this.client.removeImage(ref); this.status('Image', ref, 'Removed'); } catch (e) {
          if (!(e instanceof NotFoundError)) this.err.write(`WARN[0000] image ${ref}: ${messageOf(e)}\n`);
        }
      }
    }
  }

  /** For each service, how deep it sits below its dependents: 0 when nothing depends on it (stopped first). */
  dependentDepth(): Map<string, number> {
    const out = new Map<string, number>();
    const names = Object.keys(this.project.services);
    const visit = (n: string, seen: Set<string>): number => {
      const known = out.get(n);
      if (known !== undefined) return known;
      if (seen.has(n)) return 0;
      seen.add(n);
      const dependents = names.filter((m) => serviceDependencies(this.project.services[m]).includes(n));
      const d = dependents.length ? 1 + Math.max(...dependents.map((m) => visit(m, seen))) : 0;
      out.set(n, d);
      return d;
    };
    for (const n of names) visit(n, new Set());
    return out;
  }

  /** Services, dependents before their dependencies. */
  reverseOrder(): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (n: string): void => {
      if (seen.has(n) || !this.project.services[n]) return;
      seen.add(n);
      for (const d of serviceDependencies(this.project.services[n]).sort()) visit(d);
      out.push(n);
    };
    for (const n of Object.keys(this.project.services).sort()) visit(n);
    return out.reverse();
  }

  /** The config hash a service's containers carry when up to date. */
  hash(service: string): string { return serviceConfigHash(this.project.services[service]); }
}

/** "repo:tag" → [repo, tag]; a digest or no tag → [ref, undefined]. */
export function splitTag(ref: string): [string, string | undefined] {
  if (ref.includes('@')) return [ref, undefined];
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}
