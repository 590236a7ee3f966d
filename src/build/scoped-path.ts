/**
 * Paths inside a root directory (an image's root filesystem or a build context) resolved the way
 * Docker's FollowSymlinkInScope does: symlinks are followed as if the root were `/`, so neither an
 * absolute link nor `..` can lead outside it.
 */
import { join } from 'node:path';
import { walkInRoot } from '../volume/index.js';
import { hostFs, type FsView } from './fs-view.js';

/** Docker's limit in FollowSymlinkInScope. */
const MAX_LINKS = 255;

/**
 * The host path of `p` (absolute or relative to the root) inside `root`. The last component is
 * followed too when it is a symlink unless `followLast` is false. Missing components are kept as written.
 * `fs` is where the root lives (the host, or the build context in memory).
 */
export function resolveInRoot(root: string, p: string, followLast = true, fs: Pick<FsView, 'lstat' | 'readlink'> = hostFs): string {
  return join(root, ...walkInRoot(p, followLast, (parts) => join(root, ...parts), { fs, maxLinks: MAX_LINKS }));
}

/** Go's path.Clean for slash paths that are relative to a context ("" and "/" mean "."). */
export function cleanRelative(p: string): string {
  const parts: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (parts.length && parts[parts.length - 1] !== '..') parts.pop();
      else parts.push('..');
      continue;
    }
    parts.push(s);
  }
  return parts.join('/') || '.';
}
