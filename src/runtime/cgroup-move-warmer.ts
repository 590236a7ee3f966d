/**
 * runc moves every container's init process into its cgroups. The kernel serialises such moves
 * with one global lock (cgroup_threadgroup_rwsem), and on hosts whose cgroup mounts lack the
 * `favordynmods` option the first writer after a quiet spell waits for an RCU grace period
 * (~8 ms measured here, a tenth of a detached start); for a grace period after a writer leaves,
 * the next one does not wait. So while starts are in flight, berthd makes that wait itself, beside
 * its own preparation: it moves itself into the cgroup it is already in (a no-op move that takes
 * the lock), and again every few milliseconds, so runc finds the lock's fast path open.
 */
import { promises as fsp, readFileSync } from 'node:fs';

/** Re-warm within a grace period (~8 ms here; the fast path stays open for one after a writer leaves). */
const INTERVAL_MS = 5;

/** This process's cgroups from /proc/self/cgroup: each hierarchy's controllers ('' for the unified one) and path. */
export function ownCgroups(procSelfCgroup = '/proc/self/cgroup'): { ctl: string; path: string }[] {
  let lines: string[];
  try { lines = readFileSync(procSelfCgroup, 'utf8').split('\n').filter(Boolean); } catch { return []; }
  return lines.map((l) => { const [, ctl, ...rest] = l.split(':'); return { ctl, path: rest.join(':') || '/' }; });
}

/** cgroup.procs of this process's own cgroup: a v1 hierarchy (pids first) or the unified one. */
export function ownCgroupProcsFile(procSelfCgroup = '/proc/self/cgroup', mountRoot = '/sys/fs/cgroup'): string | undefined {
  const groups = ownCgroups(procSelfCgroup);
  const v1 = groups.find((x) => x.ctl.split(',').includes('pids')) ?? groups.find((x) => x.ctl && !x.ctl.startsWith('name='));
  if (v1) return `${mountRoot}/${v1.ctl.split(',')[0]}${v1.path === '/' ? '' : v1.path}/cgroup.procs`;
  const v2 = groups.find((x) => x.ctl === '');
  if (!v2) return undefined;
  let unified = mountRoot;
  try { readFileSync(`${mountRoot}/unified/cgroup.controllers`); unified = `${mountRoot}/unified`; } catch { /* cgroup v2 only */ }
  return `${unified}${v2.path === '/' ? '' : v2.path}/cgroup.procs`;
}

export class CgroupMoveWarmer {
  private holders = 0;
  private writing: Promise<void> | undefined;
  private file: Promise<fsp.FileHandle> | undefined;
  private disabled: boolean;

  /** procsFile: where to move ourselves (ownCgroupProcsFile()); none: holding does nothing. */
  constructor(private readonly procsFile: string | undefined) { this.disabled = !procsFile; }

  /** Keeps the fast path open until the returned function is called (once the runtime has placed its process). */
  hold(): () => void {
    if (this.disabled) return () => undefined;
    this.holders++;
    this.warm();
    let released = false;
    return () => { if (!released) { released = true; this.holders--; } };
  }

  /** How many starts hold it now (tests). */
  get holding(): number { return this.holders; }

  /** Resolves once no write is in flight (tests). */
  async whenIdle(): Promise<void> { while (this.writing) await this.writing; }

  private warm(): void {
    if (this.writing || this.disabled || this.holders === 0) return;
    this.file ??= fsp.open(this.procsFile!, 'w');
    // On the thread pool: the first write blocks for the grace period; the event loop does not.
    this.writing = this.file.then((fh) => fh.write(String(process.pid), 0))
      .then(() => undefined, () => { this.disabled = true; this.close(); })   // not ours to move (a container, rootless): do without
      .finally(() => {
        this.writing = undefined;
        if (this.holders > 0) setTimeout(() => this.warm(), INTERVAL_MS).unref();
      });
  }

  close(): void {
    const f = this.file;
    this.file = undefined;
    void f?.then((fh) => fh.close()).catch(() => undefined);
  }
}
