/**
 * What COPY/ADD read from their source root: the host file system (another stage's or an image's
 * root), or the build context held in memory (see context.ts). Paths are host paths either way.
 */
import { lstatSync, readdirSync, readlinkSync, writeSync, writevSync } from 'node:fs';

/** The parts of fs.Stats the builder looks at (fs.Stats is one). */
export interface EntryStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  atime: Date;
  mtime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface FsView {
  /** Like lstatSync: throws (code ENOENT/ENOTDIR) when the path does not exist. */
  lstat(path: string): EntryStat;
  readdir(path: string): string[];
  readlink(path: string): string;
  /** sha256 (hex) of a regular file's content when already known; otherwise the file is read. */
  digest?(path: string, st: EntryStat): string | undefined;
  /** A regular file's content when it is held in memory; otherwise it is read from the path. */
  contents?(path: string): readonly Buffer[] | undefined;
}

export const hostFs: FsView = {
  lstat: (p) => lstatSync(p),
  readdir: (p) => readdirSync(p),
  readlink: (p) => readlinkSync(p),
};

/** The host file system with content digests computed earlier (by host path, valid while the size is the same). */
export function hostFsWithDigests(known: ReadonlyMap<string, { size: number; digest: string }>): FsView {
  return {
    ...hostFs,
    digest: (p, st) => { const k = known.get(p); return k && k.size === st.size ? k.digest : undefined; },
  };
}

/** Writes buffers to a file descriptor in few system calls (writev, up to 512 buffers at a time). */
export function writeBuffers(fd: number, chunks: readonly Buffer[]): void {
  for (let i = 0; i < chunks.length; i += 512) {
    const batch = chunks.slice(i, i + 512);
    let written = writevSync(fd, batch);
    // a short write (rare for files): the rest one buffer at a time
    for (const c of batch) {
      if (written >= c.length) { written -= c.length; continue; }
      for (let off = written; off < c.length;) off += writeSync(fd, c, off);
      written = 0;
    }
  }
}
