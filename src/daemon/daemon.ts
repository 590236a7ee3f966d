/**
 * berthd: assembles the engine's services on a data root and serves the Engine API
 * on its listeners. Several daemons with their own roots and sockets run side by side.
 */
import { execFile } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, readdirSync, rmdirSync, statfsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { createApiServer, engineRouter, networkRoutes, type Engine, type ToolVersion } from '../api/index.js';
import { DistributionService } from '../distribution/index.js';
import { ContainerService, type ContainerHooks } from '../container/index.js';
import { ExecService } from '../container/exec.js';
import { RestartManager } from '../container/restart.js';
import { HealthMonitor } from '../container/health.js';
import { ContainerMounts, VolumeService } from '../volume/index.js';
import { EventBus } from '../events/index.js';
import { ContentStore, ImageArchive, ImageStore } from '../image/index.js';
import { LayerStore } from '../layer/index.js';
import { specHardening } from '../runtime/seccomp-hardening.js';
import { probeKernelX32 } from '../runtime/seccomp.js';
import { diskUsage } from './disk-usage.js';
import { ConmonRuntime, findBinary, monitorBinary } from '../runtime/index.js';
import { openDatabase, type Db } from '../store/index.js';
import { NetworkService } from '../network/index.js';
import { EngineNetworking } from './networking.js';
import { mount, umount, MNT_DETACH, MS_NODEV, MS_NOSUID } from '../hostops/index.js';
import { createHash } from 'node:crypto';
import type { DaemonOptions } from './options.js';
import { startMemoryTrimmer } from './memory-trim.js';

export const VERSION = '0.1.0';

export class Daemon {
  private servers: http.Server[] = [];
  private db?: Db;
  private networks?: NetworkService;
  private distribution?: DistributionService;
  engine?: Engine;
  private restarts?: RestartManager;
  private health?: HealthMonitor;
  private stopTrimmer?: () => void;
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: DaemonOptions) {
    this.log = (msg) => { if (opts.logLevel !== 'error') process.stderr.write(`${new Date().toISOString()} berthd: ${msg}\n`); };
  }

  async start(): Promise<void> {
    const { dataRoot, execRoot } = this.opts;
    for (const h of this.opts.hosts) this.listenerPlan(h);
    mkdirSync(execRoot, { recursive: true, mode: 0o711 });
    await execRootOnTmpfs(execRoot, this.log);
    for (const d of [dataRoot, join(dataRoot, 'containers'), join(dataRoot, 'tmp'), join(execRoot, 'exits'), join(execRoot, 'sockets'), join(execRoot, 'runtime'), join(execRoot, 'bundles')]) mkdirSync(d, { recursive: true, mode: 0o711 });
    this.lockPidfile();
    const conmon = findBinary('conmon');
    const runtimePath = runtimeBinary(this.opts.runtime, execRoot);
    let versions: Promise<{ runtime: ToolVersion; init: ToolVersion | undefined }> | undefined;
    if (!conmon) throw new Error('conmon not found: install it (apt-get install conmon)');
    if (!runtimePath) throw new Error(`${this.opts.runtime} not found: install it (apt-get install ${this.opts.runtime})`);

    this.db = openDatabase(join(dataRoot, 'berth.db'));
    this.stopTrimmer = startMemoryTrimmer();
    const events = new EventBus();
    const content = new ContentStore(join(dataRoot, 'content'));
    content.sweep();
    const layers = new LayerStore(join(dataRoot, 'layers'), this.db);
    await layers.sweep();
    const images = new ImageStore(this.db, content, layers, events);
    const archive = new ImageArchive(images, join(dataRoot, 'tmp'));
    void probeKernelX32();   // in the background: it only trims the seccomp filter
    const runtime = new ConmonRuntime({
      name: this.opts.runtime, path: runtimePath, stateRoot: join(execRoot, 'runtime'), bundleRoot: join(execRoot, 'bundles'),
      exitDir: join(execRoot, 'exits'), socketDir: join(execRoot, 'sockets'), conmonPath: conmon, monitorPath: monitorBinary(conmon),
    });
    await runtime.keepSealedCopy();
    const networks = new NetworkService({
      db: this.db, execRoot, bridgeName: this.opts.bridge ?? 'berth0', bip: this.opts.bip,
      defaultAddressPools: this.opts.defaultAddressPools,
      instanceId: createHash('sha256').update(execRoot).digest('hex').slice(0, 6), log: this.log,
      onEvent: (action, n, containerId) => events.emit('network', action, n.Id, { ...(containerId ? { container: containerId } : {}), name: n.Name, type: n.Driver }),
    });
    await networks.init();
    this.networks = networks;
    let containerLookup: (ref: string) => { Id: string; Name: string } | undefined = () => undefined;
    const volumes = new VolumeService(this.db, join(dataRoot, 'volumes'), events);
    let containersRef: ContainerService | undefined;
    const mounts = new ContainerMounts(volumes, this.db, {
      get: (ref) => containersRef!.get(ref), all: () => containersRef?.list() ?? [], isRunning: (id) => !!containersRef?.isRunning(id),
    });
    const restarts = new RestartManager(this.log);
    const health = new HealthMonitor(events, this.log);
    this.health = health;
    this.restarts = restarts;
    const hooks: ContainerHooks[] = [mounts, specHardening(), restarts, health];
    const containers = new ContainerService({
      hooks,
      db: this.db, dataRoot, images, runtime, events, networking: new EngineNetworking(networks, (ref) => containerLookup(ref), { resolvConfPath: (id): string => join(dataRoot, 'containers', id, 'resolv.conf') }),
      cgroupParent: this.opts.cgroupParent, log: this.log,
    });
    containerLookup = (ref) => containers.tryGet(ref);
    containersRef = containers;
    restarts.attach(containers);
    const execs = new ExecService({ containers, runtime, events, log: this.log });
    hooks.push({ removed: async (c) => execs.forgetContainer(c.Id) });
    health.attach(containers, execs);
    containers.watchExits();
    await containers.restore();
    health.resume();
    this.distribution = new DistributionService({ images, events, dataRoot, insecureRegistries: this.opts.insecureRegistries });
    this.engine = {
      info: {
        id: this.engineId(), name: os.hostname(), dataRoot, execRoot, runtime: this.opts.runtime, startedAt: Date.now(), version: VERSION,
        cgroupVersion: existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1', componentVersions: () => (versions ??= (async () => {
          const init = findBinary('tini-static') ?? findBinary('tini');
          const [runtime, initVersion] = await Promise.all([versionOf(runtimePath), init ? versionOf(init) : undefined]);
          return { runtime, init: initVersion };
        })()),
      },
      images, archive, containers, events,
      execs, volumes, distribution: this.distribution,
      diskUsage: () => diskUsage(images, containers, volumes),
    };
    const router = engineRouter(this.engine);
    networkRoutes(router, this.engine, networks);
    for (const h of this.opts.hosts) await this.listen(h, router);
    this.log(`API listening on ${this.opts.hosts.join(', ')}`);
    await restarts.daemonStarted();
  }

  private engineId(): string {
    const p = join(this.opts.dataRoot, 'engine-id');
    if (!existsSync(p)) writeFileSync(p, randomBytes(16).toString('hex').replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5'));
    return readFileSync(p, 'utf8').trim();
  }

  /** One daemon per exec root: refuse to start beside a live one. */
  private lockPidfile(): void {
    const p = join(this.opts.execRoot, 'berthd.pid');
    try {
      const pid = Number(readFileSync(p, 'utf8'));
      if (pid && pid !== process.pid && existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berthd')) {
        throw new Error(`pid file ${p} is in use by a running berthd (pid ${pid}): is another daemon using this exec root?`);
      }
    } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    writeFileSync(p, String(process.pid));
  }

  /** Checks a listener address and its TLS material; done before anything starts, so a bad flag leaves nothing behind. */
  private listenerPlan(host: string): { kind: 'unix'; path: string } | { kind: 'tcp'; hostname: string; port: number; tls?: ReturnType<typeof readTlsFiles> } {
    if (host.startsWith('unix://')) return { kind: 'unix', path: host.slice('unix://'.length) };
    if (!host.startsWith('tcp://')) throw new Error(`invalid host ${host}: expected unix:///path or tcp://host:port`);
    let u: URL;
    try { u = new URL(host); } catch { throw new Error(`invalid host ${host}: expected tcp://ADDRESS:PORT`); }
    const hostname = u.hostname.replace(/^\[|\]$/g, '');
    const loopback = /^(127\.|localhost$|::1$)/.test(hostname);
    const tls = this.opts.tls;
    if (!tls && !loopback && !this.opts.insecurePlainTcp) {
      throw new Error(`refusing to listen on ${host} without TLS: use --tlsverify with --tlscacert/--tlscert/--tlskey (or, knowingly, --i-understand-plain-tcp-exposes-root)`);
    }
    return { kind: 'tcp', hostname, port: Number(u.port || (tls ? 2376 : 2375)), tls: tls ? readTlsFiles(tls) : undefined };
  }

  private async listen(host: string, router: ReturnType<typeof engineRouter>): Promise<void> {
    const debug = this.opts.logLevel === 'debug' ? this.log : undefined;
    const plan = this.listenerPlan(host);
    let server: http.Server;
    if (plan.kind === 'unix') {
      server = createApiServer(router, { log: this.log, debug });
      mkdirSync(join(plan.path, '..'), { recursive: true });
      rmSync(plan.path, { force: true });
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(plan.path, () => resolve()); });
      chmodSync(plan.path, 0o660);
    } else {
      server = createApiServer(router, { log: this.log, debug, tls: plan.tls });
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(plan.port, plan.hostname, () => resolve()); });
      if (!plan.tls) this.log(`WARNING: API served over plain TCP on ${host}: unencrypted and unauthenticated`);
    }
    this.servers.push(server);
  }

  async stop(): Promise<void> {
    for (const s of this.servers) { s.close(); s.closeAllConnections?.(); }
    this.stopTrimmer?.();
    this.restarts?.close();
    this.health?.close();
    await this.engine?.containers.shutdown(this.opts.liveRestore);
    await this.networks?.shutdown();
    this.distribution?.flush();
    for (const h of this.opts.hosts) if (h.startsWith('unix://')) rmSync(h.slice(7), { force: true });
    const live = this.engine?.containers.list().some((c) => c.State.Status === 'running' || c.State.Status === 'paused') ?? false;
    this.db?.close();
    rmSync(join(this.opts.execRoot, 'berthd.pid'), { force: true });
    removeEmptyCgroupParents(this.opts.cgroupParent);
    // Nothing in the exec root is needed once no container runs: a tmpfs berthd mounted there goes.
    if (!live && existsSync(join(this.opts.execRoot, TMPFS_MARK))) await umount(this.opts.execRoot, MNT_DETACH).catch((e) => this.log(`unmounting ${this.opts.execRoot}: ${e.message}`));
  }
}

const TMPFS_MAGIC = 0x01021994;
/** In an exec root berthd made a tmpfs of: that tmpfs is berthd's to unmount. */
const TMPFS_MARK = '.berth-tmpfs';

/**
 * The exec root holds what must not outlive a boot (pid files, FIFOs, sockets, OCI bundles, the
 * runtime's state), as /run is meant to, a tmpfs on Debian. Where it is on a disk instead (this
 * machine's /run is on the root ext4) an empty exec root gets a tmpfs of its own: a start writes
 * ~20 such files, each metadata write ~0.25 ms on a journaled disk (~3 ms a start measured). An
 * exec root with anything in it is left as it is (a daemon's containers may live there).
 */
async function execRootOnTmpfs(execRoot: string, log: (msg: string) => void): Promise<void> {
  if (statfsSync(execRoot).type === TMPFS_MAGIC || readdirSync(execRoot).length) return;
  try {
    await mount({ source: 'tmpfs', target: execRoot, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=0711' });
    writeFileSync(join(execRoot, TMPFS_MARK), '');
  } catch (e) { log(`exec root ${execRoot} stays on its filesystem: tmpfs mount failed: ${(e as Error).message}`); }
}

/** Reads the TLS files; their contents are never logged. */
function readTlsFiles(t: NonNullable<DaemonOptions['tls']>): { cert: Buffer; key: Buffer; ca?: Buffer; verifyClients: boolean } {
  const read = (what: string, p: string | undefined) => {
    if (!p) throw new Error(`TLS needs ${what}`);
    try { return readFileSync(p); } catch (e) { throw new Error(`could not read ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  };
  return {
    cert: read('--tlscert', t.cert), key: read('--tlskey', t.key),
    ca: t.verify ? read('--tlscacert', t.cacert) : (t.cacert ? read('--tlscacert', t.cacert) : undefined),
    verifyClients: t.verify,
  };
}

/**
 * crun refuses a hybrid cgroup layout (a controller on the cgroup2 mount, as on these hosts).
 * It works when that mount is hidden, so crun runs through a wrapper in a private mount namespace.
 */
function runtimeBinary(name: 'runc' | 'crun', execRoot: string): string | undefined {
  const bin = findBinary(name);
  if (!bin || name !== 'crun') return bin;
  let hybrid = false;
  try { hybrid = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== ''; } catch { /* pure v1 or v2 */ }
  if (!hybrid) return bin;
  const wrapper = join(execRoot, 'crun-hybrid');
  writeFileSync(wrapper, `#!/bin/sh\nexec unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec ${bin} "$@"' crun "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** runc leaves the (empty) parent cgroup behind; remove it where nothing else lives in it. */
function removeEmptyCgroupParents(parent: string): void {
  let controllers: string[] = [];
  try { controllers = readdirSync('/sys/fs/cgroup'); } catch { return; }
  for (const c of controllers) {
    const p = join('/sys/fs/cgroup', c, parent);
    try { rmdirSync(p); } catch { /* busy or absent */ }
  }
}

export function touch(path: string): void { closeSync(openSync(path, 'a')); }

/** What `BINARY --version` reports: "NAME version X" and a "commit: C" line (runc, crun), or "- git.C" (tini); "" when it cannot say. */
function versionOf(binary: string): Promise<ToolVersion> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 5000 }, (err, stdout) => {
      const text = String(stdout ?? '');
      const version = /version\s+(\S+)/.exec(text)?.[1] ?? '';
      const commit = /^commit:\s*(\S+)/m.exec(text)?.[1] ?? /- git\.(\S+)/.exec(text)?.[1] ?? '';
      resolve(err ? { version: '', commit: '' } : { version, commit });
    });
  });
}
