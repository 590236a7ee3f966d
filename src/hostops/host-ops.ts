/**
 * The host operations of a container's start and exit — mounts, named network namespaces, the
 * veth pairs of their endpoints (rtnetlink) — through berth-hostops, one long-lived root helper
 * per process, instead of a mount(8) or ip(8) process each (3-5 ms of fork and exec for the
 * daemon, the syscall itself well under one); and the tools that remain (ip batches, runc)
 * started by that helper, whose fork is cheap, rather than by the daemon, whose fork of a
 * hundred MB blocks its event loop for milliseconds. Where the helper is not built (no C
 * compiler) or has died, the same is done through the tools from here. Failures carry the errno
 * name as `code` (EINVAL for "not mounted", EBUSY, ENOENT, ...).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_BIND = 4096;
export const MNT_DETACH = 2;

const HELPER = fileURLToPath(new URL('../../native/berth-hostops', import.meta.url));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export class HostOpError extends Error {
  constructor(message: string, readonly code: string) { super(message); }
}

/** What a tool run through runTool did. */
export interface ToolResult { code: number; stdout: string; stderr: string }

interface Waiting { resolve: (r: ToolResult | undefined) => void; reject: (e: Error) => void }

/** Longest stdin the helper takes for a tool (it writes it into a pipe at once). */
const MAX_TOOL_INPUT = 60000;
/** Most arguments a tool gets through the helper (its request has room for 72 fields). */
const MAX_TOOL_ARGS = 64;

class HostOpsHelper {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly waiting = new Map<string, Waiting>();
  private buffered: Buffer = Buffer.alloc(0);
  // BERTH_NO_NATIVE_HELPERS=1: the tools only (what a machine without a C compiler gets).
  private broken = !!process.env.BERTH_NO_NATIVE_HELPERS || !existsSync(HELPER);

  get available(): boolean { return !this.broken; }

  /** The running helper's pid (undefined before its first request, or once it has died). */
  get pid(): number | undefined { return this.broken ? undefined : this.child?.pid; }

  request(fields: string[]): Promise<ToolResult | undefined> {
    const child = this.ensure();
    const id = String(this.nextId++);
    return new Promise<ToolResult | undefined>((resolve, reject) => {
      // Only a pending request keeps the event loop alive; an idle helper never holds a process open.
      if (this.waiting.size === 0) refHandle(child.stdout, true);
      this.waiting.set(id, { resolve, reject });
      child.stdin!.write([id, ...fields].map((f) => `:${f}\0`).join('') + '\0');
    });
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    // Its own process group: a Ctrl-C for the daemon's group must not take it away mid-shutdown;
    // it ends by itself when its stdin closes with the daemon.
    const child = spawn(HELPER, [], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    child.stdout!.on('data', (d: Buffer) => this.onReplies(d));
    child.stdin!.on('error', () => undefined);
    child.on('error', () => this.lost(child));
    child.on('exit', () => this.lost(child));
    child.unref();
    refHandle(child.stdin, false);
    refHandle(child.stdout, false);
    this.child = child;
    return child;
  }

  private onReplies(d: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, d]) : d;
    for (;;) {
      const nl = this.buffered.indexOf(10);
      if (nl < 0) return;
      const line = this.buffered.subarray(0, nl).toString('utf8');
      // A tool's answer: its status, then its stdout and stderr (lengths in the header line).
      const t = /^(\S+) =(\d+) (\d+) (\d+)$/.exec(line);
      if (t) {
        const outLen = Number(t[3]); const errLen = Number(t[4]);
        if (this.buffered.length < nl + 1 + outLen + errLen) return;
        const out = this.buffered.subarray(nl + 1, nl + 1 + outLen).toString('utf8');
        const err = this.buffered.subarray(nl + 1 + outLen, nl + 1 + outLen + errLen).toString('utf8');
        this.buffered = this.buffered.subarray(nl + 1 + outLen + errLen);
        this.settle(t[1], (w) => w.resolve({ code: Number(t[2]), stdout: out, stderr: err }));
        continue;
      }
      this.buffered = this.buffered.subarray(nl + 1);
      const m = /^(\S+) (\d+)(?: (.*))?$/.exec(line);
      if (!m) continue;
      const errno = Number(m[2]);
      this.settle(m[1], (w) => {
        if (errno === 0) w.resolve(undefined);
        else w.reject(new HostOpError(m[3] ?? `errno ${errno}`, ERRNO_NAMES.get(errno) ?? `E${errno}`));
      });
    }
  }

  private settle(id: string, fn: (w: Waiting) => void): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0 && this.child) refHandle(this.child.stdout, false);
    fn(w);
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
    await helper.request(['mount', o.source, o.target, o.fstype ?? '', String(o.flags ?? 0), o.data ?? '', o.cwd ?? '']);
    return;
  }
  const flagOptions = ([[MS_NOSUID, 'nosuid'], [MS_NODEV, 'nodev'], [MS_NOEXEC, 'noexec']] as const).filter(([f]) => (o.flags ?? 0) & f).map(([, n]) => n);
  const options = [...flagOptions, ...(o.data ? [o.data] : [])].join(',');
  const args = o.flags === MS_BIND ? ['--bind', o.source, o.target]
    : ['-t', o.fstype ?? 'none', ...(options ? ['-o', options] : []), o.source, o.target];
  await tool('mount', args, o.cwd);
}

/** umount2(2): EINVAL when `target` is not a mount point, ENOENT when it does not exist. */
export async function umount(target: string, flags = 0): Promise<void> {
  if (helper.available) { await helper.request(['umount', target, String(flags)]); return; }
  await tool('umount', [...(flags & MNT_DETACH ? ['-l'] : []), target]);
}

/** A new network namespace kept at `path` (in iproute2's /var/run/netns, so `ip -n NAME` finds it). */
export async function addNetns(path: string): Promise<void> {
  if (helper.available) { await helper.request(['netns-add', path]); return; }
  if (dirname(path) !== '/var/run/netns' && dirname(path) !== '/run/netns') throw new HostOpError(`ip netns add cannot make ${path}`, 'EINVAL');
  await tool('ip', ['netns', 'add', basename(path)]);
}

/** Removes a namespace made by addNetns (the kernel frees it with its last user). */
export async function deleteNetns(path: string): Promise<void> {
  if (helper.available) { await helper.request(['netns-del', path]); return; }
  await tool('ip', ['netns', 'del', basename(path)]);
}

/** A container's network endpoint: a veth pair with one end in a bridge, the other inside a namespace. */
export interface VethPairSpec {
  /** The namespace's path (a named one: /var/run/netns/NAME). */
  netnsPath: string;
  /** The host end, put in `bridge` and set up with hairpin mode on. */
  hostName: string;
  /** The peer's name inside the namespace (eth0). */
  ifName: string;
  bridge: string;
  /** The peer's MAC address, aa:bb:cc:dd:ee:ff. */
  mac: string;
  mtu?: number;
  /** The peer's IPv4 address with its prefix, 10.0.0.2/24. */
  addressCidr: string;
  /** The default route's gateway; none when absent. */
  gateway?: string;
  /** Sets the namespace's loopback up as well. */
  loopbackUp: boolean;
  /** Replaces a default route already there instead of failing with EEXIST. */
  replaceDefaultRoute?: boolean;
}

function needHelper(what: string): void {
  if (!helper.available) throw new HostOpError(`${what} needs berth-hostops, which is not available`, 'ENOSYS');
}

/**
 * Creates a veth pair through rtnetlink in the helper, as `ip link add HOST master BRIDGE up type
 * veth peer IFNAME netns NS address MAC` and then lo up, IFNAME up, its address and default route
 * inside the namespace. On a failure nothing is left behind (the host end is deleted again); the
 * error's code is the errno (EEXIST: a name in use, ENODEV: no such bridge) and its message names the
 * step that failed. Only with the helper (helperAvailable()); without it the caller runs ip(8).
 */
export async function addVethPair(s: VethPairSpec): Promise<void> {
  needHelper('addVethPair');
  await helper.request(['veth', s.netnsPath, s.hostName, s.ifName, s.bridge, s.mac, s.mtu ? String(s.mtu) : '',
    s.addressCidr, s.gateway ?? '', s.loopbackUp ? '1' : '0', s.replaceDefaultRoute ? '1' : '0']);
}

/** Sets the loopback up inside the namespace at `netnsPath`. Only with the helper. */
export async function loopbackUp(netnsPath: string): Promise<void> {
  needHelper('loopbackUp');
  await helper.request(['lo-up', netnsPath]);
}

/** Deletes a link of the host's namespace by name (a veth takes its peer along); ENODEV when there is none. Only with the helper. */
export async function deleteLinkByName(name: string): Promise<void> {
  needHelper('deleteLinkByName');
  await helper.request(['link-del', name]);
}

/** Whether the helper is there to start programs (spawnDetached); without it the caller spawns them itself. */
export function helperAvailable(): boolean { return helper.available; }

/** Where the helper keeps the sealed copy (sealedCopy). */
const SEALED_COPY_FD = 200;
let sealedCopyMade = false;

/**
 * Has the helper keep a copy of the executable at `path` in a memfd sealed against any change
 * (what runc's memfd-bind tool makes: runc run from it skips copying itself at every start).
 * False without the helper, or when the kernel refuses.
 */
export async function sealedCopy(path: string): Promise<boolean> {
  if (!helper.available) return false;
  try { await helper.request(['sealed-copy', path, String(SEALED_COPY_FD)]); } catch { return false; }
  sealedCopyMade = true;
  return true;
}

/** The path to execute the sealed copy by while the helper that holds it lives; else undefined. */
export function sealedCopyPath(): string | undefined {
  const pid = helper.pid;
  return sealedCopyMade && pid ? `/proc/${pid}/fd/${SEALED_COPY_FD}` : undefined;
}

/** A FIFO at each path (mode 0600), for a program started by spawnDetached; one request for all. */
export async function makeFifo(...paths: string[]): Promise<void> { await helper.request(['mkfifo', ...paths]); }

/**
 * Starts a long-lived program (conmon) from the helper, in its own session, without waiting for it:
 * stdin and stdout /dev/null, stderr into the file `stderrPath`, fd 3 the FIFO `fd3Path` (its
 * reader must already be open here), `env` added to the daemon's environment. Only with the helper.
 */
export async function spawnDetached(o: { cmd: string; args: string[]; cwd: string; env: Record<string, string>; stderrPath: string; fd3Path: string }): Promise<void> {
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  if (env.some((e) => e.includes('\n'))) throw new HostOpError('an environment value with a newline', 'EINVAL');
  await helper.request(['spawn', o.cwd, o.stderrPath, o.fd3Path, env.join('\n'), o.cmd, ...o.args]);
}

/**
 * Runs a tool (ip, runc, ...) with `input` on its stdin and resolves with its exit status and
 * output, whatever the status; rejects only when it could not be run at all.
 */
export async function runTool(cmd: string, args: string[], input = ''): Promise<ToolResult> {
  if (helper.available && args.length <= MAX_TOOL_ARGS && Buffer.byteLength(input) <= MAX_TOOL_INPUT
    && !input.includes('\0') && ![cmd, ...args].some((a) => a.includes('\0'))) {
    const r = await helper.request(['run', input, cmd, ...args]).catch((e: HostOpError) => {
      if (e.code === 'EPIPE') return undefined;   // the helper died meanwhile: run it from here
      throw e;
    });
    if (r) return r;
  }
  return execTool(cmd, args, input);
}

/** A tool run from this process (no helper). */
function execTool(cmd: string, args: string[], input = '', cwd?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20, cwd }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (err && typeof code !== 'number') return reject(new HostOpError(`${cmd}: ${err.message}`, typeof code === 'string' ? code : 'EIO'));
      resolve({ code: err ? (code as number) : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** The fallback of the operations above: the tool's failure with an errno name read from its message. */
async function tool(cmd: string, args: string[], cwd?: string): Promise<void> {
  const r = await execTool(cmd, args, '', cwd);
  if (r.code === 0) return;
  const text = r.stderr.trim();
  const code = /not mounted|no mount point/i.test(text) ? 'EINVAL' : /busy/i.test(text) ? 'EBUSY'
    : /no such file|not found|does not exist/i.test(text) ? 'ENOENT' : /exists/i.test(text) ? 'EEXIST' : 'EIO';
  throw new HostOpError(`${cmd} ${args.join(' ')}: ${text}`, code);
}
