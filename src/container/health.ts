/**
 * Health checks (image HEALTHCHECK or --health-*): probes run as exec sessions on the container's
 * schedule; State.Health records the status (starting, healthy, unhealthy), the failing streak
 * and the last five results, `docker ps` shows "(healthy)", and each change emits a
 * `health_status: <status>` event. Failures inside the start period do not count.
 */
import { PassThrough } from 'node:stream';
import type { EventBus } from '../events/index.js';
import type { ContainerService } from './container-service.js';
import type { ExecService } from './exec.js';
import type { ContainerRecord } from './types.js';

const NS = 1e6; // Docker's durations are nanoseconds; timers want milliseconds.
const DEFAULTS = { interval: 30_000, timeout: 30_000, retries: 3, startPeriod: 0, startInterval: 5_000 };
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

interface Probe { Start: string; End: string; ExitCode: number; Output: string }

export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private containers?: ContainerService;
  private execs?: ExecService;

  constructor(private readonly events: EventBus, private readonly log: (m: string) => void) {}

  attach(containers: ContainerService, execs: ExecService): void { this.containers = containers; this.execs = execs; }

  private static config(c: ContainerRecord) {
    const h = c.Config.Healthcheck;
    if (!h || !Array.isArray(h.Test) || !h.Test.length || h.Test[0] === 'NONE') return undefined;
    const ms = (v: number | undefined, d: number) => (v && v > 0 ? v / NS : d);
    const cmd = h.Test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', h.Test.slice(1).join(' ')] : h.Test[0] === 'CMD' ? h.Test.slice(1) : h.Test;
    return {
      cmd, interval: ms(h.Interval, DEFAULTS.interval), timeout: ms(h.Timeout, DEFAULTS.timeout),
      retries: h.Retries && h.Retries > 0 ? h.Retries : DEFAULTS.retries, startPeriod: ms(h.StartPeriod, DEFAULTS.startPeriod),
      startInterval: ms(h.StartInterval, DEFAULTS.startInterval),
    };
  }

  // ---- ContainerHooks ----
  started(c: ContainerRecord): void {
    const cfg = HealthMonitor.config(c);
    if (!cfg || !this.containers) return;
    const cur = this.containers.table.get(c.Id);
    if (!cur) return;
    cur.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
    this.containers.table.put(cur.Id, cur);
    this.schedule(c.Id, Date.now(), cfg.startPeriod > 0 ? Math.min(cfg.startInterval, cfg.interval) : cfg.interval);
  }

  /** After a daemon restart: resume probing containers that are still running. */
  resume(): void {
    for (const c of this.containers?.list() ?? []) {
      const cfg = HealthMonitor.config(c);
      if (cfg && c.State.Status === 'running' && !this.timers.has(c.Id)) this.schedule(c.Id, Date.parse(c.State.StartedAt), cfg.interval);
    }
  }

  async afterStop(c: ContainerRecord): Promise<void> { this.cancel(c.Id); }
  async removed(c: ContainerRecord): Promise<void> { this.cancel(c.Id); }

  private cancel(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  close(): void { for (const id of [...this.timers.keys()]) this.cancel(id); }

  private schedule(id: string, startedAt: number, delay: number): void {
    this.cancel(id);
    const t = setTimeout(() => { void this.probe(id, startedAt); }, delay);
    t.unref();
    this.timers.set(id, t);
  }

  private async probe(id: string, startedAt: number): Promise<void> {
    const cs = this.containers!; const ex = this.execs!;
    const c = cs.table.get(id);
    if (!c || c.State.Status !== 'running') { this.timers.delete(id); return; }
    const cfg = HealthMonitor.config(c);
    if (!cfg) return;
    const start = new Date();
    let result: Probe;
    try {
      const { Id } = ex.create(id, { Cmd: cfg.cmd, AttachStdout: true, AttachStderr: true });
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (d: Buffer) => chunks.push(d));
      let closeFn: () => void = () => undefined;
      const run = ex.start(Id, { detach: false }, { output: out, input: null, end: () => undefined, onClose: (fn) => { closeFn = fn; } });
      const timedOut = await Promise.race([run.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), cfg.timeout))]);
      if (timedOut) {
        const pid = (ex.inspect(Id).Pid as number) || 0;
        if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
        closeFn();
        result = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: -1, Output: `Health check exceeded timeout (${cfg.timeout / 1000}s)` };
      } else {
        const code = await ex.get(Id).exited;
        result = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: code, Output: unframe(Buffer.concat(chunks)).slice(0, MAX_OUTPUT) };
      }
    } catch (e) {
      result = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: -1, Output: (e as Error).message };
    }
    const cur = cs.table.get(id);
    if (!cur || cur.State.Status !== 'running') { this.timers.delete(id); return; }
    const h = cur.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const before = h.Status;
    const inStartPeriod = Date.now() - startedAt < cfg.startPeriod;
    if (result.ExitCode === 0) { h.Status = 'healthy'; h.FailingStreak = 0; }
    else if (!inStartPeriod || before !== 'starting') {
      h.FailingStreak += 1;
      if (h.FailingStreak >= cfg.retries) h.Status = 'unhealthy';
    }
    h.Log = [...(h.Log as Probe[]), result].slice(-MAX_LOG);
    cur.State.Health = h;
    cs.table.put(id, cur);
    if (h.Status !== before) this.events.emit('container', `health_status: ${h.Status}`, id, { ...(cur.Config.Labels ?? {}), image: cur.Config.Image, name: cur.Name });
    this.schedule(id, startedAt, inStartPeriod && h.Status === 'starting' ? Math.min(cfg.startInterval, cfg.interval) : cfg.interval);
  }
}

/** Output of a non-TTY exec: Docker's 8-byte frames around each chunk. */
function unframe(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
