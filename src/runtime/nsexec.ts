/**
 * The fast exec path: berth-nsexec (src/runtime/native/berth-nsexec.c) enters a running
 * container the way `runc exec` does, without runc or conmon. This module turns the container's
 * config.json, runc's state.json and an exec's OCI process spec into the helper's arguments,
 * compiles the container's seccomp profile once into a BPF file the helper loads per exec, and
 * runs the exec: through one long-lived `berth-nsexec serve` per daemon (it forks, so the daemon
 * never does), or by spawning the helper when no server socket can be made.
 *
 * Anything the helper does not implement (AppArmor/SELinux labels, user namespaces, seccomp
 * notify, a terminal, ...) makes `nsexecPlan` return undefined: the caller then uses runc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SystemError } from '../errors/index.js';
import { CAP_NAMES } from './oci-spec.js';

/** <outDir>/src/runtime/nsexec.js → <outDir>/native/berth-nsexec (built by scripts/build-native.mjs). */
const HELPER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'berth-nsexec');

let helperFound: boolean | undefined;
/** The helper binary, or undefined when it was not built or BERTH_NO_NATIVE_HELPERS is set (then every exec goes through runc). */
export function nsexecBinary(): string | undefined {
  helperFound ??= !process.env.BERTH_NO_NATIVE_HELPERS && existsSync(HELPER);
  return helperFound ? HELPER : undefined;
}

const RLIMITS = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC',
  'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];

/** OCI namespace types the child joins with one setns(pidfd, flags); pid is joined by the parent. */
const NS_FLAGS: Record<string, number> = {
  mount: 0x00020000, uts: 0x04000000, ipc: 0x08000000, network: 0x40000000, cgroup: 0x02000000,
};

const SECCOMP_FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1, SECCOMP_FILTER_FLAG_LOG: 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};
const SECCOMP_ACTIONS: Record<string, string> = {
  SCMP_ACT_ALLOW: 'allow', SCMP_ACT_ERRNO: 'errno', SCMP_ACT_KILL: 'kill_thread', SCMP_ACT_KILL_THREAD: 'kill_thread',
  SCMP_ACT_KILL_PROCESS: 'kill_process', SCMP_ACT_TRAP: 'trap', SCMP_ACT_TRACE: 'trace', SCMP_ACT_LOG: 'log',
};
const SECCOMP_OPS: Record<string, string> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq', SCMP_CMP_GE: 'ge', SCMP_CMP_GT: 'gt',
  SCMP_CMP_MASKED_EQ: 'masked_eq',
};
const EPERM = 1;

class Unsupported extends Error {}

export interface SeccompSpec {
  defaultAction: string; defaultErrnoRet?: number; architectures?: string[]; flags?: string[]; listenerPath?: string;
  syscalls?: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo?: number; op: string }[] }[];
}

/**
 * The container's seccomp profile in the helper's line format (see berth-nsexec.c), as runc
 * builds its filter: per-rule and default errno (EPERM when unset), conditions on different
 * arguments ANDed in one rule, conditions sharing an argument each a rule of its own.
 */
export function seccompLines(s: SeccompSpec): string {
  if (s.listenerPath) throw new Unsupported('seccomp notify');
  const act = (name: string, ret: number | undefined) => {
    const a = SECCOMP_ACTIONS[name];
    if (!a) throw new Unsupported(`seccomp action ${name}`);
    return `${a} ${a === 'errno' || a === 'trace' ? ret ?? EPERM : 0}`;
  };
  const lines = [`default ${act(s.defaultAction, s.defaultErrnoRet)}`];
  for (const a of s.architectures ?? []) lines.push(`arch ${a.replace(/^SCMP_ARCH_/, '').toLowerCase()}`);
  for (const r of s.syscalls ?? []) {
    const action = act(r.action, r.errnoRet);
    const conds = (r.args ?? []).map((c) => {
      const op = SECCOMP_OPS[c.op];
      if (!op) throw new Unsupported(`seccomp operator ${c.op}`);
      return `${c.index} ${op} ${BigInt(c.value)} ${BigInt(c.valueTwo ?? 0)}`;
    });
    const perArg = new Map<number, number>();
    for (const c of r.args ?? []) perArg.set(c.index, (perArg.get(c.index) ?? 0) + 1);
    const groups = [...perArg.values()].some((n) => n > 1) ? conds.map((c) => [c]) : [conds];
    for (const name of r.names ?? []) for (const g of groups) lines.push(`rule ${action} ${name} ${g.length}${g.length ? ' ' + g.join(' ') : ''}`);
  }
  return lines.join('\n') + '\n';
}

const compiling = new Map<string, Promise<string>>();
/** Per cache dir: the last profile (as JSON) and its BPF file, so an exec skips the conversion. */
const compiled = new Map<string, { json: string; file: string }>();

/** Compiles a profile once into <cacheDir>/exec-seccomp-<hash>.bpf; later calls find the file. */
export async function compiledSeccomp(binary: string, cacheDir: string, s: SeccompSpec): Promise<string> {
  const json = JSON.stringify(s);
  const known = compiled.get(cacheDir);
  if (known && known.json === json && existsSync(known.file)) return known.file;
  const lines = seccompLines(s);
  const file = join(cacheDir, `exec-seccomp-${createHash('sha256').update(lines).digest('hex').slice(0, 16)}.bpf`);
  if (compiled.size > 256) compiled.clear();   // removed containers leave entries behind
  if (existsSync(file)) { compiled.set(cacheDir, { json, file }); return file; }
  let p = compiling.get(file);
  if (!p) {
    p = new Promise<Buffer>((resolve, reject) => {
      const child = spawn(binary, ['seccomp-compile'], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
      const out: Buffer[] = []; let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d) => { err += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new SystemError(`compiling the container's seccomp filter failed: ${err.trim() || `exit ${code}`}`))));
      child.stdin.on('error', () => undefined);
      child.stdin.end(lines);
    }).then(async (bpf) => {
      const tmp = `${file}.tmp-${process.pid}`;
      await fsp.writeFile(tmp, bpf, { mode: 0o600 });
      await fsp.rename(tmp, file);
      compiled.set(cacheDir, { json, file });
      return file;
    }).finally(() => compiling.delete(file));
    compiling.set(file, p);
  }
  return p;
}

interface RuncState { init_process_pid: number; init_process_start: number | string; cgroup_paths?: Record<string, string> }
const stateCache = new Map<string, { key: string; state: RuncState }>();

/** runc's state.json, parsed again only when runc rewrote it (a restart: a new file, renamed in). */
function readState(path: string): RuncState {
  const st = statSync(path);
  const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
  const hit = stateCache.get(path);
  if (hit && hit.key === key) return hit.state;
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const state: RuncState = { init_process_pid: raw.init_process_pid, init_process_start: raw.init_process_start, cgroup_paths: raw.cgroup_paths };
  if (stateCache.size > 256) stateCache.clear();   // removed containers leave entries behind
  stateCache.set(path, { key, state });
  return state;
}

function capMask(names: string[] | undefined): string {
  let m = 0n;
  for (const n of names ?? []) { const i = CAP_NAMES.indexOf(n.replace(/^CAP_/, '')); if (i >= 0) m |= 1n << BigInt(i); }   // runc ignores unknown names too
  return m.toString(16);
}

export interface NsexecTarget {
  /** Container ID (names the session keyring, as runc does). */
  id: string;
  /** The container's OCI config (config.json). */
  config: { process?: Record<string, any>; linux?: Record<string, any> };
  /** runc's state.json for the container. */
  statePath: string;
  /** A daemon-owned directory of the container where the compiled seccomp filter is kept. */
  cacheDir: string;
}

/**
 * The helper's arguments for running `proc` (an OCI process spec) in the container, or
 * undefined when the helper cannot do all the spec asks (the caller then uses runc).
 * `home` is HOME for an environment without one (runc adds it from the container's passwd).
 */
export async function nsexecPlan(t: NsexecTarget, proc: Record<string, any>, home: string): Promise<string[] | undefined> {
  const binary = nsexecBinary();
  if (!binary) return undefined;
  try {
    const linux = t.config.linux ?? {};
    if (proc.terminal || proc.apparmorProfile || proc.selinuxLabel || proc.ioPriority || proc.scheduler || proc.execCPUAffinity) throw new Unsupported('process option');
    if (linux.mountLabel || linux.personality || linux.intelRdt) throw new Unsupported('linux option');
    let state: RuncState;
    try { state = readState(t.statePath); } catch { throw new Unsupported('no readable runc state'); }   // runc then says why
    if (!(state.init_process_pid > 0) || !state.init_process_start) throw new Unsupported('no init in state.json');
    let ns = 0; let pidns = 0;
    for (const n of (linux.namespaces ?? []) as { type: string }[]) {
      if (n.type === 'pid') pidns = 1;
      else if (NS_FLAGS[n.type]) ns |= NS_FLAGS[n.type];
      else throw new Unsupported(`namespace ${n.type}`);
    }
    const args = ['exec', `pid=${state.init_process_pid}`, `start=${state.init_process_start}`, `ns=${ns}`, `pidns=${pidns}`];
    for (const dir of new Set(Object.values(state.cgroup_paths ?? {}))) args.push(`cgroup=${dir}`);
    args.push(`keyring=_ses.${t.id}`);
    const user = proc.user ?? {};
    args.push(`uid=${user.uid ?? 0}`, `gid=${user.gid ?? 0}`, `groups=${(user.additionalGids ?? []).join(',')}`);
    if (user.umask !== undefined) args.push(`umask=${Number(user.umask).toString(8)}`);
    for (const r of (proc.rlimits ?? []) as { type: string; soft: number; hard: number }[]) {
      const i = RLIMITS.indexOf(r.type);
      if (i < 0) throw new Unsupported(`rlimit ${r.type}`);
      args.push(`rlimit=${i}:${BigInt(r.soft)}:${BigInt(r.hard)}`);
    }
    if (proc.oomScoreAdj !== undefined) args.push(`oom=${proc.oomScoreAdj}`);
    const caps = proc.capabilities ?? {};
    args.push(`capb=${capMask(caps.bounding)}`, `cape=${capMask(caps.effective)}`, `capp=${capMask(caps.permitted)}`,
      `capi=${capMask(caps.inheritable)}`, `capa=${capMask(caps.ambient)}`, `nnp=${proc.noNewPrivileges ? 1 : 0}`);
    if (linux.seccomp) {
      const s = linux.seccomp as SeccompSpec;
      let flags = 0;
      for (const f of s.flags ?? []) { if (SECCOMP_FLAGS[f] === undefined) throw new Unsupported(`seccomp flag ${f}`); flags |= SECCOMP_FLAGS[f]; }
      args.push(`seccomp=${await compiledSeccomp(binary, t.cacheDir, s)}`, `seccompflags=${flags}`);
    }
    args.push(`cwd=${proc.cwd || '/'}`);
    const env: string[] = proc.env ?? [];
    for (const e of env) args.push(`env=${e}`);
    if (!env.some((e) => e.startsWith('HOME='))) args.push(`env=HOME=${home}`);
    for (const a of (proc.args ?? []) as string[]) args.push(`arg=${a}`);
    return args;
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/** A start failure, in runc's words; `code` is Docker's exit code for it (126, or 127 for not found). */
export class NsexecStartError extends SystemError {
  constructor(message: string, readonly code: number) { super(message); }
}

export interface NsexecProcess {
  /** The process's pid on the host. */
  pid: number;
  /** The process's stdin (when asked for). */
  stdin: Writable | null;
  /** The exit code (128+signal when killed). */
  exited: Promise<number>;
  /** stdout and stderr have both ended (all output was handed to `output`). */
  outputEnded: Promise<void>;
}

export interface NsexecOptions {
  stdin: boolean;
  /** Where stdout (1) and stderr (2) go; without it they are /dev/null. */
  output?: (stream: 1 | 2, data: Buffer) => void;
  /** A directory for the helper server's socket (the daemon's socket dir); without it each exec spawns the helper. */
  socketDir?: string;
}

/**
 * A readable caught from its first moment: data is kept until a consumer drains it, the end is
 * seen whenever it comes. (Node ends a socket that hit EOF even while paused, and drains the
 * pipes of an exited child, so listeners added later would miss both.)
 */
class Caught {
  private chunks: Buffer[] | null = [];
  private consumer?: (d: Buffer) => void;
  readonly ended: Promise<void>;

  constructor(stream: Readable, first?: Buffer) {
    if (first?.length) this.chunks!.push(first);
    stream.on('data', (d: Buffer) => { if (this.consumer) this.consumer(d); else this.chunks!.push(d); });
    stream.on('error', () => undefined);
    this.ended = new Promise<void>((resolve) => { stream.once('end', resolve); stream.once('close', resolve); });
    // Only read from here: once the peer is done, the descriptor goes (a half-open socket would stay open for good).
    void this.ended.then(() => stream.destroy());
  }

  drain(consumer: (d: Buffer) => void): void {
    this.consumer = consumer;
    for (const c of this.chunks ?? []) consumer(c);
    this.chunks = null;
  }
}

/** One exec's end of the helper: its report lines and the process's stdio. */
interface Channel {
  report: Caught;
  stdin: Writable | null;
  stdout: Caught | null;
  stderr: Caught | null;
  /** The exit status, when the helper is our own child; else it comes as {"exit":N} on the report. */
  exit?: Promise<number>;
}

/**
 * Runs `plan` in the container. Resolves once the process runs, rejects with NsexecStartError
 * when it could not be started.
 */
export async function startNsexec(plan: string[], opts: NsexecOptions): Promise<NsexecProcess> {
  const binary = nsexecBinary();
  if (!binary) throw new SystemError('berth-nsexec is not built');
  const stdio = { stdin: opts.stdin, stdout: !!opts.output, stderr: !!opts.output };
  let server = opts.socketDir ? serverFor(binary, opts.socketDir) : undefined;
  if (server) { try { await server.ready(); } catch { server = undefined; } }   // no socket here: spawn per exec
  const channel = server ? await server.request(plan, stdio) : spawnChannel(binary, plan, stdio);
  return run(channel, opts.output);
}

/** The helper as our own child, its stdio pipes to us (used without a server). */
function spawnChannel(binary: string, plan: string[], stdio: { stdin: boolean; stdout: boolean; stderr: boolean }): Channel {
  const child = spawn(binary, plan, {
    stdio: [stdio.stdin ? 'pipe' : 'ignore', stdio.stdout ? 'pipe' : 'ignore', stdio.stderr ? 'pipe' : 'ignore', 'pipe'],
    env: {},
    detached: true,   // its own process group: a signal for the daemon's group is not for it
  });
  const exit = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] ?? 1 : 1)));
    child.once('error', () => resolve(126));
  });
  const caught = (r: Readable | null) => (r ? new Caught(r) : null);
  return { report: new Caught(child.stdio[3] as Readable), stdin: child.stdin, stdout: caught(child.stdout), stderr: caught(child.stderr), exit };
}

/** Relays a channel: output from the first byte on, the pid (or the start failure), the exit status. */
function run(ch: Channel, out: NsexecOptions['output']): Promise<NsexecProcess> {
  ch.stdout?.drain((d) => out?.(1, d));
  ch.stderr?.drain((d) => out?.(2, d));
  const outputEnded = Promise.all([ch.stdout?.ended, ch.stderr?.ended]).then(() => undefined);
  ch.stdin?.on('error', () => undefined);
  return new Promise<NsexecProcess>((resolve, reject) => {
    let buf = '';
    let started = false;
    let settled = false;
    let resolveExit!: (code: number) => void;
    const exited = new Promise<number>((r) => { resolveExit = r; });
    if (ch.exit) void ch.exit.then((code) => resolveExit(code));
    // Nothing reads the process's stdin once it has exited: its descriptor goes too.
    void exited.then(() => ch.stdin?.destroy());
    const fail = (message: string, code = 126) => { if (!settled) { settled = true; reject(new NsexecStartError(message, code)); } };
    const line = (text: string) => {
      let msg: { pid?: number; exit?: number; code?: number; message?: string } = {};
      try { msg = JSON.parse(text); } catch { /* below */ }
      if (!started && msg.pid && msg.pid > 0) { started = settled = true; resolve({ pid: msg.pid, stdin: ch.stdin, exited, outputEnded }); }
      else if (!started) fail(msg.message ?? `berth-nsexec: unreadable report ${text.slice(0, 200)}`, msg.code === 127 ? 127 : 126);
      else if (typeof msg.exit === 'number') resolveExit(msg.exit);
    };
    ch.report.drain((d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) { line(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
    });
    void ch.report.ended.then(() => {
      if (!started) { if (ch.exit) void ch.exit.then((code) => fail(`berth-nsexec failed (exit ${code})`)); else fail('berth-nsexec closed its report without a word'); }
      else if (!ch.exit) resolveExit(255);   // the exec parent died without a word: its status is lost
    });
  });
}

/**
 * The long-lived helper server of one daemon (`berth-nsexec serve`): the daemon writes one
 * request per exec on its stdin and never forks itself — forking a process the daemon's size
 * costs milliseconds with the event loop blocked. The server's exec parents connect back to a
 * unix socket here, one connection per stream, each introduced by "<token> <kind>\n".
 */
class NsexecServer {
  private proc?: ChildProcess;
  private listening?: Promise<void>;
  private readonly pending = new Map<string, { want: Set<string>; got: Map<string, Socket | Caught>; socks: Socket[]; resolve: (c: Channel) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listener: Server;

  constructor(private readonly binary: string, private readonly socketPath: string) {
    this.listener = createServer({ allowHalfOpen: true }, (sock) => this.accept(sock));
    this.listener.on('error', () => undefined);
    this.listener.unref();
  }

  /** Listens and has a server process running; rejects when this daemon cannot listen there. */
  async ready(): Promise<void> {
    this.listening ??= (async () => {
      await fsp.mkdir(dirname(this.socketPath), { recursive: true });
      await fsp.rm(this.socketPath, { force: true });
      await new Promise<void>((resolve, reject) => { this.listener.once('error', reject); this.listener.listen(this.socketPath, () => { this.listener.off('error', reject); resolve(); }); });
      await fsp.chmod(this.socketPath, 0o600);
    })();
    await this.listening;
    if (this.proc) return;
    const proc = spawn(this.binary, ['serve', this.socketPath], { stdio: ['pipe', 'ignore', 'inherit'], env: {}, detached: true });
    const gone = () => {
      if (this.proc !== proc) return;
      this.proc = undefined;   // the next exec starts a new one
      for (const [token, p] of this.pending) { clearTimeout(p.timer); this.pending.delete(token); p.reject(new NsexecStartError('berth-nsexec server exited', 126)); }
    };
    proc.once('exit', gone);
    proc.once('error', gone);
    proc.stdin!.on('error', () => undefined);
    // Neither keeps the daemon alive; the server ends when its stdin closes with the daemon.
    proc.unref();
    (proc.stdin as unknown as Socket).unref();
    this.proc = proc;
  }

  async request(plan: string[], stdio: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<Channel> {
    await this.ready();
    const token = randomBytes(16).toString('hex');
    const want = new Set(['report', ...(['stdin', 'stdout', 'stderr'] as const).filter((k) => stdio[k])]);
    const body = Buffer.from([`token=${token}`, `stdio=${+stdio.stdin}${+stdio.stdout}${+stdio.stderr}`, ...plan.slice(1)].map((a) => a + '\0').join(''));
    return new Promise<Channel>((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(token);
        this.pending.delete(token);
        for (const sock of p?.socks ?? []) sock.destroy();
        reject(new NsexecStartError('berth-nsexec did not answer', 126));
      }, 30_000);   // also keeps the event loop alive until the connections are in
      this.pending.set(token, { want, got: new Map(), socks: [], resolve, reject, timer });
      this.proc!.stdin!.write(Buffer.concat([Buffer.from(`${body.length}\n`), body]));
    });
  }

  /** A connection from an exec parent: read its header, then hand the socket to its request. */
  private accept(sock: Socket): void {
    let head = Buffer.alloc(0);
    sock.on('error', () => undefined);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) { if (head.length > 200) sock.destroy(); return; }
      sock.off('data', onData);
      const [token, kind] = head.subarray(0, nl).toString().split(' ');
      const p = this.pending.get(token);
      if (!p || !p.want.has(kind) || p.got.has(kind)) { sock.destroy(); return; }
      // Caught at once, in this same tick: what follows the header is the stream's own.
      p.got.set(kind, kind === 'stdin' ? sock : new Caught(sock, head.subarray(nl + 1)));
      p.socks.push(sock);
      if (p.got.size < p.want.size) return;
      clearTimeout(p.timer);
      this.pending.delete(token);
      const got = (k: string) => (p.got.get(k) as Caught | undefined) ?? null;
      p.resolve({ report: got('report')!, stdin: (p.got.get('stdin') as Socket | undefined) ?? null, stdout: got('stdout'), stderr: got('stderr') });
    };
    sock.on('data', onData);
  }
}

const servers = new Map<string, NsexecServer>();
function serverFor(binary: string, socketDir: string): NsexecServer {
  let s = servers.get(socketDir);
  if (!s) { s = new NsexecServer(binary, join(socketDir, 'nsexec.sock')); servers.set(socketDir, s); }
  return s;
}
