/**
 * dockerd puts a container's mount-point stubs (/etc/hosts, /etc/hostname, /etc/resolv.conf,
 * /.dockerenv, /dev/console, /proc, /sys, /dev/pts, /dev/shm, /etc/mtab) in an "init layer" between
 * the image and the read/write layer, so they never show in `docker diff` or `docker commit`. berth
 * has no init layer: the runtime creates the stubs in the read/write layer itself. This finds them
 * there — and the directories created or copied up only to hold them — so diff and commit leave
 * out exactly what Docker's init layer hides, while anything the container really changed stays.
 * Mount points of volumes and binds are not in Docker's init layer, and stay.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { PROCESS_UMASK } from '../layer/index.js';

const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

/** dockerd's init layer (daemon/initlayer): path → what it puts there. */
export const INIT_LAYER_PATHS: Readonly<Record<string, 'dir' | 'file' | 'symlink'>> = {
  '/dev/pts': 'dir', '/dev/shm': 'dir', '/proc': 'dir', '/sys': 'dir',
  '/.dockerenv': 'file', '/etc/resolv.conf': 'file', '/etc/hosts': 'file', '/etc/hostname': 'file', '/dev/console': 'file',
  '/etc/mtab': 'symlink',
};

function lstatOrNull(p: string): Stats | null { try { return lstatSync(p); } catch { return null; } }

/** The same path in the image: the first lower dir that has it (upper-most first), or null. */
function inLower(lower: string[], rel: string): Stats | null {
  for (const l of lower) { const st = lstatOrNull(join(l, rel)); if (st) return st; }
  return null;
}

/** An untouched stub: what the runtime leaves at a mount point, nothing the container wrote. */
function isStub(st: Stats, host: string, kind: 'dir' | 'file' | 'symlink'): boolean {
  if (kind === 'file') return st.isFile() && st.size === 0;
  if (kind === 'dir') { try { return st.isDirectory() && readdirSync(host).length === 0; } catch { return false; } }
  try { return st.isSymbolicLink() && readlinkSync(host) === '/proc/mounts'; } catch { return false; }
}

/**
 * Paths in the read/write layer `upper` (absolute container paths) that Docker's init layer would
 * have held instead: the stubs, and their parent directories when those hold nothing else, are new
 * or identical in owner and mode to the image's (a mere copy-up to create the stub).
 */
export function initLayerEntries(upper: string, lower: string[]): Set<string> {
  const out = new Set<string>();
  for (const [path, kind] of Object.entries(INIT_LAYER_PATHS)) {
    const host = join(upper, path);
    const st = lstatOrNull(host);
    if (st && isStub(st, host, kind)) out.add(path);
  }
  // Their parents (the init layer has /etc and /dev too), deepest first, so a parent is judged after its children.
  const parents = new Set<string>();
  for (const p of Object.keys(INIT_LAYER_PATHS)) for (let d = posix.dirname(p); d !== '/'; d = posix.dirname(d)) parents.add(d);
  for (const dir of [...parents].sort((a, b) => b.length - a.length)) {
    const host = join(upper, dir);
    const st = lstatOrNull(host);
    if (!st?.isDirectory()) continue;
    let names: string[];
    try { names = readdirSync(host); } catch { continue; }
    if (!names.every((n) => out.has(posix.join(dir, n)))) continue;
    const image = inLower(lower, dir);
    if (image && !(image.isDirectory() && image.uid === st.uid && image.gid === st.gid && (image.mode & 0o7777) === (st.mode & 0o7777))) continue;
    out.add(dir);
  }
  return out;
}

/** A filter for tar walks of `upper` (paths relative to it): false for init-layer entries. */
export function withoutInitLayer(upper: string, lower: string[]): (rel: string) => boolean {
  const skip = initLayerEntries(upper, lower);
  return (rel: string) => !skip.has('/' + rel.replace(/^\/+/, '').replace(/\/+$/, ''));
}

/**
 * The two stubs of Docker's init layer that no runtime mount makes: an empty /.dockerenv (how
 * programs tell they run in a container) and /etc/mtab → /proc/mounts, written into a new
 * container's read/write layer when the image has neither; diff and commit leave them out as above.
 * An /etc made to hold the link takes the image's owner and mode, as a copy-up would.
 */
export function writeInitStubs(upper: string, lower: string[]): void {
  // Only the syscalls that change something (a metadata write costs ~0.25 ms on the data root's ext4 here).
  if (!inLower(lower, '.dockerenv')) {
    writeFileSync(join(upper, '.dockerenv'), '', { mode: 0o755 });
    if (0o755 & PROCESS_UMASK) chmodSync(join(upper, '.dockerenv'), 0o755);
  }
  if (inLower(lower, 'etc/mtab')) return;
  const etc = inLower(lower, 'etc');
  if (etc && !etc.isDirectory()) return;   // an image whose /etc is not a directory keeps it so
  const mode = etc ? etc.mode & 0o7777 : 0o755;
  mkdirSync(join(upper, 'etc'), { mode });
  if (mode & (PROCESS_UMASK | 0o7000)) chmodSync(join(upper, 'etc'), mode);   // exactly, whatever the umask (mkdir drops the special bits)
  if (etc && (etc.uid !== EUID || etc.gid !== EGID)) chownSync(join(upper, 'etc'), etc.uid, etc.gid);
  symlinkSync('/proc/mounts', join(upper, 'etc', 'mtab'));
}
