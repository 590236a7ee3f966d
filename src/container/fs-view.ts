/**
 * A container's filesystem as `docker cp` sees it: the root with the container's volumes, bind
 * mounts and network files (/etc/hosts, /etc/hostname, /etc/resolv.conf) laid over it, as dockerd's
 * private view of the container does. tmpfs mounts are not part of the view (Docker's neither):
 * their paths reach the directory beneath them in the root.
 *
 * Paths are resolved in the container's terms — `..` stops at `/`, absolute symlinks restart at the
 * container's `/` (not the host's), whichever mount they land in — and every host path handed out
 * is paired with the mount it lies in, so callers check descriptors against that mount's source.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, posix } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';
import { isInside, verifyInside, walkInRoot } from '../volume/index.js';

export type ViewMountKind = 'rootfs' | 'volume' | 'bind' | 'network';

export interface ViewMount {
  /** Where it appears in the container: normalised, symlinks resolved in the view. */
  destination: string;
  /** Real host path it maps to (a directory, or a file for file mounts). */
  source: string;
  rw: boolean;
  kind: ViewMountKind;
}

export interface ViewLocation {
  /** The canonical path in the container. */
  path: string;
  /** The host path it maps to. */
  host: string;
  mount: ViewMount;
  /** The path is the mount point itself (it cannot be replaced, only written into). */
  isMountRoot: boolean;
}


export class ContainerFsView {
  readonly rootMount: ViewMount;
  /** Longest destination first, so the innermost mount wins. */
  private readonly mounts: ViewMount[] = [];

  /** `mounts` in any order; missing sources are left out (nothing is mounted there). */
  constructor(root: string, rootRw: boolean, mounts: ViewMount[]) {
    this.rootMount = { destination: '/', source: realpathSync(root), rw: rootRw, kind: 'rootfs' };
    const ordered = [...mounts].sort((a, b) => depth(a.destination) - depth(b.destination) || a.destination.localeCompare(b.destination));
    for (const m of ordered) {
      if (!existsSync(m.source)) continue;
      // Destinations are followed through the container's own symlinks, as the runtime does when mounting.
      const destination = this.resolve(m.destination);
      if (destination === '/') continue;
      this.mounts.push({ ...m, destination, source: realpathSync(m.source) });
      this.mounts.sort((a, b) => b.destination.length - a.destination.length);
    }
  }

  /** Where the canonical container path `path` is on the host (no symlinks followed). */
  locate(path: string): ViewLocation {
    const p = posix.normalize('/' + path).replace(/(.)\/+$/, '$1');
    for (const m of this.mounts) {
      if (p === m.destination) return { path: p, host: m.source, mount: m, isMountRoot: true };
      if (p.startsWith(m.destination + '/')) return { path: p, host: join(m.source, p.slice(m.destination.length)), mount: m, isMountRoot: false };
    }
    return { path: p, host: p === '/' ? this.rootMount.source : join(this.rootMount.source, p), mount: this.rootMount, isMountRoot: p === '/' };
  }

  /**
   * The canonical container path of `path`: every symlink on the way followed in the container's
   * terms (the last one only when `followFinal`), a missing component taken literally.
   */
  resolve(path: string, followFinal = true): string {
    return '/' + walkInRoot(posix.normalize('/' + path), followFinal, (parts) => this.locate('/' + parts.join('/')).host).join('/');
  }

  /** The location of `path` with its parents resolved and the last component itself not followed. */
  lookup(path: string): ViewLocation {
    const clean = posix.normalize('/' + path);
    if (clean === '/') return this.locate('/');
    return this.locate(posix.join(this.resolve(posix.dirname(clean)), posix.basename(clean)));
  }

  /** Names of mount points directly inside the directory `dir` (they belong in its listing even if the root lacks them). */
  mountNamesIn(dir: string): string[] {
    return this.mounts.filter((m) => posix.dirname(m.destination) === dir).map((m) => posix.basename(m.destination));
  }

  /** Throws unless the real path of `host` still lies in the mount it was resolved to (a swapped-in symlink would not). */
  checkPath(loc: ViewLocation, what: string): void {
    if (!isInside(loc.mount.source, realpathSync(loc.host))) throw new InvalidParameterError(`${what} resolves outside the container's root`);
  }

  /** Throws unless the open descriptor really lies in the mount its path was resolved to. */
  checkFd(loc: ViewLocation, fd: number, what: string): void {
    verifyInside(loc.mount.source, fd, what);
  }
}

function depth(p: string): number { return p.split('/').filter(Boolean).length; }
