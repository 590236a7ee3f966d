/**
 * Restart policies (no, always, on-failure[:max], unless-stopped) with Docker's back-off: the
 * first restart after 100 ms, doubling up to a minute, back to 100 ms once a run lasted 10 s.
 * A container waiting for its restart shows `restarting`. Exits recorded while the daemon was
 * down go through the same path (restore → recordExit → exited), and at daemon start
 * containers with `always`, or `unless-stopped` that nobody stopped, are started again.
 */
import type { ContainerService } from './container-service.js';
import type { ContainerRecord } from './types.js';
import { ZERO_TIME } from './types.js';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

export class RestartManager {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly delays = new Map<string, number>();
  /** Restarts in flight, and whether a stop arrived meanwhile. */
  private readonly inFlight = new Map<string, { stopRequested: boolean }>();
  private containers?: ContainerService;
  private closed = false;

  constructor(private readonly log: (m: string) => void) {}

  attach(containers: ContainerService): void { this.containers = containers; }

  /** Whether a container that exited with `code` should be restarted under its policy. */
  static shouldRestart(c: ContainerRecord, code: number): boolean {
    if (c.ManuallyStopped || c.HostConfig.AutoRemove) return false;
    const p = c.HostConfig.RestartPolicy ?? {};
    switch (p.Name) {
      case 'always': case 'unless-stopped': return true;
      case 'on-failure': return code !== 0 && (!(p.MaximumRetryCount > 0) || c.RestartCount < p.MaximumRetryCount);
      default: return false;
    }
  }

  // ---- ContainerHooks ----
  exited(c: ContainerRecord, code: number): void {
    if (this.closed || !this.containers || !RestartManager.shouldRestart(c, code)) { this.delays.delete(c.Id); return; }
    const ran = c.State.StartedAt !== ZERO_TIME ? Date.now() - Date.parse(c.State.StartedAt) : 0;
    let delay = this.delays.get(c.Id) ?? FIRST_DELAY_MS;
    if (ran >= RESET_AFTER_MS) delay = FIRST_DELAY_MS;
    this.delays.set(c.Id, Math.min(delay * 2, MAX_DELAY_MS));
    c.State = { ...c.State, Status: 'restarting' };
    this.containers.table.put(c.Id, c);
    const timer = setTimeout(() => { this.timers.delete(c.Id); void this.fire(c.Id); }, delay);
    this.timers.set(c.Id, timer);
  }

  stopping(c: ContainerRecord): void {
    this.cancel(c.Id);
    if (c.State.Status === 'restarting') {
      c.State = { ...c.State, Status: 'exited' };
      this.containers?.table.put(c.Id, c);
    }
  }

  /** The record is gone (a force-removal's kill may have scheduled a restart): nothing is put back. */
  async removed(c: ContainerRecord): Promise<void> { this.cancel(c.Id); }

  private cancel(id: string): void {
    const t = this.timers.get(id);
    if (t) { clearTimeout(t); this.timers.delete(id); }
    this.delays.delete(id);
    const f = this.inFlight.get(id);
    if (f) f.stopRequested = true;
  }

  private async fire(id: string): Promise<void> {
    const cs = this.containers!;
    const c = cs.table.get(id);
    if (!c || c.State.Status !== 'restarting' || this.closed) return;
    c.RestartCount = (c.RestartCount ?? 0) + 1;
    cs.table.put(id, c);
    const flight = { stopRequested: false };
    this.inFlight.set(id, flight);
    try {
      // A stop that arrives meanwhile waits for this start, then stops what it started.
      await cs.start(id);
    } catch (e) {
      this.log(`restart ${id.slice(0, 12)}: ${(e as Error).message}`);
      const cur = cs.table.get(id);
      if (cur && !flight.stopRequested && RestartManager.shouldRestart(cur, cur.State.ExitCode || 128)) this.exited(cur, cur.State.ExitCode || 128);
    } finally { this.inFlight.delete(id); }
  }

  /** At daemon start: containers the shutdown stopped come back under always/unless-stopped. */
  async daemonStarted(): Promise<void> {
    const cs = this.containers!;
    for (const c of cs.list()) {
      const p = c.HostConfig.RestartPolicy?.Name;
      if (this.timers.has(c.Id) || this.inFlight.has(c.Id)) continue;   // an exit seen at restore: already scheduled
      if (c.State.Status === 'restarting') { c.State = { ...c.State, Status: 'exited' }; cs.table.put(c.Id, c); }
      if (c.State.Status !== 'exited' || c.State.StartedAt === ZERO_TIME || c.ManuallyStopped) continue;
      if (p === 'always' || p === 'unless-stopped') {
        await cs.start(c.Id).catch((e) => this.log(`restart ${c.Id.slice(0, 12)} at daemon start: ${(e as Error).message}`));
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
