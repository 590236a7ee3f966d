/**
 * Container stats in the Engine API's shape (cpu_stats, precpu_stats, memory_stats, pids_stats,
 * blkio_stats, networks), read from the container's cgroups: cgroup v1 controllers
 * (/sys/fs/cgroup/<controller>/<parent>/<id>) or a unified cgroup2 tree (/sys/fs/cgroup/<parent>/<id>),
 * and the network counters from the container's own /proc/<pid>/net/dev.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ZERO_TIME } from './types.js';

const CG = '/sys/fs/cgroup';
const CLK_TCK = 100;

function read(path: string): string | undefined { try { return readFileSync(path, 'utf8'); } catch { return undefined; } }
function num(path: string): number | undefined { const t = read(path)?.trim(); if (t === undefined || t === '' || t === 'max') return undefined; const n = Number(t); return Number.isFinite(n) ? n : undefined; }
function kv(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) { const [k, v] = line.trim().split(/\s+/); if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v); }
  return out;
}

/** Host CPU time in nanoseconds, as Docker's system_cpu_usage. */
function systemCpuNs(): number {
  const line = read('/proc/stat')?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line.trim().split(/\s+/).slice(1, 8).map(Number).reduce((a, b) => a + b, 0);
  return ticks * (1e9 / CLK_TCK);
}

function v1Dir(controller: 'cpu' | 'cpuacct', rel: string): string | undefined {
  for (const name of [controller, 'cpu,cpuacct']) {
    const p = join(CG, name, rel);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function networks(pid: number): Record<string, unknown> | undefined {
  if (!pid) return undefined;
  const text = read(`/proc/${pid}/net/dev`);
  if (!text) return undefined;
  const out: Record<string, unknown> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = { rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3], tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11] };
  }
  return Object.keys(out).length ? out : undefined;
}

/** `cgroup` is the container's cgroup path below each hierarchy (its spec's linux.cgroupsPath). */
export interface StatsTarget { id: string; name: string; pid: number; running: boolean; cgroup: string }

/** One sample (without precpu_stats/preread, which the caller fills from the previous one). */
export function sampleStats(t: StatsTarget): Record<string, any> {
  const rel = t.cgroup;
  const now = new Date().toISOString();
  const online = cpus().length;
  const empty = {
    read: t.running ? now : ZERO_TIME, pids_stats: {}, blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null },
    num_procs: 0, storage_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    memory_stats: {}, name: '/' + t.name, id: t.id,
  };
  if (!t.running) return empty;
  const unified = existsSync(join(CG, 'cgroup.controllers')) && existsSync(join(CG, rel, 'cgroup.procs')) && !existsSync(join(CG, 'memory'));
  const s: Record<string, any> = { ...empty };
  if (unified) {
    const dir = join(CG, rel);
    const cpu = kv(read(join(dir, 'cpu.stat')));
    s.cpu_stats = {
      cpu_usage: { total_usage: (cpu.usage_usec ?? 0) * 1000, usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000, usage_in_usermode: (cpu.user_usec ?? 0) * 1000 },
      system_cpu_usage: systemCpuNs(), online_cpus: online,
      throttling_data: { periods: cpu.nr_periods ?? 0, throttled_periods: cpu.nr_throttled ?? 0, throttled_time: (cpu.throttled_usec ?? 0) * 1000 },
    };
    const limit = num(join(dir, 'memory.max'));
    s.memory_stats = { usage: num(join(dir, 'memory.current')) ?? 0, stats: kv(read(join(dir, 'memory.stat'))), limit: limit ?? totalmem() };
    s.pids_stats = { current: num(join(dir, 'pids.current')) ?? 0, ...(num(join(dir, 'pids.max')) !== undefined ? { limit: num(join(dir, 'pids.max')) } : {}) };
    const io: { major: number; minor: number; op: string; value: number }[] = [];
    for (const line of (read(join(dir, 'io.stat')) ?? '').split('\n')) {
      const [dev, ...pairs] = line.trim().split(/\s+/);
      if (!dev) continue;
      const [major, minor] = dev.split(':').map(Number);
      const f = Object.fromEntries(pairs.map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]));
      io.push({ major, minor, op: 'read', value: f.rbytes ?? 0 }, { major, minor, op: 'write', value: f.wbytes ?? 0 });
    }
    s.blkio_stats = { ...empty.blkio_stats, io_service_bytes_recursive: io.length ? io : null };
  } else {
    const acct = v1Dir('cpuacct', rel);
    const cpuDir = v1Dir('cpu', rel);
    const percpu = acct ? (read(join(acct, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(Number) : [];
    const stat = acct ? kv(read(join(acct, 'cpuacct.stat'))) : {};
    const thr = cpuDir ? kv(read(join(cpuDir, 'cpu.stat'))) : {};
    s.cpu_stats = {
      cpu_usage: {
        total_usage: acct ? num(join(acct, 'cpuacct.usage')) ?? 0 : 0, ...(percpu.length ? { percpu_usage: percpu } : {}),
        usage_in_kernelmode: (stat.system ?? 0) * (1e9 / CLK_TCK), usage_in_usermode: (stat.user ?? 0) * (1e9 / CLK_TCK),
      },
      system_cpu_usage: systemCpuNs(), online_cpus: online,
      throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
    };
    const mem = join(CG, 'memory', rel);
    const limit = num(join(mem, 'memory.limit_in_bytes'));
    const memStats = kv(read(join(mem, 'memory.stat')));
    s.memory_stats = {
      usage: num(join(mem, 'memory.usage_in_bytes')) ?? 0, max_usage: num(join(mem, 'memory.max_usage_in_bytes')) ?? 0,
      stats: memStats, failcnt: num(join(mem, 'memory.failcnt')) ?? 0,
      limit: limit !== undefined && limit < totalmem() ? limit : totalmem(),
    };
    const pids = join(CG, 'pids', rel);
    const pmax = num(join(pids, 'pids.max'));
    s.pids_stats = { current: num(join(pids, 'pids.current')) ?? 0, ...(pmax !== undefined ? { limit: pmax } : {}) };
    // As dockerd on cgroup v1: every list present ([] when the file is empty or absent), the kernel's
    // op names as they are ("Read", "Total"), no op for the per-device totals (time, sectors).
    const blk = join(CG, 'blkio', rel);
    const parseBlk = (...files: string[]) => {
      for (const file of files) {
        const rows: { major: number; minor: number; op: string; value: number }[] = [];
        for (const line of (read(join(blk, file)) ?? '').split('\n')) {
          const m = /^(\d+):(\d+)\s+(?:(\w+)\s+)?(\d+)$/.exec(line.trim());
          if (m) rows.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? '', value: Number(m[4]) });
        }
        if (rows.length) return rows;
      }
      return [];
    };
    s.blkio_stats = {
      io_service_bytes_recursive: parseBlk('blkio.bfq.io_service_bytes_recursive', 'blkio.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes_recursive'),
      io_serviced_recursive: parseBlk('blkio.bfq.io_serviced_recursive', 'blkio.io_serviced_recursive', 'blkio.throttle.io_serviced_recursive'),
      io_queue_recursive: parseBlk('blkio.io_queued_recursive'),
      io_service_time_recursive: parseBlk('blkio.io_service_time_recursive'),
      io_wait_time_recursive: parseBlk('blkio.io_wait_time_recursive'),
      io_merged_recursive: parseBlk('blkio.io_merged_recursive'),
      io_time_recursive: parseBlk('blkio.time_recursive'),
      sectors_recursive: parseBlk('blkio.sectors_recursive'),
    };
  }
  const net = networks(t.pid);
  if (net) s.networks = net;
  return s;
}

/** Produces Docker's stats messages: one-shot, one with precpu (stream=false), or every second. */
export async function streamStats(
  target: () => StatsTarget, opts: { stream: boolean; oneShot: boolean },
  send: (msg: Record<string, any>) => boolean | Promise<boolean>, closed: () => boolean,
): Promise<void> {
  const blankPre = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  let prev = sampleStats(target());
  // A container that does not run has nothing to compare: dockerd answers at once, its times zero.
  if ((opts.oneShot || !target().running) && !opts.stream) {
    await send({ ...prev, preread: ZERO_TIME, precpu_stats: blankPre });
    return;
  }
  if (!opts.stream) {
    await new Promise((r) => setTimeout(r, 250));
    const cur = sampleStats(target());
    await send({ ...cur, preread: prev.read, precpu_stats: prev.cpu_stats });
    return;
  }
  let first = true;
  while (!closed()) {
    const cur = first ? prev : sampleStats(target());
    const msg = first ? { ...cur, preread: ZERO_TIME, precpu_stats: blankPre } : { ...cur, preread: prev.read, precpu_stats: prev.cpu_stats };
    first = false;
    if (!(await send(msg))) return;
    prev = cur;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
