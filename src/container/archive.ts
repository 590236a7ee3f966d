/**
 * `docker cp`: stat, tar out of and extract into a container's filesystem, running or stopped (a
 * stopped one gets its overlay mounted for the copy). Paths are resolved as dockerd does, in a view
 * of the container with its volumes, bind mounts and network files laid over the root
 * (ContainerFsView): a path under a volume reads and writes the volume, never the directory beneath
 * it. Symlinks resolve in the container's terms, files are opened with O_NOFOLLOW and each
 * descriptor is checked through /proc/self/fd against the mount it was resolved in, and directories
 * are re-checked before they are read or written, so symlinks — including ones swapped in during the
 * copy — never reach the host. Writes into a read-only volume, bind or root are refused like Docker.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, realpathSync, symlinkSync, linkSync, lchownSync, fchownSync, fchmodSync, unlinkSync, createReadStream, createWriteStream, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../errors/index.js';
import type { ImageStore } from '../image/index.js';
import { mountOverlay, unmount, isMounted } from '../layer/index.js';
import { resolveInRoot, type VolumeService } from '../volume/index.js';
import type { ContainerService } from './container-service.js';
import { ContainerFsView, type ViewLocation, type ViewMount } from './fs-view.js';
import type { ContainerRecord } from './types.js';

export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

// Go's os.FileMode bits, which the docker CLI decodes from X-Docker-Container-Path-Stat.
const GO_DIR = 2 ** 31; const GO_SYMLINK = 2 ** 27; const GO_DEVICE = 2 ** 26; const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24; const GO_SETUID = 2 ** 23; const GO_SETGID = 2 ** 22; const GO_CHARDEV = 2 ** 21; const GO_STICKY = 2 ** 20;

function goMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GO_DIR;
  if (st.isSymbolicLink()) m += GO_SYMLINK;
  if (st.isBlockDevice()) m += GO_DEVICE;
  if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV;
  if (st.isFIFO()) m += GO_PIPE;
  if (st.isSocket()) m += GO_SOCKET;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  return m;
}

/** Whether the path ends in `.` as its last element (`dir/.`, `.`), as Go's archive.specifiesCurrentDir. */
function specifiesCurrentDir(path: string): boolean { return posix.basename(path) === '.'; }

/** The network files dockerd bind-mounts into every container, by their name in the container's directory. */
const NETWORK_FILES: [string, string][] = [['hosts', '/etc/hosts'], ['hostname', '/etc/hostname'], ['resolv.conf', '/etc/resolv.conf']];

export class ContainerArchive {
  constructor(private readonly containers: ContainerService, private readonly images: ImageStore, private readonly volumes?: VolumeService) {}

  /** Runs fn with the container's root mounted (mounting a stopped container's overlay for the duration). */
  async withRoot<T>(c: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
    const dir = this.containers.dir(c.Id);
    const rootfs = join(dir, 'rootfs');
    if (this.containers.isRunning(c.Id) || await isMounted(rootfs)) return fn(realpathSync(rootfs));
    const image = this.images.table.get(c.ImageId);
    const lower = image?.chainId ? this.images.layers.lowerDirs(image.chainId) : [];
    if (!lower.length) { mkdirSync(join(dir, 'empty'), { recursive: true }); lower.push(join(dir, 'empty')); }
    await mountOverlay(lower, join(dir, 'upper'), join(dir, 'work'), rootfs);
    try { return await fn(realpathSync(rootfs)); } finally { if (!this.containers.isRunning(c.Id)) await unmount(rootfs).catch(() => undefined); }
  }

  /**
   * Runs fn with the container's filesystem view: its root plus volumes, binds and network files.
   * A stopped container's volumes that need mounting (driver options) are mounted for the duration.
   */
  async withView<T>(c: ContainerRecord, fn: (view: ContainerFsView) => Promise<T>): Promise<T> {
    const running = this.containers.isRunning(c.Id);
    const mounted: string[] = [];
    try {
      const mounts: ViewMount[] = [];
      for (const m of (c.Mounts ?? []) as Record<string, any>[]) {
        if (m.Type !== 'volume' && m.Type !== 'bind') continue;   // tmpfs: not in dockerd's view either
        let source = String(m.Source ?? '');
        if (m.Type === 'volume' && m.Name && this.volumes && !running) {
          source = await this.volumes.mount(String(m.Name), c.Id);
          mounted.push(String(m.Name));
        }
        const subpath = ((c.HostConfig.Mounts ?? []) as Record<string, any>[]).find((x) => x.Type === 'volume' && (x.Target ?? x.Destination) === m.Destination)?.VolumeOptions?.Subpath;
        if (m.Type === 'volume' && subpath) source = resolveInRoot(source, subpath);
        if (source) mounts.push({ destination: String(m.Destination), source, rw: m.RW !== false, kind: m.Type });
      }
      const dir = this.containers.dir(c.Id);
      for (const [file, destination] of NETWORK_FILES) {
        if (existsSync(join(dir, file))) mounts.push({ destination, source: join(dir, file), rw: !c.HostConfig.ReadonlyRootfs, kind: 'network' });
      }
      return await this.withRoot(c, async (root) => fn(new ContainerFsView(root, !c.HostConfig.ReadonlyRootfs, mounts)));
    } finally {
      for (const name of mounted) await this.volumes!.release(name, c.Id).catch(() => undefined);
    }
  }

  private notFound(c: ContainerRecord, path: string): NotFoundError {
    return new NotFoundError(`Could not find the file ${path} in container ${c.Name}`);
  }

  async stat(ref: string, path: string): Promise<PathStat> {
    const c = this.containers.get(ref);
    return this.withView(c, async (view) => this.statIn(c, view, path));
  }

  private statIn(c: ContainerRecord, view: ContainerFsView, path: string): PathStat {
    if (!path) throw new InvalidParameterError('path cannot be empty');
    const loc = this.locIn(view, path);
    let st: Stats;
    try { st = lstatSync(loc.host); } catch { throw this.notFound(c, path); }
    // `dir/.` names the directory itself (its contents are what the CLI copies): like lstat of `dir/.`, a non-directory fails.
    if (specifiesCurrentDir(path) && !st.isDirectory()) throw this.notFound(c, path);
    // The CLI follows links (-L) by asking again for this target: give it as a path in the container.
    const linkTarget = st.isSymbolicLink() ? view.resolve(path) : '';
    // dockerd names the resource filepath.Base of the path with a trailing `/.` kept: `.` for `dir/.`.
    const name = specifiesCurrentDir(path) ? '.' : posix.basename(posix.normalize('/' + path)) || '/';
    return { name, size: st.size, mode: goMode(st), mtime: st.mtime.toISOString(), linkTarget };
  }

  /** The resource `path` names: its last component not followed, except for `dir/.` (then `dir` is resolved fully, as dockerd does). */
  private locIn(view: ContainerFsView, path: string): ViewLocation {
    return specifiesCurrentDir(path) ? view.locate(view.resolve(path)) : view.lookup(path);
  }

  /** A tar of `path` (named by its base name) and its stat. */
  async get(ref: string, path: string, write: (stat: PathStat, tarStream: Readable) => Promise<void>): Promise<void> {
    const c = this.containers.get(ref);
    await this.withView(c, async (view) => {
      const stat = this.statIn(c, view, path);
      const loc = this.locIn(view, path);
      const pack = tar.pack();
      // Entries are rooted at the stat's name, as dockerd's TarResourceRebase does: `dir/.` (and `/`) give `./`, `./file`.
      const name = stat.name === '/' ? '.' : stat.name === '.' ? './' : stat.name;
      const done = (async () => {
        try { await packTree(pack, view, loc.path, name); pack.finalize(); } catch (e) { pack.destroy(e as Error); }
      })();
      await write(stat, pack as unknown as Readable);
      await done;
    });
  }

  /** Extracts a tar into the directory `path`. */
  async put(ref: string, path: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    const c = this.containers.get(ref);
    if (!path) throw new InvalidParameterError('path cannot be empty');
    await this.withView(c, async (view) => {
      // The extraction point follows symlinks, its last component too (a link to a directory is fine).
      const dest = view.locate(view.resolve(path));
      let st: Stats;
      try { st = lstatSync(dest.host); } catch { throw this.notFound(c, path); }
      if (!st.isDirectory()) throw new InvalidParameterError('extraction point is not a directory');
      checkWritable(c, dest.path);
      await extractInto(view, dest.path, body, opts);
    });
  }
}

/**
 * Docker's check before extracting: a path in a mount must be in a read/write one; anywhere else the
 * root must not be read-only. Mount points are matched as recorded (tmpfs ones included), innermost first.
 */
function checkWritable(c: ContainerRecord, path: string): void {
  const mounts = ((c.Mounts ?? []) as Record<string, any>[])
    .map((m) => ({ dest: posix.normalize(String(m.Destination)).replace(/(.)\/+$/, '$1'), rw: m.RW !== false }))
    .sort((a, b) => b.dest.length - a.dest.length);
  const m = mounts.find((x) => path === x.dest || path.startsWith(x.dest === '/' ? '/' : x.dest + '/'));
  if (m) {
    if (!m.rw) throw new InvalidParameterError('mounted volume is marked read-only');
    return;
  }
  if (c.HostConfig.ReadonlyRootfs) throw new InvalidParameterError('container rootfs is marked read-only');
}

/** Each entry lands in some mount of the view: that mount must be writable too. */
function checkEntryWritable(loc: ViewLocation): void {
  if (loc.mount.rw) return;
  throw new InvalidParameterError(loc.mount.kind === 'rootfs' ? 'container rootfs is marked read-only' : 'mounted volume is marked read-only');
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** `name` inside the directory open as `fd`: the kernel walks from that very directory, whatever its path is now. */
function at(fd: number, name: string): string { return `/proc/self/fd/${fd}/${name}`; }

/**
 * Opens the directory at `loc` by walking down from its mount's source one component at a time,
 * never following a symlink, so a component swapped for one (after the path was resolved) fails
 * instead of leading out of the container. Missing components are created when `create`.
 */
function openDirIn(loc: ViewLocation, create: boolean): number {
  const rel = loc.host === loc.mount.source ? [] : loc.host.slice(loc.mount.source.length + 1).split('/').filter(Boolean);
  let fd = openSync(loc.mount.source, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const part of rel) {
      let next: number;
      try { next = openSync(at(fd, part), DIR_FLAGS); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ELOOP') throw new InvalidParameterError(`${loc.path} resolves outside the container's root`);
        if (!create || code !== 'ENOENT') throw e;
        mkdirSync(at(fd, part), 0o755);
        next = openSync(at(fd, part), DIR_FLAGS);
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (e) { closeSync(fd); throw e; }
}

/** The directory holding `loc`, opened safely; for a mount point, null (it is reached through its source). */
function openParent(view: ContainerFsView, loc: ViewLocation): number | null {
  if (loc.isMountRoot) return null;
  return openDirIn(view.locate(posix.dirname(loc.path)), false);
}

/** A path for `loc` that cannot be redirected: relative to its open parent, or its mount's (trusted) source. */
function pinned(loc: ViewLocation, parentFd: number | null): string {
  return parentFd === null ? loc.mount.source : at(parentFd, posix.basename(loc.path));
}

/**
 * Adds the container path `path` (and below) to the tar as `name`. Every entry is reached relative
 * to its parent's open descriptor and never followed, so nothing outside the container is read.
 */
async function packTree(pack: tar.Pack, view: ContainerFsView, path: string, name: string, parentFd?: number | null): Promise<void> {
  const loc = view.locate(path);
  let ownParent: number | null = null;
  if (parentFd === undefined || loc.isMountRoot) { ownParent = openParent(view, loc); parentFd = ownParent; }
  try {
    const host = pinned(loc, parentFd);
    const st = lstatSync(host);
    const header = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isSymbolicLink()) {
      pack.entry({ ...header, type: 'symlink', linkname: readlinkSync(host) });
    } else if (st.isDirectory()) {
      const fd = openSync(host, DIR_FLAGS);
      try {
        view.checkFd(loc, fd, name);
        pack.entry({ ...header, name: name.endsWith('/') ? name : name + '/', type: 'directory' });
        const children = new Set([...readdirSync(`/proc/self/fd/${fd}`), ...view.mountNamesIn(loc.path)]);
        for (const child of [...children].sort()) {
          try { await packTree(pack, view, posix.join(loc.path, child), childName(name, child), fd); } catch (e) {
            // A mount point the root has no directory for yet, or an entry removed meanwhile.
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
      } finally { closeSync(fd); }
    } else if (st.isFile()) {
      const fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        view.checkFd(loc, fd, name);
        const fst = fstatSync(fd);
        const entry = pack.entry({ ...header, size: fst.size, type: 'file' });
        await pipeline(createReadStream('', { fd, autoClose: false, start: 0, end: Math.max(0, fst.size - 1) }).on('error', () => undefined), entry).catch(async (e) => {
          if (fst.size === 0) { entry.end(); return; }
          throw e;
        });
      } finally { closeSync(fd); }
    } else if (st.isFIFO()) {
      pack.entry({ ...header, type: 'fifo' });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      pack.entry({ ...header, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: Math.floor(st.rdev / 256), devminor: st.rdev % 256 });
    }
  } finally { if (ownParent !== null) closeSync(ownParent); }
}

/** An entry's name under its directory's: below `./` the prefix is kept (posix.join would drop it). */
function childName(name: string, child: string): string {
  return name.startsWith('./') ? (name.endsWith('/') ? name : name + '/') + child : posix.join(name, child);
}

/** Removes a directory tree without following symlinks in it (GNU rm walks by descriptor), named relative to `dirFd`. */
function removeTree(dirFd: number, name: string): void {
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', `/proc/self/fd/3/${name}`], { stdio: ['ignore', 'ignore', 'pipe', dirFd], encoding: 'utf8' });
  if (r.status !== 0) throw new SystemError(`removing ${name}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/**
 * Extracts a tar under the container path `destPath`. Parents are resolved in the view, then opened
 * component by component without following symlinks; each entry is created relative to its parent's
 * descriptor, so a directory swapped for a symlink mid-copy makes the copy fail, never write outside.
 */
async function extractInto(view: ContainerFsView, destPath: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
  const extract = tar.extract();
  const dirTimes: { loc: ViewLocation; mtime: Date }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      void (async () => {
        const rel = posix.normalize('/' + header.name).replace(/\/+$/, '');
        if (rel === '/' || rel === '') { stream.resume(); return next(); }
        const parent = view.locate(view.resolve(posix.join(destPath, posix.dirname(rel))));
        const target = view.locate(posix.join(parent.path, posix.basename(rel)));
        checkEntryWritable(target);
        const uid = opts.copyUIDGID ? header.uid ?? 0 : 0;
        const gid = opts.copyUIDGID ? header.gid ?? 0 : 0;
        const mode = (header.mode ?? 0o644) & 0o7777;
        if (target.isMountRoot) {
          // A mount point can be written into, never replaced (dockerd gets EBUSY unlinking it).
          let fd: number;
          try { fd = openSync(target.mount.source, DIR_FLAGS); } catch { fd = -1; }
          if (header.type !== 'directory' || fd < 0) throw new SystemError(`unlinkat ${target.path}: device or resource busy`);
          try { fchmodSync(fd, mode); fchownSync(fd, uid, gid); } finally { closeSync(fd); }
          if (header.mtime) dirTimes.push({ loc: target, mtime: header.mtime });
          stream.resume();
          return next();
        }
        const dirFd = openDirIn(parent, true);
        try {
          const base = posix.basename(rel);
          const here = at(dirFd, base);
          let existing: Stats | undefined;
          try { existing = lstatSync(here); } catch { /* new */ }
          if (header.type === 'directory') {
            if (existing && !existing.isDirectory()) {
              if (opts.noOverwriteDirNonDir) throw new ConflictError(`cannot overwrite non-directory "${rel}" with directory`);
              unlinkSync(here);
              existing = undefined;
            }
            if (!existing) mkdirSync(here, 0o700);
            const fd = openSync(here, DIR_FLAGS);
            try { fchmodSync(fd, mode); fchownSync(fd, uid, gid); } finally { closeSync(fd); }
            if (header.mtime) dirTimes.push({ loc: target, mtime: header.mtime });
            stream.resume();
          } else {
            if (existing?.isDirectory()) {
              if (opts.noOverwriteDirNonDir) throw new ConflictError(`cannot overwrite directory "${rel}" with non-directory`);
              removeTree(dirFd, base);
            } else if (existing) unlinkSync(here);
            if (header.type === 'symlink') {
              symlinkSync(header.linkname ?? '', here); lchownSync(here, uid, gid); stream.resume();
            } else if (header.type === 'link') {
              const src = view.locate(view.resolve(posix.join(destPath, posix.normalize('/' + (header.linkname ?? ''))), false));
              if (src.mount !== target.mount || src.isMountRoot) throw new InvalidParameterError(`hard link ${header.linkname} is outside the container's root`);
              const srcDir = openDirIn(view.locate(posix.dirname(src.path)), false);
              try { linkSync(at(srcDir, posix.basename(src.path)), here); } finally { closeSync(srcDir); }
              stream.resume();
            } else if (header.type === 'file' || header.type === 'contiguous-file' || !header.type) {
              const fd = openSync(here, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
              try {
                view.checkFd(target, fd, header.name);
                await pipeline(stream, createWriteStream('', { fd, autoClose: false }));
                fchownSync(fd, uid, gid); fchmodSync(fd, mode);
                if (header.mtime) futimesSync(fd, header.mtime, header.mtime);
              } finally { closeSync(fd); }
            } else {
              stream.resume(); // devices and fifos are not created by cp
            }
          }
        } finally { closeSync(dirFd); }
        next();
      })().catch((e) => { extract.destroy(e); reject(e); });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  body.on('error', (e) => extract.destroy(e));
  body.pipe(extract);
  await done;
  // Directory times last (writing into them changed them), deepest first, again without following links.
  for (const d of dirTimes.reverse()) {
    try { const fd = openDirIn(d.loc, false); try { futimesSync(fd, d.mtime, d.mtime); } finally { closeSync(fd); } } catch { /* gone */ }
  }
}
