/**
 * overlayfs mounts for container root filesystems, through src/hostops (Node has no mount syscall).
 * Options: redirect_dir and metacopy are forced off so every change lands as a full copy in the upper dir, which is
 * what diffTar needs to produce a complete layer; index is off so upper dirs stay portable.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { mount, umount, MS_BIND, MNT_DETACH, type HostOpError } from '../hostops/index.js';
import { InvalidParameterError, SystemError } from '../errors/index.js';

const MAX_OPTIONS = 4000;   // the kernel takes mount options in one page; keep a margin

/** Backslash-escapes the characters overlay's option parser treats specially in a path. */
function esc(p: string): string { return p.replace(/[\\,:]/g, (c) => '\\' + c); }

/**
 * Mounts an overlay of `lowerDirs` (topmost first) under the writable `upperDir` at `target`.
 * With zero lower dirs (an image with no layers) the upper dir is bind-mounted instead: the same view, no overlay.
 * Long lower-dir lists (beyond the kernel's one-page option limit) go through short temporary symlinks.
 */
export async function mountOverlay(lowerDirs: string[], upperDir: string, workDir: string, target: string): Promise<void> {
  fs.mkdirSync(upperDir, { recursive: true });
  fs.mkdirSync(workDir, { recursive: true });
  fs.mkdirSync(target, { recursive: true });
  if (lowerDirs.length === 0) {
    await mount({ source: upperDir, target, flags: MS_BIND }).catch((e: Error) => { throw new SystemError(`bind-mounting ${upperDir} on ${target} failed: ${e.message}`); });
    return;
  }
  const tail = `,upperdir=${esc(path.resolve(upperDir))},workdir=${esc(path.resolve(workDir))},index=off,redirect_dir=off,metacopy=off`;
  const lower = lowerDirs.map((d) => esc(path.resolve(d))).join(':');
  if (lower.length + tail.length + 9 <= MAX_OPTIONS) {
    await mountOverlayWith(`lowerdir=${lower}${tail}`, target);
    return;
  }
  // Too long for one page: mount through short numbered symlinks, from inside their dir. The kernel resolves them at
  // mount time, so they are removed right after.
  const links = fs.mkdtempSync(path.join(path.dirname(path.resolve(workDir)), '.lower-'));
  try {
    lowerDirs.forEach((d, i) => fs.symlinkSync(path.resolve(d), path.join(links, i.toString(36))));
    const short = lowerDirs.map((_, i) => i.toString(36)).join(':');
    if (short.length + tail.length + 9 > MAX_OPTIONS) throw new InvalidParameterError(`too many layers to mount (${lowerDirs.length})`);
    await mountOverlayWith(`lowerdir=${short}${tail}`, target, links);
  } finally {
    fs.rmSync(links, { recursive: true, force: true });
  }
}

function mountOverlayWith(options: string, target: string, cwd?: string): Promise<void> {
  return mount({ source: 'overlay', target: path.resolve(target), fstype: 'overlay', data: options, cwd })
    .catch((e: Error) => { throw new SystemError(`mounting overlay on ${target} failed: ${e.message}`); });
}

/** Unmounts `target`; not mounted or missing is fine; a busy mount is detached lazily. */
export async function unmount(target: string): Promise<void> {
  const gone = (e: HostOpError) => e.code === 'EINVAL' || e.code === 'ENOENT';
  try {
    await umount(target);
  } catch (e) {
    const err = e as HostOpError;
    if (gone(err)) return;
    if (err.code !== 'EBUSY') throw new SystemError(`unmounting ${target} failed: ${err.message}`);
    await umount(target, MNT_DETACH).catch((l: HostOpError) => {
      if (!gone(l)) throw new SystemError(`unmounting ${target} failed: ${l.message}`);
    });
  }
}

/** Whether `target` is a mount point (from /proc/self/mountinfo). */
export function isMounted(target: string): boolean { return mountPoints().has(path.resolve(target)); }

/** Every mount point of this mount namespace, as paths. */
export function mountPoints(): Set<string> { return new Set(mountTable().map((m) => m.point)); }

/** This mount namespace's mounts (/proc/self/mountinfo): mount point and optional fields (shared:N, master:N). */
export function mountTable(): { point: string; optional: string[] }[] {
  const out: { point: string; optional: string[] }[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === undefined) continue;
    const dash = f.indexOf('-', 6);
    out.push({ point: f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), optional: dash > 6 ? f.slice(6, dash) : [] });
  }
  return out;
}
