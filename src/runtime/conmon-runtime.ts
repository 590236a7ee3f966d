/**
 * Runs containers under conmon, so they are never children of the daemon: conmon double-forks,
 * becomes the container's subreaper, holds its stdio/pty, writes the k8s-file log and an exit
 * file with the exit code. The daemon only talks to it through files and sockets, which is what
 * lets containers outlive a daemon crash and be adopted again.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, constants as fsConstants, closeSync, existsSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SystemError } from '../errors/index.js';
import { helperAvailable, makeFifo, runTool, sealedCopy, sealedCopyPath, spawnDetached } from '../hostops/index.js';
import { CgroupMoveWarmer, ownCgroupProcsFile } from './cgroup-move-warmer.js';

/** The OCI runtime refused to create a container (dockerd reports these with its shim's prefix). */
export class RuntimeCreateError extends SystemError {}

export interface RuntimeConfig {
  name: 'runc' | 'crun';
  path: string;            // binary
  stateRoot: string;       // --root for the OCI runtime, under the exec root
  /** Each container's OCI bundle (config.json, the monitor's pid files, FIFOs and sockets): under the exec root, a tmpfs by default — their metadata writes cost ~0.25 ms each on a disk. */
  bundleRoot: string;
  exitDir: string;
  socketDir: string;
  conmonPath: string;      // exec sessions with a TTY, and containers where berth-monitor is not built
  /** What holds a container's init process: berth-monitor (conmon's command line and files) or conmon. */
  monitorPath: string;
}

export interface MonitorStart {
  id: string;
  bundle: string;          // bundleDir(id): holds config.json; conmon writes pidfile, ctl, winsz here
  logPath: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  logSizeMax?: number;
  /**
   * Resolves once config.json is in the bundle; a rejection abandons the start. Given this, the
   * monitor is launched at once, beside the caller's preparation (berth-monitor's start gate), and
   * runs the runtime when it resolves; conmon is launched only then.
   */
  configWritten?: Promise<void>;
  /** Called once the runtime is on its way (creating the container): work that may run beside it. */
  launched?: () => void;
  /** Called once the container is created but before its process runs: attach now to miss nothing. */
  beforeStart?: () => Promise<void>;
}

/** A monitor on its way: its sync pipe, and (gated) the word to run the runtime or to give up. */
interface LaunchedMonitor {
  sync: NodeJS.ReadableStream;
  stderr(): string;
  go(): void;
  abandon(): Promise<void>;
  close(): void;
}

export class ConmonRuntime {
  private readonly cgroupMoves = new CgroupMoveWarmer(ownCgroupProcsFile());

  constructor(readonly cfg: RuntimeConfig) {}

  /**
   * Called as a start begins: the runtime's move of the container into its cgroups will not wait
   * for the kernel (see CgroupMoveWarmer) if the start calls the returned function once it is done.
   */
  startIsComing(): () => void { return this.cgroupMoves.hold(); }

  private runtimeArgs(): string[] { return ['--root', this.cfg.stateRoot]; }

  /**
   * runc copies its own binary into a sealed memfd at every container start (its CVE-2019-5736
   * defence, ~1 ms here) unless it already runs from one: the hostops helper keeps such a copy,
   * made once, and the monitors run `runc create` from it. Other runc commands start no container
   * process and run the binary itself.
   */
  async keepSealedCopy(): Promise<void> {
    if (this.cfg.name === 'runc') await sealedCopy(this.cfg.path);
  }

  private createPath(): string { return (this.cfg.name === 'runc' && sealedCopyPath()) || this.cfg.path; }

  /** The container's OCI bundle directory (made by whoever writes its config.json). */
  bundleDir(id: string): string { return join(this.cfg.bundleRoot, id); }

  /** conmon names the socket directory by its -u value, kept short for the 108-byte socket path limit. */
  attachSocketPath(id: string): string { return join(this.cfg.socketDir, id.slice(0, 12), 'attach'); }
  exitFile(id: string): string { return join(this.cfg.exitDir, id); }

  /** Creates the container under a new conmon and starts its process. Returns the container's pid. */
  async start(s: MonitorStart): Promise<{ pid: number; monitorPid: number }> {
    if (existsSync(this.exitFile(s.id))) await fsp.rm(this.exitFile(s.id), { force: true });
    const args = [
      '--api-version', '1', '-c', s.id, '-u', s.id.slice(0, 12), '-n', s.id, '-r', this.createPath(),
      '-b', s.bundle, '-p', join(s.bundle, 'pidfile'), '-P', join(s.bundle, 'conmon.pid'),
      '-l', `k8s-file:${s.logPath}`, '--exit-dir', this.cfg.exitDir, '--socket-dir-path', this.cfg.socketDir,
      '--persist-dir', s.bundle, '--runtime-arg', '--root', '--runtime-arg', this.cfg.stateRoot,
      '--log-level', 'error',
    ];
    if (s.logSizeMax) args.push('--log-size-max', String(s.logSizeMax));
    if (s.tty) args.push('-t');
    if (s.openStdin) { args.push('-i'); if (!s.stdinOnce) args.push('--leave-stdin-open'); }
    const gated = s.configWritten !== undefined && helperAvailable() && this.cfg.monitorPath !== this.cfg.conmonPath;
    if (!gated) await s.configWritten;
    const monitor = await this.launchMonitor(args, s.bundle, gated);
    if (gated) {
      try { await s.configWritten; } catch (e) { await monitor.abandon(); throw e; }
      monitor.go();
    }
    s.launched?.();
    const sync = monitor.sync;
    const pid = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString();
        const m = /\{[^}]*"data"\s*:\s*(-?\d+)[^}]*\}/.exec(buf);
        if (!m) return;
        sync.off('data', onData);
        const n = Number(m[1]);
        if (n < 0) {
          let msg = 'unknown error';
          try { msg = JSON.parse(m[0]).message ?? msg; } catch { /* keep default */ }
          reject(new RuntimeCreateError(cleanRuntimeError(msg || monitor.stderr())));
        } else resolve(n);
      };
      sync.on('data', onData);
      // conmon's first process exits after forking; the pipe closes without a pid only on failure.
      const failed = () => { if (!/"data"/.test(buf)) reject(new RuntimeCreateError(cleanRuntimeError(monitor.stderr()) || 'conmon failed to create the container')); };
      sync.once('end', failed);
      sync.once('close', failed);
      sync.once('error', failed);
    }).finally(() => monitor.close());
    const monitorPid = Number(readFileSync(join(s.bundle, 'conmon.pid'), 'utf8').trim());
    try {
      await s.beforeStart?.();
      if (!(await this.startThroughFifo(s.id, pid))) await this.run(['start', s.id]);
    } catch (e) {
      await this.delete(s.id, true).catch(() => undefined);
      throw e;
    }
    return { pid, monitorPid };
  }

  /**
   * Starts conmon with its sync pipe (fd 3) readable here. Through the hostops helper when it is
   * there — a FIFO stands in for the pipe — so the daemon does not fork itself (milliseconds of a
   * blocked event loop at every start); else as our own detached child.
   */
  private async launchMonitor(args: string[], bundle: string, gated = false): Promise<LaunchedMonitor> {
    const env = { _OCI_SYNCPIPE: '3' };
    if (helperAvailable()) {
      const fifo = join(bundle, 'conmon.sync');
      const gate = join(bundle, 'start.gate');
      const errFile = join(bundle, 'conmon.stderr');
      rmSync(fifo, { force: true });   // sync: a missing file, microseconds, no thread-pool round trip
      if (gated) rmSync(gate, { force: true });
      await makeFifo(fifo, ...(gated ? [gate] : []));
      // The reader first: the helper opens the writer for conmon, and a FIFO with no reader refuses it.
      const sync = new Socket({ fd: openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), readable: true, writable: false });
      sync.on('error', () => undefined);
      // Held read-write until the monitor has answered: it opens and reads the gate whenever it gets there.
      let gateFd = gated ? openSync(gate, fsConstants.O_RDWR | fsConstants.O_NONBLOCK) : -1;
      const closeGate = () => { if (gateFd >= 0) { closeSync(gateFd); gateFd = -1; } };
      try {
        await spawnDetached({ cmd: this.cfg.monitorPath, args: gated ? [...args, '--start-gate', gate] : args, cwd: bundle, env, stderrPath: errFile, fd3Path: fifo });
      } catch (e) {
        sync.destroy();
        closeGate();
        throw new SystemError(`starting conmon: ${(e as Error).message}`);
      } finally {
        rmSync(fifo, { force: true });   // both ends are open: the name is not needed
      }
      return {
        sync,
        stderr: () => { try { return readFileSync(errFile, 'utf8'); } catch { return ''; } },
        go: () => { writeSync(gateFd, 'g'); },
        // The monitor reads end-of-file at the gate, undoes its set-up and exits: its end of the sync FIFO closes.
        abandon: async () => {
          closeGate();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, 5000);
            function done() { clearTimeout(timer); resolve(); }
            sync.once('close', done);
            sync.resume();
          });
          sync.destroy();
          rmSync(gate, { force: true });
          void fsp.rm(errFile, { force: true });
        },
        close: () => { sync.destroy(); closeGate(); rmSync(gate, { force: true }); void fsp.rm(errFile, { force: true }); },
      };
    }
    const child = spawn(this.cfg.monitorPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      cwd: bundle,   // conmon drops files (e.g. `oom`) in its working directory
      detached: true,
    });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    const close = () => { sync.destroy(); child.stderr!.destroy(); child.unref(); };
    return { sync, stderr: () => stderr, go: () => undefined, abandon: async () => close(), close };
  }

  /**
   * What `runc start` does for a created container: open the exec FIFO its init process blocks on,
   * read the byte it writes, remove the FIFO. Done here it saves a runtime process (~10 ms) per start.
   * Returns false when there is no FIFO (crun, or a runc that works differently): the caller falls back.
   */
  private async startThroughFifo(id: string, pid: number): Promise<boolean> {
    if (this.cfg.name !== 'runc') return false;
    const fifo = join(this.cfg.stateRoot, id, 'exec.fifo');
    let fd: number;
    try { fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK); } catch { return false; }   // libuv adds O_CLOEXEC
    const pipe = new Socket({ fd, readable: true, writable: false });
    try {
      const got = await new Promise<number>((resolve, reject) => {
        let n = 0;
        // A reader of a FIFO no writer has opened yet sees no hang-up: watch the init process instead.
        // A quick command may have been started and be gone already, its byte still unread (timers run
        // before I/O in an event-loop turn): decide after this turn's I/O.
        const alive = setInterval(() => {
          try { process.kill(pid, 0); } catch {
            clearInterval(alive);
            setImmediate(() => finish(n > 0 ? undefined : new SystemError('the container process exited before it was started')));
          }
        }, 20);
        const finish = (err?: Error) => { clearInterval(alive); pipe.removeAllListeners(); if (err) reject(err); else resolve(n); };
        pipe.on('data', (d: Buffer) => { n += d.length; });
        pipe.once('end', () => finish());
        pipe.once('error', (e) => finish(e));
      });
      // The FIFO hung up without its byte: the process died as it was being started.
      if (got === 0) throw new SystemError('the container process exited before it was started');
    } finally {
      pipe.destroy();
    }
    try { unlinkSync(fifo); } catch { /* already gone */ }
    return true;
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    const sig = String(signal).replace(/^SIG/, '');
    await this.run(['kill', ...(all ? ['--all'] : []), id, sig]);
  }

  /**
   * Releases an exited container's runtime state. For runc that is what `runc delete` does once the
   * init process is gone (remove the container's cgroups and its state directory), done here
   * without starting the runtime (~10 ms of Go start-up per container). Anything unexpected (a live
   * init, poststop hooks, a cgroup that stays busy) goes through the runtime instead.
   */
  async release(id: string, opts: { cgroupsInBackground?: boolean } = {}): Promise<void> {
    if (this.cfg.name === 'runc' && (await this.releaseExitedRunc(id, !!opts.cgroupsInBackground))) return;
    await this.delete(id, true);
  }

  /**
   * With `cgroupsInBackground` (a container that will never start again, e.g. auto-removed) the cgroups are
   * removed after this returns: rmdir of ten v1 controllers takes a few ms the caller need not wait for.
   */
  private async releaseExitedRunc(id: string, cgroupsInBackground: boolean): Promise<boolean> {
    const dir = join(this.cfg.stateRoot, id);
    let state: { init_process_pid?: number; init_process_start?: number; cgroup_paths?: Record<string, string>; config?: { hooks?: { poststop?: unknown[] } } };
    try { state = JSON.parse(await fsp.readFile(join(dir, 'state.json'), 'utf8')); } catch { return !existsSync(dir); }
    if (state.config?.hooks?.poststop?.length) return false;
    if (state.init_process_pid && processStartTime(state.init_process_pid) === state.init_process_start) return false;
    const cgroups = Object.values(state.cgroup_paths ?? {}).filter((p) => p.startsWith('/sys/fs/cgroup/'));
    if (cgroupsInBackground) {
      await fsp.rm(dir, { recursive: true, force: true });
      void Promise.all(cgroups.map((p) => removeCgroup(p))).then((ok) => {
        if (ok.includes(false)) process.stderr.write(`berthd: cgroups of ${id} stayed busy\n`);
      });
      return true;
    }
    const removed = await Promise.all(cgroups.map((p) => removeCgroup(p)));
    if (removed.includes(false)) return false;
    await fsp.rm(dir, { recursive: true, force: true });
    return true;
  }

  /** Whether the runtime still keeps state for the container (it does until `delete`). */
  hasState(id: string): boolean { return existsSync(join(this.cfg.stateRoot, id)); }

  async delete(id: string, force = false): Promise<void> {
    try { await this.run(['delete', ...(force ? ['--force'] : []), id]); } catch (e) {
      if (!/does not exist|not exist/.test(String((e as Error).message))) throw e;
    }
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await runTool(this.cfg.path, [...this.runtimeArgs(), 'state', id]).catch(() => undefined);
    if (!r || r.code !== 0) return undefined;
    try { return JSON.parse(r.stdout); } catch { return undefined; }
  }

  async pause(id: string): Promise<void> { await this.run(['pause', id]); }
  async resume(id: string): Promise<void> { await this.run(['resume', id]); }

  /** Resizes the container's pty through conmon's control FIFO. */
  async resize(bundle: string, rows: number, cols: number): Promise<void> {
    const ctl = join(bundle, 'ctl');
    if (!existsSync(ctl)) return;
    const fh = await fsp.open(ctl, 'r+');   // r+ never blocks on a FIFO
    try { await fh.write(`1 ${rows} ${cols}\n`); } finally { await fh.close(); }
  }

  /** Asks conmon to reopen its log file (after the daemon rotated it). */
  async reopenLog(bundle: string): Promise<void> {
    const ctl = join(bundle, 'ctl');
    if (!existsSync(ctl)) return;
    const fh = await fsp.open(ctl, 'r+');
    try { await fh.write('2 0 0\n'); } finally { await fh.close(); }
  }

  /** Runs the runtime (started by the hostops helper, not forked from the daemon). */
  async run(args: string[]): Promise<string> {
    const r = await runTool(this.cfg.path, [...this.runtimeArgs(), ...args])
      .catch((e: Error) => { throw new SystemError(cleanRuntimeError(e.message)); });
    if (r.code !== 0) throw new SystemError(cleanRuntimeError(r.stderr || `${this.cfg.name} exited with status ${r.code}`));
    return r.stdout;
  }
}

/** The start time (clock ticks since boot) of a live process, as runc records it; undefined when gone. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch { return undefined; }
}

/** rmdir of a cgroup; the kernel may report it busy for a moment while the last tasks are torn down. */
async function removeCgroup(path: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try { await fsp.rmdir(path); return true; } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= 20) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** runc's messages carry logrus noise (`time=… level=error msg="…"`); keep the message. */
export function cleanRuntimeError(text: string): string {
  const t = String(text).trim();
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(t);
  return (m ? m[1].replace(/\\"/g, '"') : t).replace(/^runc (create|start|run) failed: /, '');
}

const MONITOR = fileURLToPath(new URL('../../native/berth-monitor', import.meta.url));

/**
 * berth-monitor when it is built (src/runtime/native, ~7 ms less per container start than
 * conmon's start-up) and native helpers are not turned off; else conmon.
 */
export function monitorBinary(conmon: string): string {
  return !process.env.BERTH_NO_NATIVE_HELPERS && existsSync(MONITOR) ? MONITOR : conmon;
}

/** Whether pid is the monitor (berth-monitor or conmon) of container id. */
export function isMonitorOf(pid: number | undefined, id: string): boolean {
  if (!pid) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return (cmd.includes('conmon') || cmd.includes('berth-monitor')) && cmd.includes(id);
  } catch { return false; }
}

/** Finds the OCI runtime binary, preferring PATH lookups in the usual places. */
export function findBinary(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}
