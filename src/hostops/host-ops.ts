/**
 * The host operations of a container's start and exit — mounts and named network namespaces —
 * through berth-hostops, one long-lived root helper per process, instead of a mount(8) or ip(8)
 * process each (3-5 ms of fork and exec for the daemon, the syscall itself well under one).
 * Where the helper is not built (no C compiler) or has died, the same is done through those tools.
 * Failures carry the errno name as `code` (EINVAL for "not mounted", EBUSY, ENOENT, ...).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MS_BIND = 4096;
export const MNT_DETACH = 2;

const HELPER = fileURLToPath(new URL('../../native/berth-hostops', import.meta.url));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export class HostOpError extends Error {
  constructor(message: string, readonly code: string) { super(message); }
}

interface Waiting { resolve: () => void; reject: (e: Error) => void }

class HostOpsHelper {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly waiting = new Map<string, Waiting>();
  private buffered = '';
  private broken = !existsSync(HELPER);

  get available(): boolean { return !this.broken; }

  request(fields: string[]): Promise<void> {
    const child = this.ensure();
    const id = String(this.nextId++);
    return new Promise<void>((resolve, reject) => {
      // Only a pending request keeps the event loop alive; an idle helper never holds a process open.
      if (this.waiting.size === 0) refHandle(child.stdout, true);
      this.waiting.set(id, { resolve, reject });
      child.stdin!.write([id, ...fields].map((f) => `:${f}\0`).join('') + '\0');
    });
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(HELPER, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onReplies(d));
    child.stdin!.on('error', () => undefined);
    child.on('error', () => this.lost(child));
    child.on('exit', () => this.lost(child));
    child.unref();
    refHandle(child.stdin, false);
    refHandle(child.stdout, false);
    this.child = child;
    return child;
  }

  private onReplies(d: string): void {
    this.buffered += d;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const m = /^(\S+) (\d+)(?: (.*))?$/.exec(line);
      const w = m && this.waiting.get(m[1]);
      if (!m || !w) continue;
      this.waiting.delete(m[1]);
      if (this.waiting.size === 0 && this.child) refHandle(this.child.stdout, false);
      const errno = Number(m[2]);
      if (errno === 0) w.resolve();
      else w.reject(new HostOpError(m[3] ?? `errno ${errno}`, ERRNO_NAMES.get(errno) ?? `E${errno}`));
    }
  }

  /** A helper that died fails what it had; later requests use the tools. */
  private lost(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = null;
    this.broken = true;
    for (const w of this.waiting.values()) w.reject(new HostOpError('berth-hostops exited', 'EPIPE'));
    this.waiting.clear();
  }
}

function refHandle(stream: unknown, on: boolean): void {
  const h = stream as { ref?: () => void; unref?: () => void } | null;
  if (on) h?.ref?.(); else h?.unref?.();
}

const helper = new HostOpsHelper();

/** mount(2). Without the helper only the shapes mount(8) is asked for here: a bind, or a filesystem with options. */
export async function mount(o: { source: string; target: string; fstype?: string; flags?: number; data?: string; cwd?: string }): Promise<void> {
  if (helper.available) {
    return helper.request(['mount', o.source, o.target, o.fstype ?? '', String(o.flags ?? 0), o.data ?? '', o.cwd ?? '']);
  }
  const args = o.flags === MS_BIND ? ['--bind', o.source, o.target]
    : ['-t', o.fstype ?? 'none', ...(o.data ? ['-o', o.data] : []), o.source, o.target];
  await tool('mount', args, o.cwd);
}

/** umount2(2): EINVAL when `target` is not a mount point, ENOENT when it does not exist. */
export async function umount(target: string, flags = 0): Promise<void> {
  if (helper.available) return helper.request(['umount', target, String(flags)]);
  await tool('umount', [...(flags & MNT_DETACH ? ['-l'] : []), target]);
}

/** A new network namespace kept at `path` (in iproute2's /var/run/netns, so `ip -n NAME` finds it). */
export async function addNetns(path: string): Promise<void> {
  if (helper.available) return helper.request(['netns-add', path]);
  if (dirname(path) !== '/var/run/netns' && dirname(path) !== '/run/netns') throw new HostOpError(`ip netns add cannot make ${path}`, 'EINVAL');
  await tool('ip', ['netns', 'add', basename(path)]);
}

/** Removes a namespace made by addNetns (the kernel frees it with its last user). */
export async function deleteNetns(path: string): Promise<void> {
  if (helper.available) return helper.request(['netns-del', path]);
  await tool('ip', ['netns', 'del', basename(path)]);
}

/** The fallback: the tool's failure with an errno name read from its message. */
function tool(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const text = String(stderr || err.message).trim();
      const code = /not mounted|no mount point/i.test(text) ? 'EINVAL' : /busy/i.test(text) ? 'EBUSY'
        : /no such file|not found|does not exist/i.test(text) ? 'ENOENT' : /exists/i.test(text) ? 'EEXIST' : 'EIO';
      reject(new HostOpError(`${cmd} ${args.join(' ')}: ${text}`, code));
    });
  });
}
