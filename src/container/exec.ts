/**
 * Exec sessions: a process run inside a running container, in one of two ways.
 *
 * Non-TTY sessions (what scripts and `docker exec c cmd` use) run through berth-nsexec
 * (src/runtime/nsexec.ts): a small native helper that enters the container as `runc exec` would
 * and execs the process, with its stdio as sockets to us. It costs a few milliseconds where
 * conmon + runc cost ~60. The process outlives a daemon crash, but its output and exit code
 * then go nowhere (nothing holds them as conmon does).
 *
 * TTY sessions, and any spec the helper does not support, are held by their own conmon
 * (`conmon --exec --exec-attach`), so they are never children of the daemon: conmon runs
 * `runc exec`, holds the pty or pipes, serves an attach socket (SOCK_SEQPACKET) and reports the
 * pid and then the exit code on its sync pipe. The handshake, as conmon defines it:
 *   fd 3 sync (conmon → us): {"data": pid} then {"data": exitCode}, or {"data": -1, "message"}
 *   fd 4 start (us → conmon): written once to let conmon go, once more to run the process
 *   fd 5 attach (conmon → us): {"data": 0} once the attach socket exists
 * so we connect to the socket before the process runs and never miss output.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SeqpacketSocket } from 'node-unix-socket';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { boundingCapabilities, cleanRuntimeError, nsexecPlan, NsexecStartError, startNsexec, type ConmonRuntime } from '../runtime/index.js';
import { DEFAULT_DETACH_KEYS, onInputEnd, parseDetachKeys, writeStdinPackets } from './attach.js';
import type { ContainerService } from './container-service.js';
import { frame } from './log-file.js';
import { containerEventAttrs } from './shapes.js';
import { resolveUser } from './user.js';

export interface ExecConfig {
  User?: string; Privileged?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null;
  AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean; DetachKeys?: string;
  Env?: string[] | null; WorkingDir?: string; Cmd?: string[];
}

export interface ExecRecord {
  ID: string;
  ContainerID: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  dir: string;
  started: boolean;
  exited: Promise<number>;
  resolveExit: (code: number) => void;
}

/** The client end of an exec stream (a hijacked connection). */
export interface ExecClient {
  output: NodeJS.WritableStream;
  input: NodeJS.ReadableStream | null;
  end(): void;
  onClose(fn: () => void): void;
}

/** runc's start failures → Docker's exit codes: 127 not found, 126 not executable. */
export function execFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  return 126;
}

export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(private readonly o: { containers: ContainerService; runtime: ConmonRuntime; events: EventBus; log: (m: string) => void }) {}

  get(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new NotFoundError(`No such exec instance: ${id}`);
    return e;
  }

  /** Exec IDs of a container (for inspect's ExecIDs). */
  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.ContainerID === containerId && e.running).map((e) => e.ID);
  }

  create(ref: string, body: ExecConfig): { Id: string } {
    const c = this.o.containers.get(ref);
    if (c.State.Status === 'paused') throw new ConflictError(`Container ${c.Id} is paused, unpause the container before exec`);
    if (!this.o.containers.isRunning(c.Id) || c.State.Status === 'restarting') throw new ConflictError(`Container ${c.Id} is not running`);
    if (!body || !Array.isArray(body.Cmd) || body.Cmd.length === 0) throw new InvalidParameterError('No exec command specified');
    if (body.Env && !Array.isArray(body.Env)) throw new InvalidParameterError('invalid environment');
    for (const e of body.Env ?? []) if (typeof e !== 'string' || e.startsWith('=')) throw new InvalidParameterError(`invalid environment variable: ${e}`);
    if (body.DetachKeys) { try { parseDetachKeys(body.DetachKeys); } catch (err) { throw new InvalidParameterError((err as Error).message); } }
    const id = randomBytes(32).toString('hex');
    let resolveExit!: (code: number) => void;
    const exited = new Promise<number>((r) => { resolveExit = r; });
    const rec: ExecRecord = {
      ID: id, ContainerID: c.Id, config: { ...body }, running: false, exitCode: null, pid: 0,
      dir: join(this.o.containers.dir(c.Id), 'exec', id.slice(0, 12)), started: false, exited, resolveExit,
    };
    this.execs.set(id, rec);
    this.o.events.emit('container', `exec_create: ${body.Cmd.join(' ')}`, c.Id, { ...containerEventAttrs(c), execID: id });
    return { Id: id };
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    const cfg = e.config;
    const cmd = cfg.Cmd ?? [];
    return {
      ID: e.ID, Running: e.running, ExitCode: e.exitCode, ProcessConfig: {
        tty: !!cfg.Tty, entrypoint: cmd[0], arguments: cmd.slice(1), privileged: !!cfg.Privileged, user: cfg.User ?? '',
      },
      OpenStdin: !!cfg.AttachStdin, OpenStderr: !!cfg.AttachStderr, OpenStdout: !!cfg.AttachStdout,
      CanRemove: false, ContainerID: e.ContainerID, DetachKeys: cfg.DetachKeys ?? '', Pid: e.pid,
    };
  }

  async resize(id: string, h: number, w: number): Promise<void> {
    const e = this.get(id);
    if (!e.running) throw new ConflictError(`Exec ${id} is not running`);
    if (!e.config.Tty) return;
    await this.o.runtime.resize(e.dir, h, w);
  }

  /**
   * The process spec: the container's own, with the exec's argv, env, cwd, user and tty; and the
   * user's home (runc sets HOME from it when the environment has none).
   */
  private processSpec(e: ExecRecord, config: { process: Record<string, any> }): { spec: Record<string, any>; home: string } {
    const cdir = this.o.containers.dir(e.ContainerID);
    const c = this.o.containers.get(e.ContainerID);
    const spec = config.process;
    const cfg = e.config;
    const env = new Map<string, string>();
    for (const kv of [...(spec.env ?? []), ...(cfg.Env ?? [])] as string[]) { const i = kv.indexOf('='); env.set(i < 0 ? kv : kv.slice(0, i), kv); }
    if (cfg.Tty && !env.has('TERM')) env.set('TERM', 'TERM=xterm');
    const userSpec = cfg.User || c.Config.User || '';
    const user = resolveUser(join(cdir, 'rootfs'), userSpec, c.HostConfig.GroupAdd ?? []);
    if (cfg.User) { const home = env.get('HOME'); if (!cfg.Env?.some((x) => x.startsWith('HOME=')) && home) env.set('HOME', `HOME=${user.home}`); }
    const caps = cfg.Privileged ? boundingCapabilities() : spec.capabilities;
    return {
      home: user.home,
      spec: {
        ...spec,
        terminal: !!cfg.Tty,
        args: cfg.Cmd,
        env: [...env.values()],
        cwd: cfg.WorkingDir || spec.cwd || '/',
        user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
        capabilities: cfg.Privileged ? { bounding: caps, effective: caps, permitted: caps } : caps,
        ...(cfg.ConsoleSize && cfg.Tty ? { consoleSize: { height: cfg.ConsoleSize[0], width: cfg.ConsoleSize[1] } } : {}),
      },
    };
  }

  /**
   * Starts the session. With a client, its stdio is joined to the process and the promise settles
   * once the process has exited and all output was delivered (or the client detached);
   * without one (Detach) it settles once the process runs.
   *
   * Non-TTY sessions run through berth-nsexec when it is built and supports the spec (one helper
   * process instead of conmon + runc); TTY sessions, and anything else, through conmon + runc.
   */
  async start(id: string, opts: { detach: boolean; tty?: boolean; consoleSize?: [number, number] | null }, client?: ExecClient): Promise<void> {
    const e = this.get(id);
    if (e.started) throw new ConflictError(`Exec command ${id} is already running`);
    const c = this.o.containers.get(e.ContainerID);
    if (c.State.Status === 'paused') throw new ConflictError(`Container ${c.Id} is paused, unpause the container before exec`);
    if (!this.o.containers.isRunning(c.Id)) throw new ConflictError(`Container ${c.Id} is not running`);
    e.started = true;
    if (opts.tty !== undefined) e.config.Tty = e.config.Tty || opts.tty;
    if (opts.consoleSize) e.config.ConsoleSize = opts.consoleSize;
    const cfg = e.config;
    const attach = !opts.detach && !!client;
    const wantStdin = attach && !!cfg.AttachStdin;
    let detached = false;
    const sink: OutputSink | undefined = attach ? (stream, data) => {
      if (detached || (stream === 1 ? cfg.AttachStdout === false : cfg.AttachStderr === false)) return;
      client!.output.write(cfg.Tty ? data : frame(stream, data));
    } : undefined;

    let proc: ExecProcess;
    try {
      const bundle = this.o.containers.runtime.bundleDir(c.Id);
      const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      const { spec, home } = this.processSpec(e, config);
      const rt = this.o.runtime.cfg;
      const plan = !cfg.Tty && rt.name === 'runc'
        ? await nsexecPlan({ id: c.Id, config, statePath: join(rt.stateRoot, c.Id, 'state.json'), cacheDir: bundle }, spec, home)
        : undefined;
      proc = plan ? await startNative(plan, wantStdin, sink, rt.socketDir) : await this.startConmon(e, spec, wantStdin, sink);
    } catch (err) {
      if (err instanceof ExecStartFailure || err instanceof NsexecStartError) {
        const msg = err.message;
        const code = execFailureCode(msg);
        this.finish(e, code);
        throw Object.assign(new SystemError(`OCI runtime exec failed: exec failed: ${msg}: unknown`), { execExitCode: code });
      }
      this.finish(e, 126);
      throw err;
    }
    e.pid = proc.pid;
    e.running = true;
    this.o.events.emit('container', `exec_start: ${(cfg.Cmd ?? []).join(' ')}`, c.Id, { ...containerEventAttrs(c), execID: id });
    void proc.exited.then((code) => this.finish(e, code));
    if (!attach) return;

    // Joined: stdin → process (with detach keys on a TTY), output until the process ends.
    if (wantStdin && client!.input) {
      const keys = cfg.DetachKeys ? parseDetachKeys(cfg.DetachKeys) : (cfg.Tty ? DEFAULT_DETACH_KEYS : undefined);
      let matched = 0;
      client!.input.on('data', (d: Buffer) => {
        if (detached || !e.running) return;
        if (keys) {
          for (const b of d) {
            if (b === keys[matched]) { matched++; if (matched === keys.length) { detached = true; proc.stop(); client!.end(); return; } }
            else matched = b === keys[0] ? 1 : 0;
          }
        }
        proc.write(Buffer.from(d));
      });
      onInputEnd(client!.input, () => { if (!detached && e.running) proc.endInput(); });
      client!.input.resume();   // the API paused it until now
    } else client!.input?.resume();   // read and dropped: the client's hang-up must still be seen
    let clientGone = false;
    const gone = new Promise<void>((resolve) => client!.onClose(() => { clientGone = true; resolve(); }));
    await Promise.race([Promise.all([proc.outputDone, e.exited]), gone]);
    proc.stop();
    if (!clientGone && !detached) client!.end();
  }

  /** The session under its own conmon, which runs `runc exec` (see the top of this file). */
  private async startConmon(e: ExecRecord, spec: Record<string, any>, wantStdin: boolean, sink: OutputSink | undefined): Promise<ExecProcess> {
    const cfg = e.config;
    mkdirSync(e.dir, { recursive: true });
    writeFileSync(join(e.dir, 'process.json'), JSON.stringify(spec));
    const rt = this.o.runtime.cfg;
    const uuid = 'x' + e.ID.slice(0, 11);
    const args = [
      '--api-version', '1', '-c', e.ContainerID, '-u', uuid, '-r', rt.path, '-b', e.dir, '-p', join(e.dir, 'pid'),
      '-l', `k8s-file:${join(e.dir, 'log')}`, '--log-size-max', String(1 << 20), '--exit-dir', e.dir,
      '--socket-dir-path', rt.socketDir, '--persist-dir', e.dir,
      '--runtime-arg', '--root', '--runtime-arg', rt.stateRoot, '--log-level', 'error',
      '-e', '--exec-attach', '--exec-process-spec', join(e.dir, 'process.json'),
    ];
    if (cfg.Tty) args.push('-t');
    if (wantStdin) args.push('-i');
    const child = spawn(rt.conmonPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
      detached: true,
    });
    child.unref();
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const sync = child.stdio[3] as unknown as NodeJS.ReadableStream & { destroy(): void };
    const startPipe = child.stdio[4] as unknown as NodeJS.WritableStream & { destroy(): void };
    const attachPipe = (child.stdio as unknown as unknown[])[5] as unknown as NodeJS.ReadableStream & { destroy(): void };
    for (const s of [sync, startPipe, attachPipe] as any[]) s.on('error', () => undefined);
    const messages = pipeMessages(sync);
    const socketPath = join(rt.socketDir, uuid, 'attach');

    let sock: SeqpacketSocket | undefined;
    let sockEnded: Promise<void> = Promise.resolve();
    const cleanup = () => {
      try { sync.destroy(); } catch { /* gone */ }
      try { startPipe.destroy(); } catch { /* gone */ }
      try { attachPipe.destroy(); } catch { /* gone */ }
      try { child.stderr!.destroy(); } catch { /* gone */ }
    };
    try {
      startPipe.write('0');
      const ready = await Promise.race([
        firstMessage(attachPipe),
        new Promise<never>((_, rej) => child.once('exit', (code) => { if (code) setTimeout(() => rej(new SystemError(cleanRuntimeError(stderr) || `conmon exited with ${code}`)), 20); })),
      ]);
      if (ready.data < 0) throw new SystemError(cleanRuntimeError(ready.message ?? stderr));
      if (sink) {
        sock = new SeqpacketSocket();
        const s = sock;
        sockEnded = new Promise<void>((resolve) => { s.on('end', resolve); s.on('close', resolve); s.on('error', () => resolve()); });
        s.on('data', (buf: Buffer) => {
          if (buf.length < 2) return;
          const kind = buf[0];
          if (kind === 2 || kind === 3) sink(kind === 2 ? 1 : 2, Buffer.from(buf.subarray(1)));
        });
        await new Promise<void>((resolve, reject) => { try { s.connect(socketPath, () => resolve()); } catch (err) { reject(err); } });
      }
      if (cfg.Tty && cfg.ConsoleSize) await this.o.runtime.resize(e.dir, cfg.ConsoleSize[0], cfg.ConsoleSize[1]).catch(() => undefined);
      startPipe.write('0');
      const first = await messages.next();
      if (first.data < 0) throw new ExecStartFailure(cleanRuntimeError(first.message ?? stderr).replace(/^exec failed: /, ''));
      const exited = messages.next().then((m) => m.data, () => readExitFile(e.dir, e.ContainerID));
      void exited.then(cleanup);
      const s = sock;
      return {
        pid: first.data, exited, outputDone: sockEnded,
        write: (d) => { try { if (s) writeStdinPackets(s, d); } catch { /* process gone */ } },
        endInput: () => { try { s?.end(); } catch { /* gone */ } },
        stop: () => { try { s?.destroy(); } catch { /* gone */ } },
      };
    } catch (err) {
      cleanup();
      try { sock?.destroy(); } catch { /* gone */ }
      throw err;
    }
  }

  private finish(e: ExecRecord, code: number): void {
    if (e.exitCode !== null) return;
    e.exitCode = code;
    e.running = false;
    e.resolveExit(code);
    const c = this.o.containers.tryGet(e.ContainerID);
    if (c) this.o.events.emit('container', 'exec_die', c.Id, { ...containerEventAttrs(c), execID: e.ID, exitCode: String(code) });
    // Sessions are kept for inspect for a while, then forgotten (Docker drops them with the container).
    setTimeout(() => { this.execs.delete(e.ID); rmSync(e.dir, { recursive: true, force: true }); }, 5 * 60_000).unref();
    void fsp.rm(join(this.o.runtime.cfg.socketDir, 'x' + e.ID.slice(0, 11)), { recursive: true, force: true }).catch(() => undefined);
  }

  /** Forgets the sessions of a removed container. */
  forgetContainer(containerId: string): void {
    for (const e of this.execs.values()) if (e.ContainerID === containerId) { this.finish(e, e.exitCode ?? 137); this.execs.delete(e.ID); }
  }
}

/** Where a session's output goes: stream 1 stdout, 2 stderr. */
type OutputSink = (stream: 1 | 2, data: Buffer) => void;

/** A started exec process, whichever way it runs. */
interface ExecProcess {
  pid: number;
  /** The exit code. */
  exited: Promise<number>;
  /** All output was handed to the sink. */
  outputDone: Promise<void>;
  write(d: Buffer): void;
  endInput(): void;
  /** Stops relaying (the client left or detached); the process runs on. */
  stop(): void;
}

/** The process could not be started; the message is the runtime's. */
class ExecStartFailure extends Error {}

/**
 * The session through berth-nsexec: its stdio are sockets to us, its report gives the pid and
 * the exit code. Output left after the exit is read until the pipes close,
 * or for a moment more when a background process in the container still holds them.
 */
async function startNative(plan: string[], wantStdin: boolean, sink: OutputSink | undefined, socketDir: string): Promise<ExecProcess> {
  let relay = true;
  const p = await startNsexec(plan, { stdin: wantStdin, socketDir, output: sink && ((n, d) => { if (relay) sink(n, d); }) });
  const outputDone = Promise.race([
    p.outputEnded,
    p.exited.then(() => new Promise<void>((resolve) => setTimeout(resolve, 250).unref())),
  ]);
  return {
    pid: p.pid, exited: p.exited, outputDone,
    write: (d) => { p.stdin?.write(d); },
    endInput: () => { p.stdin?.end(); },
    stop: () => { relay = false; },   // the pipes are still drained, so the process never blocks on them
  };
}

interface PipeMessage { data: number; message?: string }

/** conmon writes JSON objects on its pipes; this yields them one at a time. */
function pipeMessages(stream: NodeJS.ReadableStream): { next(): Promise<PipeMessage> } {
  let buf = '';
  const queue: PipeMessage[] = [];
  const waiting: { resolve: (m: PipeMessage) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  const flush = () => {
    for (;;) {
      const start = buf.indexOf('{');
      if (start < 0) { buf = ''; break; }
      const end = findObjectEnd(buf, start);
      if (end < 0) { buf = buf.slice(start); break; }
      try { queue.push(JSON.parse(buf.slice(start, end + 1))); } catch { /* skip garbage */ }
      buf = buf.slice(end + 1);
    }
    while (queue.length && waiting.length) waiting.shift()!.resolve(queue.shift()!);
    if (ended) while (waiting.length) waiting.shift()!.reject(new Error('conmon closed its pipe'));
  };
  stream.on('data', (d: Buffer) => { buf += d.toString(); flush(); });
  const onEnd = () => { ended = true; flush(); };
  stream.on('end', onEnd); stream.on('close', onEnd); stream.on('error', onEnd);
  return { next: () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); flush(); }) };
}

function findObjectEnd(s: string, start: number): number {
  let depth = 0; let inStr = false;
  for (let i = start; i < s.length; i++) {
    const ch = s[i];
    if (inStr) { if (ch === '\\') i++; else if (ch === '"') inStr = false; continue; }
    if (ch === '"') inStr = true;
    else if (ch === '{') depth++;
    else if (ch === '}') { depth--; if (depth === 0) return i; }
  }
  return -1;
}

function firstMessage(stream: NodeJS.ReadableStream): Promise<PipeMessage> { return pipeMessages(stream).next(); }

/** Fallback when the sync pipe closed early: conmon's exit file for this session. */
function readExitFile(dir: string, containerId: string): number {
  const p = join(dir, containerId);
  try { if (existsSync(p)) return Number(readFileSync(p, 'utf8').trim()); } catch { /* none */ }
  return 137;
}
