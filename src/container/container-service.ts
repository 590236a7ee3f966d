/**
 * Containers: create from an image, start under the runtime's monitor, attach, wait, stop, kill,
 * remove; exits are noticed through conmon's exit files, so they are recorded even when they
 * happen while the daemon is down.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, promises as fsp, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import os from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, InvalidParameterError, NotFoundError, NotImplementedError, NotModifiedError, SystemError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { HOST_ARCH, HOST_OS, type ImageStore } from '../image/index.js';
import { diffTar, directorySize, isMounted, mountOverlay, mountPoints, unmount, unpackTar } from '../layer/index.js';
import { buildSpec, isMonitorOf, MASKED_PATHS, ownCgroups, READONLY_PATHS, RuntimeCreateError, type ConmonRuntime, type SpecInput } from '../runtime/index.js';
import { mount, MS_NODEV, MS_NOEXEC, MS_NOSUID } from '../hostops/index.js';
import type { Db } from '../store/index.js';
import { AttachSession, type AttachClient } from './attach.js';
import { ContainerTable } from './container-table.js';
import { validateCreateRequest } from './create-request.js';
import { rotateLogFile } from './log-file.js';
import { containerEventAttrs } from './shapes.js';
import { LOG_DRIVER, logLimits } from './log-options.js';
import { mergeHealthcheck } from './health-config.js';
import { initLayerEntries, withoutInitLayer, writeInitStubs } from './init-layer.js';
import { randomName, validateName } from './names.js';
import { ZERO_TIME, type ContainerRecord } from './types.js';
import { resolveUser } from './user.js';
import { CONTAINER_LOG, SpareContainerDirs } from './spare-dirs.js';

const execFileAsync = promisify(execFile);
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What containers need from networking; the network service implements it. */
export interface ContainerNetworking {
  /** Makes the container's network namespace for the runtime to join; null means a fresh one made by the runtime (loopback only). */
  prepare(c: ContainerRecord): Promise<{ netnsPath: string | null | 'host' }>;
  /** After prepare, while the runtime creates the container: endpoints, ports, and the contents of /etc/hosts and /etc/resolv.conf. */
  configure(c: ContainerRecord): Promise<{ settings: Record<string, any>; hosts: string; resolvConf: string }>;
  tearDown(c: ContainerRecord): Promise<void>;
  /** Whether anything of the container's network (namespace, endpoints) exists. */
  hasSandbox?(id: string): boolean;
  /** Joins a running container to one more network; returns its NetworkSettings afterwards. */
  connect?(c: ContainerRecord, network: string, cfg: Record<string, any>): Promise<Record<string, any>>;
  disconnect?(c: ContainerRecord, network: string, force: boolean): Promise<Record<string, any>>;
  /** Network names, as given, must exist; resolves an ID or name to the network's name. */
  networkName?(ref: string): string;
  /** The endpoints a container that is not running will join, in Docker's shape (no addresses yet). */
  planned?(c: ContainerRecord): Record<string, any>;
}

/** One OCI mount for the spec. */
export interface SpecMount { destination: string; type: string; source: string; options: string[] }

/**
 * Optional engine features hooked into the container lifecycle (volumes and mounts, security
 * defaults, restart policies, health checks). Every method is optional; hooks run in order.
 */
export interface ContainerHooks {
  /** At create, before the record is saved: may fill in the record (Mounts) or refuse the create. */
  /** Checks a new container; returns warnings for the client (dockerd's create warnings). */
  created?(c: ContainerRecord, imageConfig: Record<string, any>): void | string[] | Promise<void | string[]>;
  /** At start, with the rootfs mounted: extra OCI mounts. */
  beforeStart?(c: ContainerRecord, rootfs: string): Promise<SpecMount[] | void>;
  /** Last changes to the OCI spec before it is written. */
  adjustSpec?(c: ContainerRecord, spec: Record<string, any>): void;
  started?(c: ContainerRecord): void;
  /** The user asked to stop, kill or remove it (cancels pending restarts). */
  stopping?(c: ContainerRecord): void;
  /** After the container's process is gone and its rootfs unmounted (also after a failed start). */
  afterStop?(c: ContainerRecord): Promise<void>;
  /** After an exit was recorded. */
  exited?(c: ContainerRecord, code: number): void;
  removed?(c: ContainerRecord, removeVolumes: boolean): Promise<void>;
}

export interface ContainerServiceOptions {
  hooks?: ContainerHooks[];
  db: Db;
  dataRoot: string;
  images: ImageStore;
  runtime: ConmonRuntime;
  events: EventBus;
  networking: ContainerNetworking;
  cgroupParent: string;
  log: (msg: string) => void;
}

type Waiter = { condition: 'next-exit' | 'removed'; resolve: (code: number) => void };

export class ContainerService {
  readonly table: ContainerTable;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly pendingAttach = new Map<string, AttachSession[]>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly stopListeners = new Map<string, Set<() => void>>();
  private exitWatcher?: FSWatcher;
  private rotateTimer?: NodeJS.Timeout;
  private rotating = false;
  private rotateTicks = 0;
  private readonly explicitLogLimits = new Set<string>();

  private readonly spareDirs: SpareContainerDirs;

  constructor(private readonly o: ContainerServiceOptions) {
    this.table = new ContainerTable(o.db);
    this.spareDirs = new SpareContainerDirs(join(o.dataRoot, 'containers'), o.log);
    o.images.setUsage({ containersUsing: (imageId) => this.table.all().filter((c) => c.ImageId === imageId).map((c) => ({ id: c.Id, running: c.State.Status === 'running' || c.State.Status === 'paused' })) });
  }

  /** The OCI runtime the containers run under (commit pauses and resumes through it). */
  get runtime(): ConmonRuntime { return this.o.runtime; }

  dir(id: string): string { return join(this.o.dataRoot, 'containers', id); }
  logPath(id: string): string { return join(this.dir(id), CONTAINER_LOG); }

  /** The image as a list names it: the reference it was created from while that still names its image, else the image's ID (dockerd). */
  imageShown(c: ContainerRecord): string {
    return this.o.images.resolvesTo(c.Config.Image, c.ImageId) ? c.Config.Image : c.ImageId;
  }

  /** The log `docker logs` reads; with the `none` driver there is none, as in dockerd. */
  readableLogPath(c: ContainerRecord): string {
    if (c.HostConfig.LogConfig?.Type === 'none') throw new NotImplementedError('configured logging driver does not support reading');
    return this.logPath(c.Id);
  }

  // ---- lookup ------------------------------------------------------------------------------

  /** By full ID, name (with or without /), or unique ID prefix — Docker's order. */
  get(ref: string): ContainerRecord {
    const c = this.tryGet(ref);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    return c;
  }

  tryGet(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const byId = this.table.get(ref);
    if (byId) return byId;
    const byName = this.table.idOfName(ref.startsWith('/') ? ref.slice(1) : ref);
    if (byName) return this.table.get(byName);
    if (/^[a-f0-9]+$/.test(ref)) {
      const hits = this.table.ids().filter((id) => id.startsWith(ref));
      if (hits.length > 1) throw new InvalidParameterError(`multiple IDs found with provided prefix: ${ref}`);
      return hits.length ? this.table.get(hits[0]) : undefined;
    }
    return undefined;
  }

  list(): ContainerRecord[] { return this.table.all(); }

  private save(c: ContainerRecord): void { this.table.put(c.Id, c); }

  /** Serialises state changes of one container. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.locks.set(id, next);
    try { return await next; } finally { if (this.locks.get(id) === next) this.locks.delete(id); }
  }

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...containerEventAttrs(c), ...extra };
  }

  // ---- create ------------------------------------------------------------------------------

  async create(body: Record<string, any>, nameParam?: string | null, platform?: string | null): Promise<{ Id: string; Warnings: string[] }> {
    validateCreateRequest(body);
    if (!body || typeof body !== 'object') throw new InvalidParameterError('invalid JSON: empty body');
    const imageRef = body.Image;
    if (!imageRef || typeof imageRef !== 'string') throw new InvalidParameterError('config cannot be empty in order to create a container');
    const image = this.o.images.resolve(imageRef);
    const imageFull = await this.o.images.config(image.id);
    const imageConfig = imageFull.config ?? {};
    if (platform) checkPlatform(imageRef, platform, imageFull);
    const hostConfig: Record<string, any> = { ...(body.HostConfig ?? {}) };
    validateHostConfig(hostConfig);

    let name: string;
    if (nameParam) {
      name = validateName(nameParam);
      const other = this.table.idOfName(name);
      if (other) throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
    } else {
      name = randomName((n) => this.table.idOfName(n) !== undefined);
    }

    const id = randomBytes(32).toString('hex');
    const config = mergeConfig(imageConfig, body, id);
    const entrypoint: string[] = config.Entrypoint ?? [];
    const cmd: string[] = config.Cmd ?? [];
    const argv = [...entrypoint, ...cmd];
    if (argv.length === 0) throw new InvalidParameterError('no command specified');
    // What dockerd refuses at create rather than at the start or stop that would trip over it.
    if (config.WorkingDir && !config.WorkingDir.startsWith('/')) throw new InvalidParameterError(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
    if (config.StopSignal) normaliseSignal(config.StopSignal);
    for (const link of (hostConfig.Links ?? []) as string[]) {
      const target = String(link).split(':')[0].replace(/^\//, '');
      if (!this.tryGet(target)) throw new InvalidParameterError(`could not get container for ${target}`);
    }

    hostConfig.NetworkMode ??= 'bridge';
    if (hostConfig.Runtime && hostConfig.Runtime !== this.o.runtime.cfg.name) throw new InvalidParameterError(`unknown or invalid runtime name: ${hostConfig.Runtime}`);
    hostConfig.Runtime = this.o.runtime.cfg.name;
    if (!hostConfig.IpcMode) hostConfig.IpcMode = 'private';
    if (!hostConfig.ShmSize) hostConfig.ShmSize = 64 * 1024 * 1024;   // dockerd's default, shown by inspect
    // As dockerd: a memory limit without a swap limit gets as much swap again (inspect shows it; update checks against it).
    if (hostConfig.Memory > 0 && !hostConfig.MemorySwap) hostConfig.MemorySwap = hostConfig.Memory * 2;
    // The host's UTS namespace (or network) comes with the host's name.
    if (!body.Hostname && (hostConfig.UTSMode === 'host' || hostConfig.NetworkMode === 'host')) config.Hostname = os.hostname();
    // As dockerd: Docker's masked and read-only /proc and /sys paths unless privileged or sent (systempaths=unconfined sends []).
    if ((hostConfig.SecurityOpt ?? []).includes('systempaths=unconfined')) { hostConfig.MaskedPaths = []; hostConfig.ReadonlyPaths = []; }
    if (!hostConfig.Privileged) { hostConfig.MaskedPaths ??= [...MASKED_PATHS]; hostConfig.ReadonlyPaths ??= [...READONLY_PATHS]; }
    hostConfig.RestartPolicy = { Name: hostConfig.RestartPolicy?.Name || 'no', MaximumRetryCount: hostConfig.RestartPolicy?.MaximumRetryCount ?? 0 };
    // An empty driver is the daemon's (dockerd fills in its default too); the options are checked now, not at start.
    hostConfig.LogConfig = { Type: hostConfig.LogConfig?.Type || LOG_DRIVER, Config: hostConfig.LogConfig?.Config ?? {} };
    logLimits(hostConfig.LogConfig);

    const c: ContainerRecord = {
      Id: id, Name: name, Created: new Date().toISOString(), ImageId: image.id,
      Config: config, HostConfig: hostConfig, Path: argv[0], Args: argv.slice(1),
      State: { Status: 'created', Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, OOMKilled: false },
      RestartCount: 0, NetworkingConfig: body.NetworkingConfig, Mounts: [], Platform: 'linux',
    };
    const warnings: string[] = [];
    if (hostConfig.NetworkMode === 'host' && Object.keys(hostConfig.PortBindings ?? {}).length) warnings.push('Published ports are discarded when using host network mode');
    for (const h of this.o.hooks ?? []) warnings.push(...((await h.created?.(c, imageConfig)) ?? []));
    const dir = this.dir(id);
    try {
      this.spareDirs.take(dir);
      writeInitStubs(join(dir, 'upper'), this.imageLayers(image.id));
      c.NetworkSettings = { Networks: this.o.networking.planned?.(c) ?? {} };
      this.save(c);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });   // a refused create leaves nothing behind
      throw e;
    }
    this.o.events.emit('container', 'create', id, this.attrs(c));
    return { Id: id, Warnings: warnings };
  }

  // ---- start -------------------------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const c0 = this.get(ref);
    await this.locked(c0.Id, async () => {
      const c = this.get(c0.Id);
      if (c.State.Status === 'running' || c.State.Status === 'paused') throw new NotModifiedError('container already started');
      if (c.State.Status === 'removing' || c.State.Status === 'dead') throw new ConflictError(`container ${c.Id} is marked for removal and cannot be started`);
      c.ManuallyStopped = false;
      await this.startLocked(c);
    });
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    const dir = this.dir(c.Id);
    const bundle = this.o.runtime.bundleDir(c.Id);
    mkdirSync(bundle, { recursive: true });
    const rootfs = join(dir, 'rootfs');
    const lower = this.imageLayers(c.ImageId);
    if (!lower.length) { mkdirSync(join(dir, 'empty'), { recursive: true }); lower.push(join(dir, 'empty')); }
    let mounted = false;
    let netUp = false;
    let configured: Promise<{ settings: Record<string, any>; hosts: string; resolvConf: string }> | undefined;
    let pending: AttachSession[] = [];
    const hooks = this.o.hooks ?? [];
    let bothSettled: Promise<unknown> | undefined;
    let starting: Promise<{ pid: number; monitorPid: number }> | undefined;
    let started: { pid: number; monitorPid: number };
    const configWritten = deferred();
    const runtimeDone = this.o.runtime.startIsComing();
    try {
      // No device drivers (NVIDIA's and the like) here: a request for one fails, as with dockerd without them.
      for (const r of (c.HostConfig.DeviceRequests ?? []) as { Driver?: string; Capabilities?: string[][] | null }[]) {
        throw new SystemError(`could not select device driver "${r.Driver ?? ''}" with capabilities: [${(r.Capabilities ?? []).map((cs) => `[${cs.join(' ')}]`).join(' ')}]`);
      }
      const spaces = this.sharedNamespaces(c);   // first: a donor that is not running leaves nothing to undo
      const files = { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') };
      // The root filesystem and the network namespace are independent: set them up side by side,
      // the mount asked first (the hostops helper serves in order) — what follows it needs only the mount.
      const fsSide = (async () => {
        if (c.HostConfig.AutoRemove && isMounted(rootfs)) await unmount(rootfs);   // left by an auto-removal that failed
        await mountOverlay(lower, join(dir, 'upper'), join(dir, 'work'), rootfs);
        mounted = true;
        if (c.HostConfig.IpcMode === 'shareable') await mountShm(join(dir, 'shm'), c.HostConfig.ShmSize);
        const mounts: SpecMount[] = [];
        for (const h of hooks) mounts.push(...((await h.beforeStart?.(c, rootfs)) ?? []));
        return { mounts, user: resolveUser(rootfs, c.Config.User, c.HostConfig.GroupAdd ?? []) };
      })();
      const netSide = this.o.networking.prepare(c).then((n) => { netUp = true; return n; });
      // On a failure, both settle before the clean-up below looks at what was made.
      bothSettled = Promise.allSettled([fsSide, netSide]);
      // The monitor is launched now, beside the preparation, and runs the runtime once config.json
      // is written (or gives up if the preparation fails); the hostops helper serves in order, and
      // the mount and the namespace are asked for first.
      starting = this.o.runtime.start({
        id: c.Id, bundle, logPath: this.logPath(c.Id), tty: !!c.Config.Tty,
        openStdin: !!c.Config.OpenStdin, stdinOnce: !!c.Config.StdinOnce, logSizeMax: monitorLogCap(c),
        configWritten: configWritten.promise,
        // The endpoints are made while the runtime creates the container (the longer path; its
        // process waits for the start): the hostops helper serves one request at a time.
        launched: () => {
          configured = this.o.networking.configure(c).then((net) => {
            // Rewritten in place (the bind mounts hold these inodes) while the runtime still
            // creates the container: its process runs only once started.
            writeFileSync(files.hosts, net.hosts);
            writeFileSync(files.resolvConf, net.resolvConf);
            return net;
          });
          configured.catch(() => undefined);
        },
        beforeStart: async () => {
          const sock = this.o.runtime.attachSocketPath(c.Id);
          const [net] = await Promise.all([
            configured!,
            ...pending.map((s) => s.connect(sock).catch((e) => { this.o.log(`attach ${c.Id}: ${e}`); s.close(); })),
          ]);
          c.NetworkSettings = net.settings;
        },
      });
      starting.catch(() => undefined);
      // While the helper mounts: /etc/hosts and /etc/resolv.conf are bind-mounted, so they exist
      // now; their contents come with the network.
      writeFileSync(files.hostname, c.Config.Hostname + '\n');
      writeFileSync(files.hosts, '');
      writeFileSync(files.resolvConf, '');
      const { mounts: extraMounts, user } = await fsSide;
      const env = processEnv(c, user.home);
      const { netnsPath } = await netSide;
      const spec = buildSpec({
        ...spaces,
        rootfs, args: [c.Path, ...c.Args], env, cwd: c.Config.WorkingDir || '/', user, tty: !!c.Config.Tty,
        hostname: c.Config.Hostname, domainname: c.Config.Domainname, files, netnsPath,
        cgroupsPath: this.cgroupPath(c), readonlyRootfs: c.HostConfig.ReadonlyRootfs,
        privileged: c.HostConfig.Privileged, capAdd: c.HostConfig.CapAdd, capDrop: c.HostConfig.CapDrop,
        shmSize: c.HostConfig.ShmSize, ulimits: c.HostConfig.Ulimits, sysctls: { ...ownNetnsSysctls(c, netnsPath), ...(c.HostConfig.Sysctls ?? {}) },
        noNewPrivileges: (c.HostConfig.SecurityOpt ?? []).some((s: string) => /^no-new-privileges(:true|=true)?$/.test(s)),
        resources: resourcesOf(c.HostConfig), mounts: extraMounts,
        maskedPaths: c.HostConfig.MaskedPaths ?? undefined, readonlyPaths: c.HostConfig.ReadonlyPaths ?? undefined,
      });
      for (const h of hooks) h.adjustSpec?.(c, spec);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      pending = this.pendingAttach.get(c.Id) ?? [];
      this.pendingAttach.delete(c.Id);
      configWritten.resolve();
      started = await starting;
      runtimeDone();
    } catch (e0) {
      runtimeDone();
      configWritten.reject(e0);
      // The monitor gives up (or has failed): nothing of it is left when this settles.
      await starting?.catch(() => undefined);
      // A network that could not be configured is the cause, not the runtime's complaint about its half-made namespace.
      const e = (await configured?.then(() => undefined, (err: unknown) => err)) ?? e0;
      await bothSettled;
      if (netUp) await this.o.networking.tearDown(c).catch(() => undefined);
      if (mounted) await unmount(rootfs).catch(() => undefined);
      if (c.HostConfig.IpcMode === 'shareable') await unmount(join(dir, 'shm')).catch(() => undefined);
      for (const h of hooks) await h.afterStop?.(c).catch(() => undefined);
      const failure = translateStartError(e);
      c.State = { ...c.State, Status: c.State.StartedAt === ZERO_TIME ? 'created' : 'exited', Error: failure.error.message, ExitCode: failure.exitCode, Pid: 0 };
      this.save(c);
      for (const s of [...pending, ...(this.pendingAttach.get(c.Id) ?? [])]) s.close();
      this.pendingAttach.delete(c.Id);
      if (c.HostConfig.AutoRemove) setImmediate(() => { void this.remove(c.Id, { force: true, volumes: true }).catch(() => undefined); });
      throw failure.error;
    }
    // Running from here on: nothing below may turn it into a failed start.
    c.State = { ...c.State, Status: 'running', Pid: started.pid, MonitorPid: started.monitorPid, ExitCode: 0, Error: '', StartedAt: new Date().toISOString(), FinishedAt: c.State.FinishedAt, OOMKilled: false };
    this.save(c);
    try { if (logLimits(c.HostConfig.LogConfig).explicit) this.explicitLogLimits.add(c.Id); } catch { /* checked at create */ }
    this.o.events.emit('container', 'start', c.Id, this.attrs(c));
    for (const h of hooks) h.started?.(c);
    // The process may already have exited before we started watching.
    if (existsSync(this.o.runtime.exitFile(c.Id))) void this.onExitFile(c.Id);
  }

  /**
   * The container's cgroup below each hierarchy: its --cgroup-parent (or the daemon's) / ID. A
   * relative parent is below the daemon's own cgroup, where the runtime runs, as in Docker.
   */
  cgroupPath(c: ContainerRecord): string {
    const parent: string = c.HostConfig.CgroupParent || this.o.cgroupParent;
    return posix.join(parent.startsWith('/') ? '/' : ownCgroup(), parent, c.Id);
  }

  /**
   * --pid, --ipc and --uts: a namespace of the container's own, the host's, or that of another
   * running container (whose /dev/shm comes along for IPC, so only a "shareable" one, as in Docker).
   */
  private sharedNamespaces(c: ContainerRecord): Pick<SpecInput, 'pidNamespace' | 'ipcNamespace' | 'utsNamespace' | 'shm'> {
    const donor = (mode: string, what: string) => {
      const ref = mode.slice('container:'.length);
      const d = this.tryGet(ref);
      if (!d) throw new NotFoundError(`${what}No such container: ${ref}`);
      if (d.State.Status !== 'running' || !d.State.Pid) throw new ConflictError(`${what}container ${d.Id} is not running`);
      return d;
    };
    const out: ReturnType<ContainerService['sharedNamespaces']> = {};
    const pid: string = c.HostConfig.PidMode ?? '';
    if (pid === 'host') out.pidNamespace = 'host';
    else if (pid.startsWith('container:')) out.pidNamespace = { path: `/proc/${donor(pid, '').State.Pid}/ns/pid` };
    const ipc: string = c.HostConfig.IpcMode ?? '';
    if (ipc === 'host') { out.ipcNamespace = 'host'; out.shm = { bind: '/dev/shm' }; }
    else if (ipc === 'none') out.shm = 'none';
    else if (ipc === 'shareable') out.shm = { bind: join(this.dir(c.Id), 'shm') };
    else if (ipc.startsWith('container:')) {
      const d = donor(ipc, `can't join IPC of container ${ipc.slice('container:'.length)}: `);
      if (d.HostConfig.IpcMode !== 'shareable' && d.HostConfig.IpcMode !== 'host') {
        throw new ConflictError(`can't join IPC of container ${d.Id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
      }
      out.ipcNamespace = d.HostConfig.IpcMode === 'host' ? 'host' : { path: `/proc/${d.State.Pid}/ns/ipc` };
      out.shm = { bind: d.HostConfig.IpcMode === 'host' ? '/dev/shm' : join(this.dir(d.Id), 'shm') };
    }
    if (c.HostConfig.UTSMode === 'host') out.utsNamespace = 'host';
    return out;
  }

  // ---- exits ------------------------------------------------------------------------------

  /** Watches conmon's exit directory; each file named by a container ID holds its exit code. */
  watchExits(): void {
    const dir = this.o.runtime.cfg.exitDir;
    mkdirSync(dir, { recursive: true });
    this.exitWatcher = watch(dir, (_ev, file) => { if (file && /^[a-f0-9]{64}$/.test(String(file))) void this.onExitFile(String(file)); });
    this.rotateTimer = setInterval(() => { void this.rotateLogs(); }, 1000);
    this.rotateTimer.unref();
  }

  private async onExitFile(id: string): Promise<void> {
    const file = this.o.runtime.exitFile(id);
    let text: string;
    try { text = readFileSync(file, 'utf8').trim(); } catch { return; }
    if (text === '') return;   // written in two steps; the next event brings the code
    const c = this.table.get(id);
    if (!c || (c.State.Status !== 'running' && c.State.Status !== 'paused' && c.State.Status !== 'restarting')) return;
    await this.locked(id, async () => {
      const cur = this.table.get(id);
      if (!cur || (cur.State.Status !== 'running' && cur.State.Status !== 'paused')) return;
      await this.recordExit(cur, Number(text));
    });
  }

  private oomKilled(c: ContainerRecord): boolean {
    if (existsSync(join(this.o.runtime.bundleDir(c.Id), 'oom'))) return true;
    try {
      const t = readFileSync(`/sys/fs/cgroup/memory${this.cgroupPath(c)}/memory.oom_control`, 'utf8');
      return /oom_kill [1-9]/.test(t);
    } catch { return false; }
  }

  private async recordExit(c: ContainerRecord, code: number): Promise<void> {
    const oom = this.oomKilled(c);
    // Stopped first, then released (as Docker: `die` comes before the network's `disconnect`);
    // the mark makes a start-up after a crash finish the release.
    c.State = { ...c.State, Status: 'exited', Pid: 0, ExitCode: code, OOMKilled: oom, FinishedAt: new Date().toISOString(), MonitorPid: undefined };
    c.PendingRelease = true;
    this.save(c);
    if (oom) this.o.events.emit('container', 'oom', c.Id, this.attrs(c));
    this.o.events.emit('container', 'die', c.Id, this.attrs(c, { exitCode: String(code) }));
    await this.releaseAfterExit(c);
    for (const fn of this.stopListeners.get(c.Id) ?? []) fn();
    this.resolveWaiters(c.Id, 'next-exit', code);
    for (const h of this.o.hooks ?? []) h.exited?.(c, code);
    if (c.HostConfig.AutoRemove) {
      // Already gone when a `docker rm -f` brought this exit about: nothing to say then.
      setImmediate(() => { void this.remove(c.Id, { force: true, volumes: true }).catch((e) => { if (!(e instanceof NotFoundError)) this.o.log(`autoremove ${c.Id}: ${e.message}`); }); });
    }
  }

  /** The process is gone: the runtime's state, the network and the root filesystem are released side by side. */
  private async releaseAfterExit(c: ContainerRecord): Promise<void> {
    await Promise.all([
      this.o.runtime.release(c.Id, { cgroupsInBackground: !!c.HostConfig.AutoRemove }).catch((e) => this.o.log(`runtime release ${c.Id}: ${e.message}`)),
      this.o.networking.tearDown(c).catch((e) => this.o.log(`network teardown ${c.Id}: ${e.message}`)),
      (async () => {
        // An auto-removed container's root goes with its directory, unmounted in the background (discardDir).
        if (!c.HostConfig.AutoRemove) await unmount(join(this.dir(c.Id), 'rootfs')).catch((e) => this.o.log(`unmount ${c.Id}: ${e.message}`));
        if (c.HostConfig.IpcMode === 'shareable') await unmount(join(this.dir(c.Id), 'shm')).catch((e) => this.o.log(`unmount ${c.Id}: ${e.message}`));
        for (const h of this.o.hooks ?? []) await h.afterStop?.(c).catch((e) => this.o.log(`after stop ${c.Id}: ${e.message}`));
      })(),
    ]);
    rmSync(this.o.runtime.exitFile(c.Id), { force: true });
    const cur = this.table.get(c.Id);
    if (cur?.PendingRelease) { delete cur.PendingRelease; this.save(cur); }
    delete c.PendingRelease;
  }

  private resolveWaiters(id: string, condition: 'next-exit' | 'removed', code: number): void {
    const ws = this.waiters.get(id);
    if (!ws) return;
    const keep = ws.filter((w) => {
      if (w.condition === condition || (condition === 'removed')) { w.resolve(code); return false; }
      return true;
    });
    if (keep.length) this.waiters.set(id, keep); else this.waiters.delete(id);
  }

  /** Notified when the container stops (for log followers). */
  onStop(id: string, fn: () => void): () => void {
    let set = this.stopListeners.get(id);
    if (!set) { set = new Set(); this.stopListeners.set(id, set); }
    set.add(fn);
    return () => { set!.delete(fn); };
  }

  /** Docker's SizeRw (what the container wrote: its upper layer) and SizeRootFs (that and its image). */
  /** The image's layer directories, upper-most first (none for an image without layers). */
  private imageLayers(imageId: string): string[] {
    const chainId = this.o.images.table.get(imageId)?.chainId;
    return chainId ? this.o.images.layers.lowerDirs(chainId) : [];
  }

  async sizeOf(c: ContainerRecord): Promise<{ rw: number; rootfs: number }> {
    const upper = join(this.dir(c.Id), 'upper');
    let rw = await directorySize(upper);
    // Docker's init layer is not the container's: its stubs (the /etc/mtab link) are not counted.
    for (const p of initLayerEntries(upper, this.imageLayers(c.ImageId))) {
      try { const st = lstatSync(join(upper, p)); if (!st.isDirectory()) rw -= st.size; } catch { /* gone */ }
    }
    return { rw, rootfs: rw + (this.o.images.table.get(c.ImageId)?.size ?? 0) };
  }

  isRunning(id: string): boolean {
    const s = this.table.get(id)?.State.Status;
    return s === 'running' || s === 'paused' || s === 'restarting';
  }

  // ---- wait / stop / kill ------------------------------------------------------------------

  /**
   * Resolves when the condition is met. Not async: an unknown container or condition throws at
   * once, before a caller commits to a streamed answer. A caller that goes away aborts its
   * `signal`: its waiter is dropped (the docker CLI leaves one behind at every `run -d`; a
   * long-running container would otherwise hold them all).
   */
  wait(ref: string, condition: string, signal?: AbortSignal): Promise<{ StatusCode: number; Error: null | { Message: string } }> {
    const c = this.get(ref);
    const cond = condition || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw new InvalidParameterError(`invalid condition: "${condition}"`);
    if (cond === 'not-running' && !this.isRunning(c.Id)) return Promise.resolve({ StatusCode: c.State.ExitCode, Error: null });
    return new Promise<number>((resolve) => {
      const waiter = { condition: cond === 'removed' ? 'removed' as const : 'next-exit' as const, resolve };
      const list = this.waiters.get(c.Id) ?? [];
      list.push(waiter);
      this.waiters.set(c.Id, list);
      signal?.addEventListener('abort', () => {
        const now = this.waiters.get(c.Id);
        if (!now) return;
        const rest = now.filter((w) => w !== waiter);
        if (rest.length) this.waiters.set(c.Id, rest); else this.waiters.delete(c.Id);
      }, { once: true });
    }).then((code) => ({ StatusCode: code, Error: null }));
  }

  /** Removes one of berth's own bookkeeping labels (a build keeps a failed step's container as a user's). */
  dropLabel(ref: string, key: string): void {
    const c = this.get(ref);
    if (!c.Config.Labels || !(key in c.Config.Labels)) return;
    delete c.Config.Labels[key];
    this.save(c);
  }

  /** Waiters registered for a container (for tests of their release). */
  waiterCount(id: string): number { return this.waiters.get(id)?.length ?? 0; }

  private waitStopped(id: string, timeoutMs: number): Promise<boolean> {
    if (!this.isRunning(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = timeoutMs >= 0 ? setTimeout(() => { off(); resolve(!this.isRunning(id)); }, timeoutMs) : undefined;
      const off = this.onStop(id, () => { if (timer) clearTimeout(timer); off(); resolve(true); });
    });
  }

  /** `docker top`: ps(1) on the host, narrowed to the container's processes (as the runtime lists them). */
  async top(ref: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const c = this.get(ref);
    if (!this.isRunning(c.Id) || c.State.Status === 'restarting') throw new ConflictError(`Container ${c.Id} is not running`);
    this.o.events.emit('container', 'top', c.Id, this.attrs(c));
    const pids = new Set((JSON.parse((await this.o.runtime.run(['ps', '--format', 'json', c.Id])) || '[]') as number[]).map(String));
    const args = (psArgs || '-ef').split(/\s+/).filter(Boolean);
    let out: string;
    try { out = (await execFileAsync('ps', args, { maxBuffer: 16 << 20 })).stdout; } catch (err) {
      throw new InvalidParameterError(`Error running ps: ${String((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
    }
    const lines = out.split('\n').filter((l) => l.trim());
    const titles = lines[0].trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw new InvalidParameterError(`Couldn't find PID field in ps output`);
    const processes = lines.slice(1).map((l) => {
      const f = l.trim().split(/\s+/);
      return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    }).filter((f) => pids.has(f[pidCol]));
    return { Titles: titles, Processes: processes };
  }

  /** `docker update`: new resource limits (applied by the runtime to a running container) and restart policy. */
  async update(ref: string, body: Record<string, any>): Promise<{ Warnings: string[] }> {
    const c = this.get(ref);
    const h = { ...c.HostConfig };
    const fields = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'KernelMemory'];
    for (const f of fields) if (body[f] !== undefined && body[f] !== null && body[f] !== 0 && body[f] !== '') h[f] = body[f];
    if (body.RestartPolicy?.Name !== undefined) {
      validateRestartPolicy(body.RestartPolicy);
      if (h.AutoRemove && body.RestartPolicy.Name && body.RestartPolicy.Name !== 'no') throw new InvalidParameterError('Restart policy cannot be updated because AutoRemove is enabled for the container');
      h.RestartPolicy = { Name: body.RestartPolicy.Name, MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0 };
    }
    if (h.Memory > 0 && h.Memory < 6 * 1024 * 1024) throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
    // dockerd's rule: a new memory limit above the swap limit already set needs a new swap limit with it.
    if (body.Memory > 0 && !body.MemorySwap && body.Memory > (c.HostConfig.MemorySwap ?? 0)) {
      throw new ConflictError(`Cannot update container ${c.Id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`);
    }
    if (h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory) throw new InvalidParameterError('Minimum memoryswap limit should be larger than memory limit, see usage');
    if (this.isRunning(c.Id) && c.State.Status !== 'restarting') {
      const a: string[] = [];
      if (body.Memory) { a.push('--memory', String(h.Memory)); if (!body.MemorySwap && !(c.HostConfig.MemorySwap > 0)) a.push('--memory-swap', String(h.Memory * 2)); }
      if (body.MemorySwap) a.push('--memory-swap', String(h.MemorySwap));
      if (body.MemoryReservation) a.push('--memory-reservation', String(h.MemoryReservation));
      if (body.NanoCpus) a.push('--cpu-period', '100000', '--cpu-quota', String(Math.round(h.NanoCpus / 1e9 * 100000)));
      if (body.CpuQuota) a.push('--cpu-quota', String(h.CpuQuota));
      if (body.CpuPeriod) a.push('--cpu-period', String(h.CpuPeriod));
      if (body.CpuShares) a.push('--cpu-share', String(h.CpuShares));
      if (body.CpusetCpus) a.push('--cpuset-cpus', String(h.CpusetCpus));
      if (body.CpusetMems) a.push('--cpuset-mems', String(h.CpusetMems));
      if (body.PidsLimit) a.push('--pids-limit', String(h.PidsLimit));
      if (body.BlkioWeight) a.push('--blkio-weight', String(h.BlkioWeight));
      if (a.length) {
        try { await this.o.runtime.run(['update', ...a, c.Id]); } catch (err) { throw new InvalidParameterError(`Cannot update container ${c.Id}: ${(err as Error).message}`); }
      }
    }
    const cur = this.get(c.Id);
    cur.HostConfig = h;
    this.save(cur);
    this.o.events.emit('container', 'update', c.Id, this.attrs(c));
    return { Warnings: [] };
  }

  async pause(ref: string): Promise<void> {
    const c = this.get(ref);
    if (!this.isRunning(c.Id) || c.State.Status === 'restarting') throw new ConflictError(`Container ${c.Id} is not running`);
    if (c.State.Status === 'paused') throw new ConflictError(`Container ${c.Id} is already paused`);
    await this.o.runtime.pause(c.Id);
    this.setStatus(c.Id, 'paused');
    this.o.events.emit('container', 'pause', c.Id, this.attrs(c));
  }

  async unpause(ref: string): Promise<void> {
    const c = this.get(ref);
    if (c.State.Status !== 'paused') throw new ConflictError(`Container ${c.Id} is not paused`);
    await this.o.runtime.resume(c.Id);
    this.setStatus(c.Id, 'running');
    this.o.events.emit('container', 'unpause', c.Id, this.attrs(c));
  }

  private setStatus(id: string, status: 'paused' | 'running'): void {
    const cur = this.get(id);
    cur.State = { ...cur.State, Status: status };
    this.table.put(cur.Id, cur);
  }

  async kill(ref: string, signal?: string | null): Promise<void> {
    const c = this.get(ref);
    const sig = normaliseSignal(signal || 'SIGKILL');   // a bad signal is the first thing wrong, as in dockerd
    if (!this.isRunning(c.Id)) throw new ConflictError(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
    c.ManuallyStopped = true; this.save(c);
    for (const h of this.o.hooks ?? []) h.stopping?.(c);
    await this.o.runtime.kill(c.Id, sig).catch((e) => { if (this.isRunning(c.Id)) throw e; });
    this.o.events.emit('container', 'kill', c.Id, this.attrs(c, { signal: sigNumber(sig) }));
  }

  async stop(ref: string, opts: { signal?: string | null; timeout?: number }): Promise<void> {
    const c0 = this.get(ref);
    if (!this.isRunning(c0.Id)) throw new NotModifiedError('container already stopped');
    c0.ManuallyStopped = true; this.save(c0);
    for (const h of this.o.hooks ?? []) h.stopping?.(c0);
    // A start under way (a restart policy's) finishes first; then this stop applies to what it started.
    await this.locked(c0.Id, async () => undefined);
    const c = this.get(c0.Id);
    if (!c.ManuallyStopped) { c.ManuallyStopped = true; this.save(c); }
    if (!this.isRunning(c.Id)) { this.o.events.emit('container', 'stop', c.Id, this.attrs(c)); return; }
    const sig = normaliseSignal(opts.signal || c.Config.StopSignal || 'SIGTERM');
    const timeout = opts.timeout ?? c.Config.StopTimeout ?? 10;
    if (c.State.Status === 'paused') await this.o.runtime.resume(c.Id).catch(() => undefined);
    await this.o.runtime.kill(c.Id, sig).catch(() => undefined);
    this.o.events.emit('container', 'kill', c.Id, this.attrs(c, { signal: sigNumber(sig) }));
    if (!(await this.waitStopped(c.Id, timeout < 0 ? -1 : timeout * 1000))) {
      await this.o.runtime.kill(c.Id, 'KILL', true).catch(() => undefined);
      this.o.events.emit('container', 'kill', c.Id, this.attrs(c, { signal: '9' }));
      await this.waitStopped(c.Id, 30_000);
    }
    this.o.events.emit('container', 'stop', c.Id, this.attrs(c));
  }

  async restart(ref: string, opts: { signal?: string | null; timeout?: number }): Promise<void> {
    const c = this.get(ref);
    if (this.isRunning(c.Id)) await this.stop(c.Id, opts);
    await this.start(c.Id);
    this.o.events.emit('container', 'restart', c.Id, this.attrs(c));
  }

  // ---- remove / rename / resize ------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.get(ref);
    if (this.isRunning(c.Id) || c.State.Status === 'restarting') for (const h of this.o.hooks ?? []) if (opts.force) h.stopping?.(c);
    if (this.isRunning(c.Id)) {
      if (!opts.force) throw new ConflictError(`cannot remove container "/${c.Name}": container is running: stop the container before removing or force remove`);
      await this.o.runtime.kill(c.Id, 'KILL', true).catch(() => undefined);
      if (!(await this.waitStopped(c.Id, 15_000))) {
        // The monitor is gone or stuck: record the kill ourselves.
        await this.locked(c.Id, async () => { const cur = this.table.get(c.Id); if (cur && this.isRunning(cur.Id)) await this.recordExit(cur, 137); });
      }
    }
    await this.locked(c.Id, async () => {
      const cur = this.table.get(c.Id);
      if (!cur) return;
      // An exited container was released when it exited; only what is left is cleaned up here.
      if (this.o.runtime.hasState(c.Id)) await this.o.runtime.release(c.Id).catch(() => undefined);
      // Released at exit; what is left is a start a daemon crash cut short (its namespace was made,
      // the container never ran): without this it would stay, and keep this daemon's bridge and chains.
      await this.o.networking.tearDown(cur).catch((e) => this.o.log(`network teardown ${c.Id}: ${e.message}`));
      await this.discardDir(c.Id);
      this.table.delete(c.Id);
      for (const h of this.o.hooks ?? []) await h.removed?.(cur, opts.volumes).catch((e) => this.o.log(`remove ${c.Id}: ${e.message}`));
      this.o.events.emit('container', 'destroy', c.Id, this.attrs(cur));
      this.resolveWaiters(c.Id, 'removed', cur.State.ExitCode);
      for (const s of this.pendingAttach.get(c.Id) ?? []) s.close();
      this.pendingAttach.delete(c.Id);
    });
  }

  rename(ref: string, newName: string): void {
    const c = this.get(ref);
    const name = validateName(newName);
    if (name === c.Name) throw new InvalidParameterError(`Renaming a container with the same name as its current name`);
    const other = this.table.idOfName(name);
    if (other) throw new ConflictError(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
    const old = c.Name;
    c.Name = name;
    this.save(c);
    this.o.events.emit('container', 'rename', c.Id, this.attrs(c, { oldName: '/' + old }));
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const c = this.get(ref);
    if (!this.isRunning(c.Id)) throw new ConflictError(`Container ${c.Id} is not running`);
    if (!c.Config.Tty) return;
    await this.o.runtime.resize(this.o.runtime.bundleDir(c.Id), h, w);
  }

  // ---- the read/write layer (moving containers between daemons) -------------------------------

  /** The container's changes as a Docker layer tar (whiteouts included). It must not be running. */
  exportRwLayer(ref: string): NodeJS.ReadableStream {
    const c = this.get(ref);
    if (this.isRunning(c.Id)) throw new ConflictError(`container ${c.Id} is running: stop it before exporting its read/write layer`);
    return this.rwLayer(c.Id).tar();   // the target container has its own init-layer stubs
  }

  /**
   * What the container wrote, as a layer tar (commit, build steps, moves): its read/write layer less
   * the mount-point stubs Docker keeps in its init layer. `empty` when that leaves nothing.
   */
  rwLayer(ref: string): { empty: boolean; tar(): NodeJS.ReadableStream } {
    const c = this.get(ref);
    const upper = join(this.dir(c.Id), 'upper');
    const keep = withoutInitLayer(upper, this.imageLayers(c.ImageId));
    let names: string[] = [];
    try { names = readdirSync(upper); } catch { /* nothing written */ }
    return { empty: !names.some((n) => keep(n)), tar: () => diffTar(upper, { filter: keep }) };
  }

  /** Applies a layer tar to a container that has never started (its upper dir is still empty). */
  async importRwLayer(ref: string, tar: NodeJS.ReadableStream): Promise<void> {
    const c = this.get(ref);
    if (c.State.Status !== 'created' || c.State.StartedAt !== ZERO_TIME) throw new ConflictError(`container ${c.Id} has already run: a read/write layer can only be applied to a new container`);
    await this.locked(c.Id, async () => {
      try { await unpackTar(tar, join(this.dir(c.Id), 'upper')); } catch (e) {
        throw new InvalidParameterError(`invalid layer archive: ${(e as Error).message}`);
      }
    });
  }

  // ---- networks ----------------------------------------------------------------------------

  async connectNetwork(ref: string, network: string, cfg: Record<string, any>): Promise<void> {
    const c0 = this.get(ref);
    await this.locked(c0.Id, async () => {
      const c = this.get(c0.Id);
      const name = this.o.networking.networkName?.(network) ?? network;
      const mode = c.HostConfig.NetworkMode ?? 'bridge';
      if (mode === 'none') throw new InvalidParameterError('container cannot be connected to multiple networks with one of the networks in private (none) mode');
      if (mode === 'host' || mode.startsWith('container:')) throw new InvalidParameterError('container sharing network namespace with another container or host cannot be connected to any other network');
      const eps = { ...(c.NetworkingConfig?.EndpointsConfig ?? {}) };
      const primary = mode === 'default' ? 'bridge' : mode;
      // A created container may be re-joined to its primary network with new aliases (docker-compose 1.29 does this).
      if ((this.isRunning(c.Id) && c.NetworkSettings?.Networks?.[name]) || (!this.isRunning(c.Id) && eps[name] && name !== primary)) {
        throw new ConflictError(`endpoint with name ${c.Name} already exists in network ${name}`);
      }
      if (this.isRunning(c.Id) && this.o.networking.connect) c.NetworkSettings = await this.o.networking.connect(c, name, cfg);
      eps[name] = cfg;
      c.NetworkingConfig = { ...(c.NetworkingConfig ?? {}), EndpointsConfig: eps };
      if (!this.isRunning(c.Id)) c.NetworkSettings = { ...(c.NetworkSettings ?? {}), Networks: this.o.networking.planned?.(c) ?? {} };
      this.save(c);
    });
  }

  async disconnectNetwork(ref: string, network: string, force: boolean): Promise<void> {
    const c0 = this.get(ref);
    await this.locked(c0.Id, async () => {
      const c = this.get(c0.Id);
      const name = this.o.networking.networkName?.(network) ?? network;
      const eps = { ...(c.NetworkingConfig?.EndpointsConfig ?? {}) };
      const attached = this.isRunning(c.Id) ? !!c.NetworkSettings?.Networks?.[name] : (!!eps[name] || (c.HostConfig.NetworkMode ?? 'bridge') === name);
      if (!attached && !force) throw new InvalidParameterError(`container ${c.Id} is not connected to network ${name}`);
      if (this.isRunning(c.Id) && this.o.networking.disconnect) c.NetworkSettings = await this.o.networking.disconnect(c, name, force);
      delete eps[name];
      // A running container leaving its primary network moves to another one; a created one keeps its
      // mode, so connecting it again (with aliases) restores it.
      if (this.isRunning(c.Id) && (c.HostConfig.NetworkMode ?? 'bridge') === name) c.HostConfig.NetworkMode = Object.keys(eps)[0] ?? 'none';
      c.NetworkingConfig = { ...(c.NetworkingConfig ?? {}), EndpointsConfig: eps };
      if (!this.isRunning(c.Id)) {
        const planned = this.o.networking.planned?.(c) ?? {};
        delete planned[name];
        c.NetworkSettings = { ...(c.NetworkSettings ?? {}), Networks: planned };
      }
      this.save(c);
    });
  }

  // ---- attach --------------------------------------------------------------------------------

  /** Joins a client to the container's stdio now if running, or when it next starts. */
  async attach(ref: string, client: AttachClient, stdin: boolean): Promise<AttachSession> {
    const c = this.get(ref);
    const session = new AttachSession(client, stdin && !!c.Config.OpenStdin, !!c.Config.StdinOnce);
    if (this.isRunning(c.Id)) {
      await session.connect(this.o.runtime.attachSocketPath(c.Id)).catch((e) => { session.close(); throw new SystemError(`attach failed: ${e.message}`); });
    } else {
      const list = this.pendingAttach.get(c.Id) ?? [];
      list.push(session);
      this.pendingAttach.set(c.Id, list);
      session.onDone(() => {
        const l = this.pendingAttach.get(c.Id);
        if (l) this.pendingAttach.set(c.Id, l.filter((s) => s !== session));
      });
    }
    this.o.events.emit('container', 'attach', c.Id, this.attrs(c));
    return session;
  }

  // ---- daemon start / stop -------------------------------------------------------------------

  /**
   * A removed container's directory is renamed away at once (a root still mounted inside moves with it) and is
   * unmounted and deleted in the background; leftovers are swept at start-up. Nothing is deleted through a mount.
   */
  private async discardDir(id: string): Promise<void> {
    void fsp.rm(this.o.runtime.bundleDir(id), { recursive: true, force: true }).catch((e) => this.o.log(`removing the bundle of ${id}: ${e.message}`));
    const trash = join(this.o.dataRoot, 'containers', `.removed-${id}`);
    try { renameSync(this.dir(id), trash); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await this.deleteContainerDir(this.dir(id));
      return;
    }
    void this.deleteContainerDir(trash);
  }

  private async deleteContainerDir(dir: string): Promise<void> {
    try {
      const mounted = mountPoints();
      for (const m of ['rootfs', 'shm']) if (mounted.has(join(dir, m))) await unmount(join(dir, m));
      await fsp.rm(dir, { recursive: true, force: true });
    } catch (e) { this.o.log(`removing ${dir}: ${(e as Error).message}`); }
  }

  /** After a daemon (re)start: adopt live containers, record exits that happened while down. */
  async restore(): Promise<void> {
    const root = join(this.o.dataRoot, 'containers');
    for (const f of existsSync(root) ? readdirSync(root) : []) if (f.startsWith('.removed-')) await this.deleteContainerDir(join(root, f));
    this.spareDirs.sweep();
    void this.spareDirs.refill();
    // Bundles of containers removed while their files could not be (or from another daemon's life on this exec root).
    const bundles = this.o.runtime.cfg.bundleRoot;
    const known = new Set(this.table.ids());
    for (const f of existsSync(bundles) ? readdirSync(bundles) : []) if (!known.has(f)) rmSync(join(bundles, f), { recursive: true, force: true });
    const mounted = mountPoints();
    for (const c of this.table.all()) {
      if (c.State.Status !== 'running' && c.State.Status !== 'paused' && c.State.Status !== 'restarting') {
        const cutShort = !c.PendingRelease && this.startCutShort(c, mounted);
        if (c.PendingRelease || cutShort) await this.locked(c.Id, () => this.releaseAfterExit(c));
        if (cutShort) this.o.log(`container ${c.Id}: its start was cut short by a daemon stop; released what it had made`);
        if (c.State.Status === 'removing' || (cutShort && c.HostConfig.AutoRemove)) { await this.remove(c.Id, { force: true, volumes: c.State.Status !== 'removing' }).catch(() => undefined); }
        continue;
      }
      const exitFile = this.o.runtime.exitFile(c.Id);
      if (existsSync(exitFile)) { await this.onExitFile(c.Id); continue; }
      if (!isMonitorOf(c.State.MonitorPid, c.Id)) {
        await this.locked(c.Id, () => this.recordExit(c, 255));
        continue;
      }
      // Still running: the exit watcher will see its exit.
    }
  }

  /**
   * A start a daemon crash cut short: the container was never recorded as running, yet the
   * runtime's state (a created or even started container), its root mount or its network are there.
   */
  private startCutShort(c: ContainerRecord, mounted: Set<string>): boolean {
    return this.o.runtime.hasState(c.Id) || mounted.has(join(this.dir(c.Id), 'rootfs')) || mounted.has(join(this.dir(c.Id), 'shm')) || !!this.o.networking.hasSandbox?.(c.Id);
  }

  /** Graceful shutdown: stop running containers as dockerd does, unless live-restore. */
  async shutdown(liveRestore: boolean): Promise<void> {
    this.exitWatcher?.close();
    if (this.rotateTimer) clearInterval(this.rotateTimer);
    if (liveRestore) return;
    const running = this.table.all().filter((c) => this.isRunning(c.Id));
    // Keep watching exits while stopping.
    this.watchExits();
    // A daemon shutdown is not a manual stop: restart policies apply again at the next start.
    await Promise.all(running.map(async (c) => {
      await this.stop(c.Id, {}).catch((e) => this.o.log(`stop ${c.Id}: ${e.message}`));
      const cur = this.table.get(c.Id);
      if (cur) { cur.ManuallyStopped = !!c.ManuallyStopped; this.save(cur); }
    }));
    this.exitWatcher?.close();
    if (this.rotateTimer) clearInterval(this.rotateTimer);
  }

  /**
   * Rotates logs that reached their max-size (rotateLogFile: rename, conmon reopens, max-file files
   * kept). Containers with an explicit max-size are checked every second, the others every ten.
   */
  private async rotateLogs(): Promise<void> {
    if (this.rotating) return;
    this.rotating = true;
    const tick = this.rotateTicks++;
    try {
      // Every tenth tick all running containers; in between only those with their own max-size
      // (remembered from the last full pass), so an idle daemon does not read every record each second.
      const candidates = tick % 10 === 0 ? this.table.all() : [...this.explicitLogLimits].map((id) => this.table.get(id)).filter((c): c is ContainerRecord => !!c);
      if (tick % 10 === 0) this.explicitLogLimits.clear();
      for (const c of candidates) {
        if (!this.isRunning(c.Id)) continue;
        let limits;
        try { limits = logLimits(c.HostConfig.LogConfig); } catch { continue; }
        if (limits.explicit) this.explicitLogLimits.add(c.Id);
        else if (tick % 10 !== 0) continue;
        await rotateLogFile(this.logPath(c.Id), limits, () => this.o.runtime.reopenLog(this.o.runtime.bundleDir(c.Id)))
          .catch((e) => this.o.log(`rotating the log of ${c.Id}: ${(e as Error).message}`));
      }
    } finally { this.rotating = false; }
  }
}

/**
 * conmon's own cap on the log (--log-size-max): past it conmon starts the file afresh, dropping
 * what it holds, and it counts from its start, not from the daemon's rotations. It only bounds a
 * file that outgrows the daemon's checks, so it stays well above max-size (4×, at least 8 MiB).
 */
function monitorLogCap(c: ContainerRecord): number {
  if (c.HostConfig.LogConfig?.Type === 'none') return 64 * 1024;   // the monitor still writes a log: kept tiny, never read
  let maxSize;
  try { maxSize = logLimits(c.HostConfig.LogConfig).maxSize; } catch { maxSize = logLimits(undefined).maxSize; }
  return Math.max(4 * maxSize, 8 * 1024 * 1024);
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

export function normaliseSignal(s: string | number): string {
  const str = String(s).trim().toUpperCase();
  if (/^\d+$/.test(str)) {
    const n = Number(str);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (n === 0) throw new InvalidParameterError(`Invalid signal: ${s}`);
    if (!name && !(n >= 34 && n <= 64)) throw new InvalidParameterError(`The linux daemon does not support signal ${n}`);
    return name ?? str;
  }
  const name = str.startsWith('SIG') ? str : 'SIG' + str;
  if (!(name in SIGNALS) && !/^SIGRTM(IN|AX)([+-]\d+)?$/.test(name)) throw new InvalidParameterError(`Invalid signal: ${s}`);
  return name;
}

function sigNumber(sig: string): string { return String(SIGNALS[sig] ?? sig); }

/**
 * The process environment, as dockerd makes it: PATH, HOSTNAME (and TERM with a TTY) first, each
 * replaced by the container's own value, then the container's variables, and HOME from the user when
 * unset. A bare NAME (`-e NAME` with NAME unset where the client ran) sets nothing.
 */
function processEnv(c: ContainerRecord, home: string): string[] {
  const env = new Map<string, string>([['PATH', DEFAULT_PATH], ['HOSTNAME', `HOSTNAME=${c.Config.Hostname}`]]);
  if (c.Config.Tty) env.set('TERM', 'TERM=xterm');
  for (const e of (c.Config.Env ?? []) as string[]) { const i = e.indexOf('='); if (i > 0) env.set(e.slice(0, i), e); }
  if (!env.has('HOME')) env.set('HOME', `HOME=${home}`);
  return [...env.values()];
}

/** Image config + request config, as Docker merges them at create. */
export function mergeConfig(image: Record<string, any>, req: Record<string, any>, id: string): Record<string, any> {
  const env = new Map<string, string>();
  for (const e of [...(image.Env ?? []), ...(req.Env ?? [])] as string[]) {
    if (typeof e !== 'string') throw new InvalidParameterError('invalid environment variable');
    const i = e.indexOf('=');
    env.set(i < 0 ? e : e.slice(0, i), e);
  }
  let entrypoint = req.Entrypoint ?? null;
  if (typeof entrypoint === 'string') entrypoint = [entrypoint];
  let cmd = req.Cmd ?? null;
  if (typeof cmd === 'string') cmd = [cmd];
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  if (!entrypoint) {
    entrypoint = image.Entrypoint ?? null;
    if (!cmd || cmd.length === 0) cmd = image.Cmd ?? null;
  }
  const labels = { ...(image.Labels ?? {}), ...(req.Labels ?? {}) };
  return {
    Hostname: req.Hostname || id.slice(0, 12),
    Domainname: req.Domainname ?? '',
    User: req.User || image.User || '',
    AttachStdin: !!req.AttachStdin, AttachStdout: req.AttachStdout ?? false, AttachStderr: req.AttachStderr ?? false,
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) },
    Tty: !!req.Tty, OpenStdin: !!req.OpenStdin, StdinOnce: !!req.StdinOnce,
    Env: env.size ? [...env.values()] : null,   // PATH is the process's (at start), not the config's, as in dockerd
    Cmd: cmd && cmd.length ? cmd : null,
    Healthcheck: mergeHealthcheck(req.Healthcheck, image.Healthcheck),
    Image: req.Image,
    Volumes: { ...(image.Volumes ?? {}), ...(req.Volumes ?? {}) },
    WorkingDir: req.WorkingDir || image.WorkingDir || '',
    Entrypoint: entrypoint && entrypoint.length ? entrypoint : null,
    OnBuild: null,
    Labels: labels,
    StopSignal: req.StopSignal ?? image.StopSignal,
    StopTimeout: req.StopTimeout,
  };
}

/**
 * `--platform` at create: the image must be of that platform (else dockerd says it was not found, and
 * the docker CLI goes to pull it).
 */
function checkPlatform(ref: string, want: string, image: { os?: string; architecture?: string; variant?: string }): void {
  const norm = (a: string) => ({ x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64' } as Record<string, string>)[a] ?? a;
  const [os, arch, variant] = want.toLowerCase().split('/');
  const have = { os: image.os || HOST_OS, arch: norm(image.architecture || HOST_ARCH), variant: image.variant ?? '' };
  if ((os && os !== have.os) || (arch && norm(arch) !== have.arch) || (variant && variant !== have.variant)) {
    const actual = [have.os, have.arch, have.variant].filter(Boolean).join('/');
    throw new NotFoundError(`image with reference ${ref} was found but does not match the specified platform: wanted ${want}, actual: ${actual}`);
  }
}

/** dockerd's checks of a restart policy, at create and update. */
function validateRestartPolicy(p: { Name?: string; MaximumRetryCount?: number } | undefined): void {
  if (!p) return;
  const name = p.Name ?? '';
  if (!['', 'no', 'always', 'on-failure', 'unless-stopped'].includes(name)) throw new InvalidParameterError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  const count = p.MaximumRetryCount ?? 0;
  if (count !== 0 && name !== 'on-failure') throw new InvalidParameterError("invalid restart policy: maximum retry count can only be used with 'on-failure'");
  if (count < 0) throw new InvalidParameterError('invalid restart policy: maximum retry count cannot be negative');
}

function validateHostConfig(h: Record<string, any>): void {
  if (h.Memory !== undefined && h.Memory !== 0 && h.Memory < 6 * 1024 * 1024) throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
  if (h.NanoCpus && h.NanoCpus < 0) throw new InvalidParameterError('Range of CPUs is from 0.01 to the number of CPUs available');
  validateRestartPolicy(h.RestartPolicy);
  const rp = h.RestartPolicy?.Name;
  if (h.AutoRemove && rp && rp !== 'no' && rp !== '') throw new InvalidParameterError("can't create 'AutoRemove' container with restart policy");
  const joins = (m: unknown) => typeof m === 'string' && /^container:.+/.test(m);
  if (h.IpcMode !== undefined && !(['', 'none', 'private', 'shareable', 'host'].includes(h.IpcMode) || joins(h.IpcMode))) throw new InvalidParameterError(`invalid IPC mode: ${h.IpcMode}`);
  if (h.PidMode !== undefined && !(['', 'host'].includes(h.PidMode) || joins(h.PidMode))) throw new InvalidParameterError(`invalid PID mode: ${h.PidMode}`);
  if (h.UTSMode !== undefined && !['', 'host'].includes(h.UTSMode)) throw new InvalidParameterError(`invalid UTS mode: ${h.UTSMode}`);
  // No user-namespace remapping and no per-container quota on this storage, as dockerd without them.
  if (h.UsernsMode !== undefined && !['', 'host'].includes(h.UsernsMode)) throw new InvalidParameterError(`invalid USER mode: ${h.UsernsMode}`);
  if (h.StorageOpt && Object.keys(h.StorageOpt).length) throw new InvalidParameterError("--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
  if (h.Isolation && h.Isolation !== 'default') throw new InvalidParameterError(`Invalid isolation: "${h.Isolation}" - linux only supports 'default'`);
}

const IPV6_CONFIGURABLE = existsSync('/proc/sys/net/ipv6/conf/all/disable_ipv6');

/**
 * dockerd's sysctls for a network namespace of the container's own (a --sysctl of the container's
 * own wins): any user may bind ports below 1024 and open ICMP echo sockets (Docker 20.10 on);
 * and IPv6 off, as dockerd has it for networks without IPv6 (berth's have none): no ::1, no
 * link-local address by which containers could reach each other past the IPv4 rules (--icc=false).
 */
function ownNetnsSysctls(c: ContainerRecord, netnsPath: string | null | 'host'): Record<string, string> {
  if (!netnsPath || netnsPath === 'host' || String(c.HostConfig.NetworkMode).startsWith('container:')) return {};
  return {
    'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647',
    ...(IPV6_CONFIGURABLE ? { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' } : {}),
  };
}

/** A promise with its resolve and reject at hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void; let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** This process's cgroup (v1 memory hierarchy, or the unified one). */
function ownCgroup(): string {
  const groups = ownCgroups();
  return (groups.find((g) => g.ctl.split(',').includes('memory')) ?? groups.find((g) => g.ctl === ''))?.path ?? '/';
}

/** A shareable container's /dev/shm: a tmpfs on the host, as dockerd makes it, so that containers joining its IPC namespace bind the same one. */
async function mountShm(target: string, size: number | undefined): Promise<void> {
  mkdirSync(target, { recursive: true });
  if (isMounted(target)) return;
  await mount({ source: 'shm', target, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: `mode=1777,size=${size && size > 0 ? size : 64 * 1024 * 1024}` })
    .catch((e: Error) => { throw new SystemError(`mounting /dev/shm for the container failed: ${e.message}`); });
}

/** HostConfig resources → OCI linux.resources (cgroup v1 here). */
function resourcesOf(h: Record<string, any>): Record<string, unknown> {
  const r: Record<string, any> = {};
  const mem: Record<string, number> = {};
  if (h.Memory > 0) mem.limit = h.Memory;
  if (h.MemoryReservation > 0) mem.reservation = h.MemoryReservation;
  if (h.MemorySwap !== undefined && h.MemorySwap !== 0) mem.swap = h.MemorySwap;
  else if (h.Memory > 0) mem.swap = h.Memory * 2;
  if (Object.keys(mem).length) r.memory = mem;
  if (h.OomKillDisable) r.memory = { ...(r.memory ?? {}), disableOOMKiller: true };
  const cpu: Record<string, any> = {};
  if (h.NanoCpus > 0) { cpu.period = 100000; cpu.quota = Math.round(h.NanoCpus / 1e9 * 100000); }
  if (h.CpuShares > 0) cpu.shares = h.CpuShares;
  if (h.CpuQuota > 0) cpu.quota = h.CpuQuota;
  if (h.CpuPeriod > 0) cpu.period = h.CpuPeriod;
  if (h.CpusetCpus) cpu.cpus = h.CpusetCpus;
  if (h.CpusetMems) cpu.mems = h.CpusetMems;
  if (h.CpuRealtimePeriod > 0) cpu.realtimePeriod = h.CpuRealtimePeriod;
  if (h.CpuRealtimeRuntime > 0) cpu.realtimeRuntime = h.CpuRealtimeRuntime;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (h.PidsLimit > 0) r.pids = { limit: h.PidsLimit };
  return r;
}

/**
 * A failed start as dockerd reports it: a command that is missing (127) or cannot be run (126), or a
 * mount of a file onto a directory, is the container's configuration (400, and that exit code in its
 * state); anything else is the daemon's (500, exit code 128).
 */
function translateStartError(e: unknown): { error: Error; exitCode: number } {
  const msg = (e as Error)?.message ?? String(e);
  if ((e as any)?.status && (e as any).status < 500) return { error: e as Error, exitCode: 128 };
  const runc = (detail: string) => `failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: ${detail}: unknown`;
  const exec = () => runc(`unable to start container process: ${msg.replace(/^.*?(exec: )/, '$1')}`);
  if (/exec/.test(msg) && /executable file not found|no such file or directory/.test(msg)) return { error: new InvalidParameterError(exec()), exitCode: 127 };
  if (/exec/.test(msg) && /permission denied/.test(msg)) return { error: new InvalidParameterError(exec()), exitCode: 126 };
  if (/not a directory/i.test(msg)) {
    return { error: new InvalidParameterError(`${msg}: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type`), exitCode: 127 };
  }
  if (e instanceof RuntimeCreateError) return { error: new SystemError(runc(msg)), exitCode: 128 };
  return { error: new SystemError(msg), exitCode: 128 };
}
