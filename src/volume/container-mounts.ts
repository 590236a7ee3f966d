/**
 * A container's mounts: plans them at create (binds `-v src:dst[:opts]`, `--mount`, `--volumes-from`,
 * the image's VOLUMEs as anonymous volumes), records the plan, and at each start turns it into
 * OCI mounts — mounting volume filesystems and copying the image's content into an empty volume
 * the first time it is used, as Docker does. The container service calls it through a small hook.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, chownSync, chmodSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { promisify } from 'node:util';
import { InvalidParameterError, SystemError } from '../errors/index.js';
import { DocumentTable, type Db } from '../store/index.js';
import { mountTable } from '../layer/index.js';
import { resolveInRoot } from './scoped-path.js';
import type { VolumeService } from './volume-service.js';

const execFileAsync = promisify(execFile);

/** The parts of a container record mounts are planned from. */
export interface MountingContainer {
  Id: string;
  Config: Record<string, any>;
  HostConfig: Record<string, any>;
  Mounts?: Record<string, any>[];
}

export interface PlannedMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  noCopy?: boolean;
  subpath?: string;
  tmpfsOptions?: string[];
}

export interface OciMount { destination: string; type: string; source: string; options: string[] }

const PROPAGATIONS = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
const BIND_MODES = ['ro', 'rw', 'z', 'Z', 'nocopy', 'consistent', 'cached', 'delegated', ...PROPAGATIONS];

export class ContainerMounts {
  private readonly plans: DocumentTable<PlannedMount[]>;

  constructor(
    private readonly volumes: VolumeService,
    db: Db,
    private readonly lookup: { get(ref: string): MountingContainer; all(): MountingContainer[]; isRunning(id: string): boolean },
  ) {
    this.plans = new DocumentTable<PlannedMount[]>(db, 'container_mounts');
    volumes.setUsage({
      containersUsing: (name) => this.usersOf(name, false),
      runningUsing: (name) => this.usersOf(name, true),
    });
  }

  private usersOf(name: string, runningOnly: boolean): string[] {
    const ids: string[] = [];
    for (const c of this.lookup.all()) {
      if (runningOnly && !this.lookup.isRunning(c.Id)) continue;
      if ((this.plans.get(c.Id) ?? []).some((m) => m.Type === 'volume' && m.Name === name)) ids.push(c.Id);
    }
    return ids;
  }

  plan(id: string): PlannedMount[] { return this.plans.get(id) ?? []; }

  /** Plans the mounts of a new container and sets its Docker-shaped `Mounts`. Creates named volumes on first use. */
  prepare(c: MountingContainer, imageVolumes: Record<string, unknown> = {}): void {
    const h = c.HostConfig;
    const byDest = new Map<string, PlannedMount>();
    const explicit = new Set<string>();
    const add = (m: PlannedMount, fromUser: boolean) => {
      const dest = posix.normalize(m.Destination).replace(/(.)\/$/, '$1');
      if (dest === '/') throw new InvalidParameterError('invalid specification: destination can\'t be \'/\'');
      if (fromUser && explicit.has(dest)) throw new InvalidParameterError(`Duplicate mount point: ${dest}`);
      if (fromUser) explicit.add(dest);
      byDest.set(dest, { ...m, Destination: dest });
    };

    // --volumes-from first: explicit mounts for the same destination replace them.
    for (const spec of (h.VolumesFrom ?? []) as string[]) {
      const [ref, mode = ''] = spec.split(':');
      if (mode && mode !== 'ro' && mode !== 'rw') throw new InvalidParameterError(`invalid mode for volumes-from: ${mode}`);
      let other: MountingContainer;
      try { other = this.lookup.get(ref); } catch { throw new InvalidParameterError(`No such container: ${ref}`); }  // 404 would make the CLI try to pull the image
      for (const m of this.plan(other.Id)) {
        if (m.Type === 'tmpfs') continue;
        add({ ...m, RW: mode === 'ro' ? false : mode === 'rw' ? true : m.RW, Mode: mode || m.Mode }, false);
      }
    }
    // --volume-driver: the driver of the volumes -v and the image's VOLUMEs make (dockerd looks the plugin up then).
    const volumeDriver: string | undefined = h.VolumeDriver || undefined;
    for (const b of (h.Binds ?? []) as string[]) add(this.parseBind(b, volumeDriver), true);
    for (const m of (h.Mounts ?? []) as Record<string, any>[]) add(this.parseMount(m), true);
    for (const dest of Object.keys({ ...imageVolumes, ...(c.Config.Volumes ?? {}) })) {
      const d = posix.normalize(dest).replace(/(.)\/$/, '$1');
      if (byDest.has(d)) continue;
      if (!d.startsWith('/')) throw new InvalidParameterError(`invalid mount config for type "volume": invalid mount path: '${dest}' mount path must be absolute`);
      const v = this.volumes.create({ Driver: volumeDriver });
      byDest.set(d, { Type: 'volume', Name: v.Name, Source: this.volumes.dataPath(v.Name), Destination: d, Driver: 'local', Mode: '', RW: true, Propagation: '' });
    }
    const plan = [...byDest.values()];
    this.plans.put(c.Id, plan);
    c.Mounts = plan.map(dockerShape);
  }

  private volumeFor(name: string, opts?: { labels?: Record<string, string>; driverOpts?: Record<string, string>; driver?: string }): string {
    if (!name) return this.volumes.create({ Labels: opts?.labels, DriverOpts: opts?.driverOpts, Driver: opts?.driver }).Name;
    const v = this.volumes.tryGet(name) ?? this.volumes.create({ Name: name, Labels: opts?.labels, DriverOpts: opts?.driverOpts, Driver: opts?.driver });
    return v.Name;
  }

  /** `-v src:dst[:opts]` (HostConfig.Binds). */
  private parseBind(spec: string, driver?: string): PlannedMount {
    const parts = spec.split(':');
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new InvalidParameterError(`invalid volume specification: '${spec}'`);
    const [src, dst, mode = ''] = parts;
    if (!isAbsolute(dst)) throw new InvalidParameterError(`invalid volume specification: '${spec}': invalid mount config for type "${src.startsWith('/') ? 'bind' : 'volume'}": invalid mount path: '${dst}' mount path must be absolute`);
    const modes = mode ? mode.split(',') : [];
    for (const m of modes) if (!BIND_MODES.includes(m)) throw new InvalidParameterError(`invalid volume specification: '${spec}': invalid mode: ${mode}`);
    if (modes.includes('ro') && modes.includes('rw')) throw new InvalidParameterError(`invalid volume specification: '${spec}': invalid mode: ${mode}`);
    const propagation = modes.find((m) => PROPAGATIONS.includes(m));
    const rw = !modes.includes('ro');
    if (src.startsWith('/')) {
      if (modes.includes('nocopy')) throw new InvalidParameterError(`invalid volume specification: '${spec}': invalid mode: ${mode}`);
      // -v creates a missing host directory (--mount does not).
      if (!existsSync(src)) mkdirSync(src, { recursive: true });
      return { Type: 'bind', Source: posix.normalize(src), Destination: dst, Mode: mode, RW: rw, Propagation: propagation ?? 'rprivate' };
    }
    if (propagation) throw new InvalidParameterError(`invalid volume specification: '${spec}': invalid mode: ${mode}`);
    const name = this.volumeFor(src, { driver });
    return { Type: 'volume', Name: name, Source: this.volumes.dataPath(name), Destination: dst, Driver: 'local', Mode: mode || 'z', RW: rw, Propagation: '', noCopy: modes.includes('nocopy') };
  }

  /** `--mount` (HostConfig.Mounts). */
  private parseMount(m: Record<string, any>): PlannedMount {
    const type = m.Type;
    const target = m.Target ?? m.Destination;
    if (!['bind', 'volume', 'tmpfs'].includes(type)) throw new InvalidParameterError(`invalid mount config for type "${type}": mount type unknown`);
    if (!target) throw new InvalidParameterError(`invalid mount config for type "${type}": field Target must not be empty`);
    if (!isAbsolute(target)) throw new InvalidParameterError(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
    const ro = !!m.ReadOnly;
    if (type === 'bind') {
      if (!m.Source) throw new InvalidParameterError('invalid mount config for type "bind": field Source must not be empty');
      if (!isAbsolute(m.Source)) throw new InvalidParameterError(`invalid mount config for type "bind": invalid mount path: '${m.Source}' mount path must be absolute`);
      if (m.VolumeOptions) throw new InvalidParameterError('invalid mount config for type "bind": field VolumeOptions must not be specified');
      if (m.TmpfsOptions) throw new InvalidParameterError('invalid mount config for type "bind": field TmpfsOptions must not be specified');
      if (!existsSync(m.Source)) {
        if (m.BindOptions?.CreateMountpoint) mkdirSync(m.Source, { recursive: true });
        else throw new InvalidParameterError(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
      }
      const prop = m.BindOptions?.Propagation || 'rprivate';
      if (!PROPAGATIONS.includes(prop)) throw new InvalidParameterError(`invalid mount config for type "bind": invalid propagation mode: ${prop}`);
      return { Type: 'bind', Source: posix.normalize(m.Source), Destination: target, Mode: '', RW: !ro, Propagation: prop };
    }
    if (type === 'tmpfs') {
      if (m.Source) throw new InvalidParameterError('invalid mount config for type "tmpfs": field Source must not be specified');
      const o = m.TmpfsOptions ?? {};
      const opts: string[] = [];
      if (o.SizeBytes !== undefined) {
        if (!Number.isInteger(o.SizeBytes) || o.SizeBytes < 0) throw new InvalidParameterError(`invalid mount config for type "tmpfs": invalid tmpfs size: ${o.SizeBytes}`);
        if (o.SizeBytes > 0) opts.push(`size=${o.SizeBytes}`);
      }
      if (o.Mode) opts.push(`mode=${Number(o.Mode).toString(8)}`);
      for (const kv of (o.Options ?? []) as string[][]) opts.push(kv.filter(Boolean).join('='));
      return { Type: 'tmpfs', Source: '', Destination: target, Mode: '', RW: !ro, Propagation: '', tmpfsOptions: opts };
    }
    if (m.BindOptions) throw new InvalidParameterError('invalid mount config for type "volume": field BindOptions must not be specified');
    const vo = m.VolumeOptions ?? {};
    const name = this.volumeFor(m.Source ?? '', { labels: vo.Labels, driverOpts: vo.DriverConfig?.Options, driver: vo.DriverConfig?.Name });
    return {
      Type: 'volume', Name: name, Source: this.volumes.dataPath(name), Destination: target, Driver: 'local', Mode: 'z', RW: !ro, Propagation: '',
      noCopy: !!vo.NoCopy, subpath: vo.Subpath || undefined,
    };
  }

  // ---- the container lifecycle hooks (ContainerHooks in src/container) ----
  created(c: MountingContainer, imageConfig: Record<string, any>): void { this.prepare(c, imageConfig.Volumes ?? {}); }
  beforeStart(c: MountingContainer, rootfs: string): Promise<OciMount[]> { return this.setUp(c, rootfs); }

  /** A shared bind needs the container's root shared too for its events to reach the host (dockerd sets it so). */
  adjustSpec(c: MountingContainer, spec: { linux?: Record<string, unknown> }): void {
    if (this.plan(c.Id).some((m) => m.Type === 'bind' && (m.Propagation === 'shared' || m.Propagation === 'rshared'))) {
      (spec.linux ??= {}).rootfsPropagation = 'shared';
    }
  }
  afterStop(c: MountingContainer): Promise<void> { return this.tearDown(c); }

  /** At start: volumes mounted and filled, OCI mounts in parent-before-child order. */
  async setUp(c: MountingContainer, rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    const started: string[] = [];
    try {
      for (const m of this.plan(c.Id)) {
        const rw = m.RW ? 'rw' : 'ro';
        if (m.Type === 'bind') {
          if (!existsSync(m.Source)) mkdirSync(m.Source, { recursive: true });
          checkPropagation(m.Source, m.Propagation);
          out.push({ destination: m.Destination, type: 'bind', source: m.Source, options: ['rbind', rw, m.Propagation || 'rprivate'] });
        } else if (m.Type === 'tmpfs') {
          out.push({ destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', rw, ...(m.tmpfsOptions ?? [])] });
        } else {
          const data = await this.volumes.mount(m.Name!, c.Id, { destination: m.Destination, rw: m.RW, propagation: m.Propagation ?? '' });
          started.push(m.Name!);
          let source = data;
          if (m.subpath) {
            source = resolveInRoot(data, m.subpath);
            if (!existsSync(source)) throw new InvalidParameterError(`cannot access path ${m.subpath}: no such file or directory`);
          }
          if (!m.noCopy && !m.subpath && this.volumes.isEmpty(m.Name!)) await copyUp(rootfs, m.Destination, data);
          out.push({ destination: m.Destination, type: 'bind', source, options: ['rbind', rw, 'rprivate'] });
        }
      }
      for (const [dest, optsText] of Object.entries((c.HostConfig.Tmpfs ?? {}) as Record<string, string>)) {
        if (!isAbsolute(dest)) throw new InvalidParameterError(`invalid mount path: '${dest}' mount path must be absolute`);
        const opts = String(optsText || '').split(',').filter(Boolean);
        const base = ['nosuid', 'nodev', 'noexec'].filter((o) => !opts.includes(o.replace(/^no/, '')) && !opts.includes(o));
        out.push({ destination: posix.normalize(dest), type: 'tmpfs', source: 'tmpfs', options: [...base, ...opts] });
      }
    } catch (e) {
      for (const n of started) await this.volumes.release(n, c.Id).catch(() => undefined);
      throw e;
    }
    return out.sort((a, b) => depth(a.destination) - depth(b.destination));
  }

  async tearDown(c: MountingContainer): Promise<void> {
    for (const m of this.plan(c.Id)) if (m.Type === 'volume' && m.Name) await this.volumes.release(m.Name, c.Id).catch(() => undefined);
  }

  /** The container is gone: forget its plan; with `rm -v` remove its anonymous volumes that nothing else uses. */
  async removed(c: MountingContainer, removeAnonymous: boolean): Promise<void> {
    const plan = this.plan(c.Id);
    this.plans.delete(c.Id);
    if (!removeAnonymous) return;
    for (const m of plan) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const v = this.volumes.tryGet(m.Name);
      if (!v || !this.volumes.isAnonymous(v)) continue;
      // Volumes given by --volumes-from belong to the other container.
      await this.volumes.remove(m.Name).catch(() => undefined);
    }
  }
}

function depth(p: string): number { return p.split('/').filter(Boolean).length; }

/** Docker's inspect shape of one mount. */
export function dockerShape(m: PlannedMount): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: m.Type };
  if (m.Type === 'volume') out.Name = m.Name;
  out.Source = m.Source;
  out.Destination = m.Destination;
  if (m.Type === 'volume') out.Driver = m.Driver ?? 'local';
  out.Mode = m.Mode;
  out.RW = m.RW;
  out.Propagation = m.Propagation;
  return out;
}

/** Copies the image's content at `dest` into an empty volume, with the directory's owner and mode. */
async function copyUp(rootfs: string, dest: string, volumeData: string): Promise<void> {
  const src = resolveInRoot(rootfs, dest);
  let st;
  try { st = lstatSync(src); } catch { return; }
  if (!st.isDirectory()) return;
  try { chownSync(volumeData, st.uid, st.gid); chmodSync(volumeData, st.mode & 0o7777); } catch { /* keep defaults */ }
  if (readdirSync(src).length === 0) return;
  try {
    await execFileAsync('cp', ['-a', '--', src + '/.', volumeData + '/']);
  } catch (e) {
    throw new SystemError(`copying image content into the volume for ${dest} failed: ${String((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
  }
}

/**
 * dockerd's checks for a bind's propagation: events can flow out (shared) or in (slave) only if
 * the host mount holding the source is shared, or shared or slave.
 */
function checkPropagation(source: string, propagation: string | undefined): void {
  const needs = propagation === 'shared' || propagation === 'rshared' ? 'shared' : propagation === 'slave' || propagation === 'rslave' ? 'slave' : undefined;
  if (!needs) return;
  let real = source;
  try { real = realpathSync(source); } catch { /* checked as given */ }
  let best: { point: string; optional: string[] } | undefined;
  for (const m of mountTable()) {
    const inside = m.point === '/' || real === m.point || real.startsWith(m.point + '/');
    if (inside && (!best || m.point.length >= best.point.length)) best = m;
  }
  if (!best) return;
  const shared = best.optional.some((o) => o.startsWith('shared:'));
  const slave = best.optional.some((o) => o.startsWith('master:'));
  if (needs === 'shared' && !shared) throw new InvalidParameterError(`path ${source} is mounted on ${best.point} but it is not a shared mount`);
  if (needs === 'slave' && !shared && !slave) throw new InvalidParameterError(`path ${source} is mounted on ${best.point} but it is not a shared or slave mount`);
}
