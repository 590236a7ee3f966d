/**
 * Volumes with the local driver: a directory <data-root>/volumes/<name>/_data, optionally a
 * filesystem mounted there from the driver options (`type`, `device`, `o`, as `mount -t type
 * -o o device` — tmpfs, or a bind of a host directory). Metadata lives in the `volumes` table.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../errors/index.js';
import { boolFilter, labelsMatch } from '../filters/index.js';
import type { EventBus } from '../events/index.js';
import { DocumentTable, type Db } from '../store/index.js';
import { directorySize } from '../layer/index.js';

const execFileAsync = promisify(execFile);

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTS = ['type', 'device', 'o', 'size'];

export interface VolumeRecord {
  Name: string;
  Driver: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  CreatedAt: string;
}

export interface VolumeUsage {
  /** IDs of containers (any state) that reference the volume. */
  containersUsing(name: string): string[];
  /** IDs of running containers that have it mounted. */
  runningUsing(name: string): string[];
}

export class VolumeService {
  readonly table: DocumentTable<VolumeRecord>;
  private usage: VolumeUsage = { containersUsing: () => [], runningUsing: () => [] };

  constructor(private readonly db: Db, readonly root: string, private readonly events: EventBus) {
    this.table = new DocumentTable<VolumeRecord>(db, 'volumes');
    mkdirSync(root, { recursive: true, mode: 0o701 });
  }

  setUsage(u: VolumeUsage): void { this.usage = u; }

  dataPath(name: string): string { return join(this.root, name, '_data'); }

  get(name: string): VolumeRecord {
    const v = this.table.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  tryGet(name: string): VolumeRecord | undefined { return this.table.get(name); }

  /** Creates a volume, or returns the existing one of that name (Docker's idempotent create). */
  create(req: { Name?: string; Driver?: string; DriverOpts?: Record<string, string> | null; Labels?: Record<string, string> | null } = {}): VolumeRecord {
    const driver = req.Driver || 'local';
    const anonymous = !req.Name;
    const name = req.Name || randomBytes(32).toString('hex');
    if (driver !== 'local') throw new NotFoundError(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    if (!NAME_RE.test(name)) {
      throw new InvalidParameterError(name.length < 2
        ? `create ${name}: volume name is too short, names should be at least two alphanumeric characters`
        : `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    const existing = this.table.get(name);
    if (existing) {
      if (req.DriverOpts && Object.keys(req.DriverOpts).length && JSON.stringify(req.DriverOpts) !== JSON.stringify(existing.Options)) {
        throw new ConflictError(`create ${name}: volume already exists with different options`);
      }
      return existing;
    }
    const opts = { ...(req.DriverOpts ?? {}) };
    for (const k of Object.keys(opts)) if (!LOCAL_OPTS.includes(k)) throw new InvalidParameterError(`create ${name}: invalid option key: "${k}"`);
    if (opts.size && !opts.type) throw new InvalidParameterError(`create ${name}: quota size requested but no quota support`);
    if (opts.type && !opts.device && opts.type !== 'tmpfs') throw new InvalidParameterError(`create ${name}: missing required option: "device"`);
    if (/(^|,)bind(,|$)/.test(opts.o ?? '') && opts.device && !existsSync(opts.device)) {
      throw new InvalidParameterError(`create ${name}: failed to mount local volume: mount ${opts.device}:${this.dataPath(name)}, flags: 0x1000: no such file or directory`);
    }
    const labels = { ...(req.Labels ?? {}) };
    if (anonymous) labels[ANONYMOUS_LABEL] = '';
    const v: VolumeRecord = { Name: name, Driver: 'local', Labels: labels, Options: opts, CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    mkdirSync(this.dataPath(name), { recursive: true, mode: 0o755 });
    this.table.put(name, v);
    this.events.emit('volume', 'create', name, { driver: 'local' });
    return v;
  }

  isAnonymous(v: VolumeRecord): boolean { return ANONYMOUS_LABEL in (v.Labels ?? {}); }

  inspectShape(v: VolumeRecord): Record<string, unknown> {
    return {
      CreatedAt: v.CreatedAt, Driver: v.Driver, Labels: v.Labels ?? {}, Mountpoint: this.dataPath(v.Name),
      Name: v.Name, Options: Object.keys(v.Options ?? {}).length ? v.Options : null, Scope: 'local',
    };
  }

  list(filters: Record<string, string[]> = {}): VolumeRecord[] {
    for (const k of Object.keys(filters)) if (!['name', 'label', 'dangling', 'driver'].includes(k)) throw new InvalidParameterError(`invalid filter '${k}'`);
    const dangling = boolFilter(filters, 'dangling');
    const any = (k: string, pred: (f: string) => boolean) => !filters[k]?.length || filters[k].some(pred);
    return this.table.all().filter((v) => any('name', (f) => v.Name.includes(f)) && any('driver', (f) => v.Driver === f)
      && labelsMatch(v.Labels, filters)
      && (dangling === undefined || dangling === (this.usage.containersUsing(v.Name).length === 0)))
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  async remove(name: string, force = false): Promise<void> {
    const v = this.table.get(name);
    if (!v) { if (force) return; throw new NotFoundError(`get ${name}: no such volume`); }
    const users = this.usage.containersUsing(name);
    if (users.length) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await this.unmountIfMounted(name);
    rmSync(join(this.root, name), { recursive: true, force: true });
    this.table.delete(name);
    this.events.emit('volume', 'destroy', name, { driver: 'local' });
  }

  /** Removes unused volumes: anonymous ones only, unless `all=true` (Docker ≥ 23). */
  async prune(filters: Record<string, string[]> = {}): Promise<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (!['label', 'label!', 'all'].includes(k)) throw new InvalidParameterError(`invalid filter '${k}'`);
    const all = boolFilter(filters, 'all') ?? false;
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.table.all()) {
      if (!all && !this.isAnonymous(v)) continue;
      if (!labelsMatch(v.Labels, filters)) continue;
      if (this.usage.containersUsing(v.Name).length) continue;
      const size = await duBytes(join(this.root, v.Name));
      try { await this.remove(v.Name); deleted.push(v.Name); space += size; } catch { /* raced with a new user */ }
    }
    this.events.emit('volume', 'prune', '', { reclaimed: String(space) });
    return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
  }

  /** Size and reference count, for `system df` and `volume ls` with usage. */
  async usageData(name: string): Promise<{ Size: number; RefCount: number }> {
    return { Size: await duBytes(this.dataPath(name)), RefCount: this.usage.containersUsing(name).length };
  }

  /**
   * Makes the volume's data available (mounts its filesystem when it has driver options). `at`: where
   * a starting container mounts it, which the `mount` event tells as dockerd's does.
   */
  async mount(name: string, containerId: string, at?: { destination: string; rw: boolean; propagation: string }): Promise<string> {
    const v = this.get(name);
    const path = this.dataPath(name);
    mkdirSync(path, { recursive: true });
    const o = v.Options ?? {};
    if (o.type || o.device || o.o) {
      if (!isMountPoint(path)) {
        const type = o.type || 'none';
        const args = /(^|,)bind(,|$)/.test(o.o ?? '') ? ['--bind', ...(/(^|,)ro(,|$)/.test(o.o ?? '') ? ['-o', 'ro'] : []), o.device, path]
          : ['-t', type, ...(o.o || o.size ? ['-o', [o.o, o.size ? `size=${o.size}` : ''].filter(Boolean).join(',')] : []), o.device || type, path];
        try { await execFileAsync('mount', args); } catch (e) {
          throw new SystemError(`error while mounting volume '${path}': failed to mount local volume: ${String((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
        }
      }
    }
    this.events.emit('volume', 'mount', name, {
      driver: 'local', container: containerId,
      ...(at ? { destination: at.destination, 'read/write': String(at.rw), propagation: at.propagation } : {}),
    });
    return path;
  }

  /** Unmounts a driver-option filesystem once no running container uses it. */
  async release(name: string, containerId: string): Promise<void> {
    if (!this.table.get(name)) return;
    this.events.emit('volume', 'unmount', name, { driver: 'local', container: containerId });
    if (this.usage.runningUsing(name).filter((id) => id !== containerId).length) return;
    await this.unmountIfMounted(name);
  }

  private async unmountIfMounted(name: string): Promise<void> {
    const path = this.dataPath(name);
    if (!isMountPoint(path)) return;
    try { await execFileAsync('umount', [path]); } catch { await execFileAsync('umount', ['-l', path]).catch(() => undefined); }
  }

  /** Whether the volume's data directory holds nothing yet (copy-up target). */
  isEmpty(name: string): boolean {
    try { return readdirSync(this.dataPath(name)).length === 0; } catch { return true; }
  }
}

export function isMountPoint(path: string): boolean {
  try {
    const text = readFileSync('/proc/self/mountinfo', 'utf8');
    return text.split('\n').some((l) => l.split(' ')[4] === path);
  } catch { return false; }
}

async function duBytes(path: string): Promise<number> {
  // Docker's volume size: file sizes summed, directories not counted, a hard-linked file once
  try { return statSync(path).isDirectory() ? await directorySize(path) : 0; } catch { return 0; }
}
