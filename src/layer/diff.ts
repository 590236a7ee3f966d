/** Layer tars out of directories: an overlay upper dir (diffTar) or any plain tree (tarDirectory). */
import type * as fs from 'node:fs';
import { tarTree } from './tar-writer.js';
import { readTreeXattrs } from './xattr.js';

/**
 * A Docker layer tar of an overlay upper dir (or an unpacked layer's diff dir): whiteout devices become `.wh.NAME`,
 * opaque directories get `DIR/.wh..wh..opq`. `filter` leaves paths out (for a directory: its subtree). Deterministic: the same tree always gives the same bytes (and DiffID).
 */
export function diffTar(upperDir: string, opts: { filter?: (rel: string, stat: fs.Stats) => boolean } = {}): NodeJS.ReadableStream {
  return tarTree(upperDir, {}, async () => {
    const x = await readTreeXattrs(upperDir, true);
    return { overlay: { opaqueDirs: x.opaque }, xattrs: x.attrs, filter: opts.filter };
  });
}

export interface TarDirectoryOptions {
  /** Put everything under this name (and add an entry for the root itself); default: children at top level. */
  rootName?: string;
  /** Return false to leave a path out (for a directory: its subtree). `rel` is relative to `dir`. */
  filter?: (rel: string, stat: fs.Stats) => boolean;
  /** Force the owner of every entry (e.g. build contexts as 0:0). */
  owner?: { uid: number; gid: number };
}

/** A deterministic tar of a plain directory (docker export, build contexts, docker cp). A file gives one entry. */
export function tarDirectory(dir: string, opts: TarDirectoryOptions = {}): NodeJS.ReadableStream {
  const base = { rootName: opts.rootName, filter: opts.filter, owner: opts.owner };
  return tarTree(dir, base, async () => ({ ...base, xattrs: (await readTreeXattrs(dir, false)).attrs }));
}
