/** System routes: ping, version, info, events, df. */
import os from 'node:os';
import { readFileSync, readdirSync, statfsSync } from 'node:fs';
import { eventJson, eventMatches, parseTimeArg } from '../events/index.js';
import { InvalidParameterError } from '../errors/index.js';
import type { Engine } from './engine.js';
import { checkFilters, filtersParam, type Router } from './router.js';
import { API_VERSION, MIN_API_VERSION } from './server.js';
import { HOST_ARCH } from '../image/index.js';
import { LOG_DRIVER } from '../container/index.js';

function kernelVersion(): string { return os.release(); }

/** The distribution's name and version, from os-release (dockerd's OperatingSystem and OSVersion). */
function osRelease(): { name: string; version: string } {
  let text = '';
  try { text = readFileSync('/etc/os-release', 'utf8'); } catch { /* none: plain Linux */ }
  const field = (k: string) => new RegExp(`^${k}="?([^"\n]*)"?$`, 'm').exec(text)?.[1];
  return { name: field('PRETTY_NAME') ?? 'Linux', version: field('VERSION_ID') ?? '' };
}

/** statfs magic numbers → the names dockerd's overlay2 driver gives the data root's filesystem. */
const FS_NAMES: Record<number, string> = {
  0xef53: 'extfs', 0x58465342: 'xfs', 0x01021994: 'tmpfs', 0x9123683e: 'btrfs', 0x2fc12fc1: 'zfs',
  0x794c7630: 'overlayfs', 0x6969: 'nfs', 0xf2f52010: 'f2fs', 0x65735546: 'fuse', 0x858458f6: 'ramfs',
};

function backingFilesystem(dir: string): string {
  try { const t = statfsSync(dir).type; return FS_NAMES[t] ?? `<unknown> (0x${t.toString(16)})`; } catch { return '<unknown>'; }
}

/** Open file descriptors of the daemon (dockerd's NFd). */
function openFds(): number {
  try { return readdirSync('/proc/self/fd').length - 1; } catch { return 0; }   // less the one readdir held
}

export function systemRoutes(r: Router, e: Engine): void {
  const ping = () => ({ status: 200, body: 'OK', headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Builder-Version': '1' } });
  r.get('/_ping', (_req, res) => { const p = ping(); res.writeHead(200, p.headers); res.end(res.req.method === 'HEAD' ? undefined : 'OK'); });
  r.head('/_ping', (_req, res) => { const p = ping(); res.writeHead(200, p.headers); res.end(); });

  r.get('/version', async () => {
    const { runtime, init } = await e.info.componentVersions();
    const engine = {
      Version: e.info.version, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'berth', GoVersion: `node${process.versions.node}`,
      Os: 'linux', Arch: HOST_ARCH, KernelVersion: kernelVersion(), BuildTime: new Date(e.info.startedAt).toISOString(),
    };
    return { body: {
      Platform: { Name: 'berth Engine' },
      Components: [
        { Name: 'Engine', Version: e.info.version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'berth', GoVersion: engine.GoVersion, Os: 'linux', Arch: HOST_ARCH, KernelVersion: engine.KernelVersion, Experimental: 'false', BuildTime: engine.BuildTime } },
        // As dockerd lists them (it has containerd too; berth has no such layer).
        { Name: e.info.runtime, Version: runtime.version, Details: { GitCommit: runtime.commit } },
        ...(init ? [{ Name: 'docker-init', Version: init.version, Details: { GitCommit: init.commit } }] : []),
      ],
      ...engine,
    } };
  });

  r.get('/info', async () => {
    const runcCommit = (await e.info.componentVersions()).runtime.commit;
    const cs = e.containers.list();
    const running = cs.filter((c) => c.State.Status === 'running').length;
    const paused = cs.filter((c) => c.State.Status === 'paused').length;
    const release = osRelease();
    return { body: {
      ID: e.info.id, Containers: cs.length, ContainersRunning: running, ContainersPaused: paused, ContainersStopped: cs.length - running - paused,
      Images: e.images.all().length, Driver: 'overlay2',
      // Layers are diffed from the upper directory itself (native diff); mounts do not use userxattr.
      DriverStatus: [['Backing Filesystem', backingFilesystem(e.info.dataRoot)], ['Supports d_type', 'true'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: [LOG_DRIVER, 'local', 'none'] },
      MemoryLimit: true, SwapLimit: true, KernelMemory: false, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true,
      PidsLimit: true, IPv4Forwarding: true, BridgeNfIptables: true, BridgeNfIp6tables: true, Debug: false, NFd: openFds(), OomKillDisable: true,
      NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: LOG_DRIVER, CgroupDriver: 'cgroupfs', CgroupVersion: e.info.cgroupVersion,
      NEventsListener: 0, KernelVersion: kernelVersion(), OperatingSystem: release.name, OSVersion: release.version, OSType: 'linux', Architecture: os.machine(),
      IndexServerAddress: 'https://index.docker.io/v1/', RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: ['127.0.0.0/8'],
        IndexConfigs: { 'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true } }, Mirrors: [],
      },
      NCPU: os.cpus().length, MemTotal: os.totalmem(), DockerRootDir: e.info.dataRoot, HttpProxy: '', HttpsProxy: '', NoProxy: '',
      Name: e.info.name, Labels: [], ExperimentalBuild: false, ServerVersion: e.info.version,
      Runtimes: { runc: { path: 'runc' }, crun: { path: 'crun' } }, DefaultRuntime: e.info.runtime, Swarm: { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: false, Isolation: '', InitBinary: 'tini', RuncCommit: { ID: runcCommit, Expected: runcCommit }, SecurityOptions: ['name=seccomp,profile=builtin'], Warnings: [],
    } };
  });

  r.get('/events', async (req, res) => {
    const q = req.query;
    const filters = filtersParam(q);
    checkFilters(filters, ['container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume', 'config']);
    let since: number | undefined; let until: number | undefined;
    try {
      if (q.get('since')) since = parseTimeArg(q.get('since')!);
      if (q.get('until')) until = parseTimeArg(q.get('until')!);
    } catch (err) { throw new InvalidParameterError((err as Error).message); }
    if (since !== undefined && until !== undefined && until < since) throw new InvalidParameterError(`\`since\` time (${q.get('since')}) cannot be after \`until\` time (${q.get('until')})`);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const send = (ev: any) => { if (eventMatches(ev, filters) && (until === undefined || ev.timeNano <= until)) res.write(eventJson(ev) + '\n'); };
    const sub = e.events.subscribe((ev) => send(ev), since);
    for (const ev of sub.past) send(ev);
    const finish = () => { sub.close(); clearTimeout(timer); if (!res.writableEnded) res.end(); };
    let timer: NodeJS.Timeout | undefined;
    if (until !== undefined) {
      const ms = until / 1e6 - Date.now();
      if (ms <= 0) { finish(); return; }
      timer = setTimeout(finish, ms);
    }
    res.on('close', finish);
  });

  r.get('/system/df', async () => ({ body: await e.diskUsage() }));
}
