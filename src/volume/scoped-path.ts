/**
 * Paths inside a container's root, resolved the way the kernel would inside a chroot: `..` stops
 * at the root, absolute symlinks restart at the root, so a symlink in the container can never
 * name a host path. `verifyInside` re-checks an opened descriptor through /proc/self/fd, which
 * catches a component swapped for a symlink between resolving and opening.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';

const MAX_LINKS = 40;

/** What a walk reads links with: the host's filesystem, or a build context held elsewhere. */
export interface LinkReader { lstat(path: string): { isSymbolicLink(): boolean }; readlink(path: string): string }
const hostLinks: LinkReader = { lstat: (p) => lstatSync(p), readlink: (p) => readlinkSync(p) };

/**
 * Walks `path` a component at a time with `/` as the root: `..` stops at the root, an absolute
 * symlink starts again there, a missing component is taken literally; the final symlink is
 * followed only when `followFinal`. Returns the canonical components. `hostOf` says where
 * canonical components lie on the host (a root directory, or a container's mounts).
 */
export function walkInRoot(path: string, followFinal: boolean, hostOf: (parts: string[]) => string,
  opts: { fs?: LinkReader; maxLinks?: number } = {}): string[] {
  const fs = opts.fs ?? hostLinks;
  const maxLinks = opts.maxLinks ?? MAX_LINKS;
  let parts = path.split('/').filter((p) => p && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '..') { done.pop(); continue; }
    const host = hostOf([...done, part]);
    let isLink = false;
    try { isLink = fs.lstat(host).isSymbolicLink(); } catch { /* missing: the rest is taken literally */ }
    if (isLink && (parts.length > 0 || followFinal)) {
      if (++links > maxLinks) throw new InvalidParameterError(`too many levels of symbolic links: ${path}`);
      const target = fs.readlink(host);
      if (target.startsWith('/')) done.length = 0;
      parts = [...target.split('/').filter((p) => p && p !== '.'), ...parts];
      continue;
    }
    done.push(part);
  }
  return done;
}

/** Host path of `path` inside `root`; follows the final symlink only when `followFinal`. */
export function resolveInRoot(root: string, path: string, followFinal = true): string {
  const rootClean = root.replace(/\/+$/, '') || '/';
  return join(rootClean, ...walkInRoot(posix.normalize('/' + path), followFinal, (parts) => join(rootClean, ...parts)));
}

/** True when host path `p` is `root` or below it. */
export function isInside(root: string, p: string): boolean {
  const r = root.replace(/\/+$/, '');
  return p === r || p.startsWith(r + '/');
}

/** Throws unless the open descriptor `fd` really lies inside `root` (defeats swapped symlinks). */
export function verifyInside(root: string, fd: number, what: string): void {
  let real: string;
  try { real = readlinkSync(`/proc/self/fd/${fd}`); } catch { throw new InvalidParameterError(`cannot verify ${what}`); }
  if (!isInside(root, real)) throw new InvalidParameterError(`${what} resolves outside the container's root`);
}
