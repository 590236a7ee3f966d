/**
 * `docker cp`: stat, tar out of and extract into a container's root, running or stopped (a
 * stopped one gets its overlay mounted for the copy). Every path is resolved inside the root
 * (resolveInRoot), files are opened with O_NOFOLLOW and each descriptor is checked through
 * /proc/self/fd, and directories are re-checked before they are read or written, so symlinks
 * — including ones swapped in during the copy — never reach the host.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, linkSync, chmodSync, lchownSync, fchownSync, fchmodSync, utimesSync, createReadStream, createWriteStream, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ConflictError, InvalidParameterError, NotFoundError, ForbiddenError } from '../errors/index.js';
import type { ImageStore } from '../image/index.js';
import { mountOverlay, unmount, isMounted } from '../layer/index.js';
import { isInside, resolveInRoot, verifyInside } from '../volume/index.js';
import type { ContainerService } from './container-service.js';
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

export class ContainerArchive {
  constructor(private readonly containers: ContainerService, private readonly images: ImageStore) {}

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

  private notFound(c: ContainerRecord, path: string): NotFoundError {
    return new NotFoundError(`Could not find the file ${path} in container ${c.Name}`);
  }

  /** The host path for `path` in the root: parents resolved in scope, the last component not followed. */
  private locate(root: string, path: string): string {
    if (!path) throw new InvalidParameterError('path cannot be empty');
    const clean = posix.normalize('/' + path);
    if (clean === '/') return root;
    const parent = resolveInRoot(root, posix.dirname(clean));
    return join(parent, posix.basename(clean));
  }

  async stat(ref: string, path: string): Promise<PathStat> {
    const c = this.containers.get(ref);
    return this.withRoot(c, async (root) => this.statIn(c, root, path));
  }

  private statIn(c: ContainerRecord, root: string, path: string): PathStat {
    const host = this.locate(root, path);
    let st: Stats;
    try { st = lstatSync(host); } catch { throw this.notFound(c, path); }
    let linkTarget = '';
    if (st.isSymbolicLink()) {
      // The CLI follows links (-L) by asking again for this target: give it as a path in the container.
      const resolved = resolveInRoot(root, posix.normalize('/' + path));
      linkTarget = '/' + resolved.slice(root.length).replace(/^\/+/, '');
    }
    return { name: posix.basename(posix.normalize('/' + path)) || '/', size: st.size, mode: goMode(st), mtime: st.mtime.toISOString(), linkTarget };
  }

  /** A tar of `path` (named by its base name) and its stat. */
  async get(ref: string, path: string, write: (stat: PathStat, tarStream: Readable) => Promise<void>): Promise<void> {
    const c = this.containers.get(ref);
    await this.withRoot(c, async (root) => {
      const stat = this.statIn(c, root, path);
      const host = this.locate(root, path);
      const pack = tar.pack();
      const name = stat.name === '/' ? '.' : stat.name;
      const done = (async () => {
        try { await packTree(pack, root, host, name); pack.finalize(); } catch (e) { pack.destroy(e as Error); }
      })();
      await write(stat, pack as unknown as Readable);
      await done;
    });
  }

  /** Extracts a tar into the directory `path`. */
  async put(ref: string, path: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    const c = this.containers.get(ref);
    if (c.HostConfig.ReadonlyRootfs) throw new ForbiddenError('container rootfs is marked read-only');
    await this.withRoot(c, async (root) => {
      const dest = resolveInRoot(root, posix.normalize('/' + path));
      let st: Stats;
      try { st = lstatSync(dest); } catch { throw this.notFound(c, path); }
      if (!st.isDirectory()) throw new InvalidParameterError('extraction point is not a directory');
      await extractInto(root, dest, body, opts);
    });
  }
}

/** Adds `host` (and below) to the tar as `name`, never following symlinks, checking every open. */
async function packTree(pack: tar.Pack, root: string, host: string, name: string): Promise<void> {
  const st = lstatSync(host);
  const header = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isSymbolicLink()) {
    pack.entry({ ...header, type: 'symlink', linkname: readlinkSync(host) });
  } else if (st.isDirectory()) {
    // Re-check right before reading: a parent swapped for a symlink would point elsewhere now.
    if (!isInside(root, realpathSync(host))) throw new InvalidParameterError(`${name} resolves outside the container's root`);
    pack.entry({ ...header, name: name.endsWith('/') ? name : name + '/', type: 'directory' });
    for (const child of readdirSync(host).sort()) await packTree(pack, root, join(host, child), posix.join(name, child));
  } else if (st.isFile()) {
    const fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      verifyInside(root, fd, name);
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
}

async function extractInto(root: string, dest: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
  const extract = tar.extract();
  const destRel = '/' + dest.slice(root.length).replace(/^\/+/, '');
  const dirTimes: { path: string; mtime: Date }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      void (async () => {
        const rel = posix.normalize('/' + header.name).replace(/\/+$/, '');
        if (rel === '/' || rel === '') { stream.resume(); return next(); }
        // Parents resolved in scope; the entry itself is never followed.
        const parentHost = resolveInRoot(root, posix.join(destRel, posix.dirname(rel)));
        const target = join(parentHost, posix.basename(rel));
        if (!isInside(root, target)) throw new InvalidParameterError(`${header.name} is outside the container's root`);
        mkdirSync(parentHost, { recursive: true });
        if (!isInside(root, realpathSync(parentHost))) throw new InvalidParameterError(`${header.name} resolves outside the container's root`);
        let existing: Stats | undefined;
        try { existing = lstatSync(target); } catch { /* new */ }
        const uid = opts.copyUIDGID ? header.uid ?? 0 : 0;
        const gid = opts.copyUIDGID ? header.gid ?? 0 : 0;
        const mode = (header.mode ?? 0o644) & 0o7777;
        if (header.type === 'directory') {
          if (existing && !existing.isDirectory()) {
            if (opts.noOverwriteDirNonDir) throw new ConflictError(`cannot overwrite non-directory "${rel}" with directory`);
            rmSync(target, { force: true });
            existing = undefined;
          }
          if (!existing) mkdirSync(target);
          if (!isInside(root, realpathSync(target))) throw new InvalidParameterError(`${header.name} resolves outside the container's root`);
          chmodSync(target, mode); lchownSync(target, uid, gid);
          if (header.mtime) dirTimes.push({ path: target, mtime: header.mtime });
          stream.resume();
        } else {
          if (existing?.isDirectory()) {
            if (opts.noOverwriteDirNonDir) throw new ConflictError(`cannot overwrite directory "${rel}" with non-directory`);
            rmSync(target, { recursive: true, force: true });
          } else if (existing) rmSync(target, { force: true });
          if (header.type === 'symlink') {
            symlinkSync(header.linkname ?? '', target); lchownSync(target, uid, gid); stream.resume();
          } else if (header.type === 'link') {
            const src = resolveInRoot(root, posix.join(destRel, posix.normalize('/' + (header.linkname ?? ''))), false);
            if (!isInside(root, src)) throw new InvalidParameterError(`hard link ${header.linkname} is outside the container's root`);
            linkSync(src, target); stream.resume();
          } else if (header.type === 'file' || header.type === 'contiguous-file' || !header.type) {
            const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
            try {
              verifyInside(root, fd, header.name);
              await pipeline(stream, createWriteStream('', { fd, autoClose: false }));
              fchownSync(fd, uid, gid); fchmodSync(fd, mode);
            } finally { closeSync(fd); }
            if (header.mtime) utimesSync(target, header.mtime, header.mtime);
          } else {
            stream.resume(); // devices and fifos are not created by cp
          }
        }
        next();
      })().catch((e) => { extract.destroy(e); reject(e); });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  body.on('error', (e) => extract.destroy(e));
  body.pipe(extract);
  await done;
  for (const d of dirTimes.reverse()) { try { utimesSync(d.path, d.mtime, d.mtime); } catch { /* gone */ } }
}
