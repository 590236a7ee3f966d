/** top, port, diff, export, update, commit, cp, stats, move. */
import { createWriteStream, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StatusError, type Command, type Ctx } from '../command.js';
import { FlagError, type FlagSpec } from '../flags.js';
import { renderList, resolveFormat } from '../format/formatter.js';
import { bytesSize, humanSizeWithPrecision, parseBytes } from '../format/humanize.js';
import { tabulate } from '../format/tabwriter.js';
import { parseRestartPolicy } from '../run-options.js';
import { forEachTarget, truncateId } from '../shared.js';
import { UsageError } from '../command.js';
import type { ContainerUpdateBody } from '../../client/index.js';

const top: Command = {
  usage: 'top CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  flags: [],
  stopAtFirstArg: true,
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const [id, ...psArgs] = p.args;
    const t = await client.topContainer(id, psArgs.length ? psArgs.join(' ') : undefined);
    let text = t.Titles.join('\t') + '\n';
    for (const proc of t.Processes ?? []) text += proc.join('\t') + '\n';
    ctx.out(tabulate(text, { minwidth: 20, padding: 3 }));
    return 0;
  },
};

const port: Command = {
  usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  flags: [],
  args: { min: 1, max: 2 },
  async run(ctx, p) {
    const client = await ctx.client();
    const info = await client.inspectContainer(p.args[0]);
    const ports = info.NetworkSettings.Ports ?? {};
    const join = (ip: string | undefined, hp: string | undefined): string => {
      const host = ip ?? ''; return `${host.includes(':') ? `[${host}]` : host}:${hp ?? ''}`;
    };
    if (p.args[1]) {
      let [num, proto = 'tcp'] = p.args[1].split('/');
      proto = proto.toLowerCase();
      const key = `${num}/${proto}`;
      const b = ports[key];
      if (!b || b.length === 0) throw new StatusError(`Error: No public port '${p.args[1]}' published for ${p.args[0]}`, 1);
      for (const x of b) ctx.line(join(x.HostIp, x.HostPort));
      return 0;
    }
    const keys = Object.keys(ports).sort((a, b) => {
      const [pa, ta] = a.split('/'); const [pb, tb] = b.split('/');
      return Number(pa) - Number(pb) || (ta < tb ? -1 : ta > tb ? 1 : 0);
    });
    for (const k of keys) for (const x of ports[k] ?? []) ctx.line(`${k} -> ${join(x.HostIp, x.HostPort)}`);
    return 0;
  },
};

const diff: Command = {
  usage: 'diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  args: { exact: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const changes = await client.containerChanges(p.args[0]);
    for (const c of changes ?? []) ctx.line(`${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}`);
    return 0;
  },
};

async function writeOutput(ctx: Ctx, res: NodeJS.ReadableStream, output: string | undefined): Promise<void> {
  if (!output) {
    if (ctx.io.stdout.isTTY) throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    await pipeline(res, ctx.io.stdout, { end: false });
    return;
  }
  const tmp = join(dirname(output), `.${basename(output)}.tmp-${process.pid}`);
  try {
    await pipeline(res, createWriteStream(tmp));
    renameSync(tmp, output);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* none */ }
    throw e;
  }
}

const exportCmd: Command = {
  usage: 'export [OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  args: { exact: 1 },
  async run(ctx, p) {
    const output = p.flags.output as string | undefined;
    if (!output && ctx.io.stdout.isTTY) throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    const client = await ctx.client();
    await writeOutput(ctx, await client.exportContainer(p.args[0]), output);
    return 0;
  },
};

const UPDATE_FLAGS: FlagSpec[] = [
  { name: 'cpus', type: 'string', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
  { name: 'memory-reservation', type: 'string', description: 'Memory soft limit' },
  { name: 'memory-swap', type: 'string', description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
  { name: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits' },
];

const update: Command = {
  usage: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  flags: UPDATE_FLAGS,
  args: { min: 1 },
  async run(ctx, p) {
    if (p.changed.size === 0) throw new StatusError('you must provide one or more flags when using this command', 1);
    const body: ContainerUpdateBody = {};
    const f = p.flags;
    const bytes = (n: string): number => {
      const v = f[n] as string;
      if (v === '-1') return -1;
      try { return parseBytes(v); } catch { throw new UsageError(`invalid argument "${v}" for "--${n}" flag: invalid size: '${v}'`, 'flag'); }
    };
    try {
      if (p.changed.has('memory')) body.Memory = bytes('memory');
      if (p.changed.has('memory-reservation')) body.MemoryReservation = bytes('memory-reservation');
      if (p.changed.has('memory-swap')) body.MemorySwap = bytes('memory-swap');
      if (p.changed.has('cpus')) body.NanoCpus = Math.round(Number(f.cpus) * 1e9);
      if (p.changed.has('cpu-shares')) body.CpuShares = f['cpu-shares'] as number;
      if (p.changed.has('cpu-period')) body.CpuPeriod = f['cpu-period'] as number;
      if (p.changed.has('cpu-quota')) body.CpuQuota = f['cpu-quota'] as number;
      if (p.changed.has('cpuset-cpus')) body.CpusetCpus = f['cpuset-cpus'] as string;
      if (p.changed.has('pids-limit')) body.PidsLimit = f['pids-limit'] as number;
      if (p.changed.has('restart')) body.RestartPolicy = parseRestartPolicy(f.restart as string);
    } catch (e) { if (e instanceof FlagError) throw new UsageError(e.message, 'flag'); throw e; }
    const client = await ctx.client();
    return forEachTarget(ctx, p.args, async (id) => {
      const r = await client.updateContainer(id, body);
      for (const w of r?.Warnings ?? []) ctx.err(`${w}\n`);
      return id;
    });
  },
};

const commit: Command = {
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', default: true, description: 'Pause container during commit' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, p) {
    const [container, ref] = p.args;
    let repo: string | undefined; let tag: string | undefined;
    if (ref) {
      const at = ref.lastIndexOf(':');
      if (at > ref.lastIndexOf('/')) { repo = ref.slice(0, at); tag = ref.slice(at + 1); } else repo = ref;
    }
    const client = await ctx.client();
    const r = await client.commitContainer({
      container, repo, tag, author: p.flags.author as string | undefined, comment: p.flags.message as string | undefined,
      pause: p.flags.pause !== false, changes: p.flags.change as string[],
    });
    ctx.line(r.Id);
    return 0;
  },
};

const cp: Command = {
  usage: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-',
  description: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy' },
  ],
  args: { exact: 2 },
  async run(ctx, p) {
    const { copyCommand } = await import('../copy.js');
    return copyCommand(ctx, p.args[0], p.args[1], { archive: p.flags.archive === true, followLink: p.flags['follow-link'] === true, quiet: p.flags.quiet === true });
  },
};

interface StatsRow { Container: string; ID: string; Name: string; CPUPerc: string; MemUsage: string; MemPerc: string; NetIO: string; BlockIO: string; PIDs: string }

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Docker's calculation of one stats row from a stats sample (cgroup v1 and v2 shapes). */
export function statsRow(container: string, s: Json, trunc = true): StatsRow {
  const cpu = s.cpu_stats ?? {}; const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  let used = mem.usage ?? 0;
  const st = mem.stats ?? {};
  if (st.total_inactive_file !== undefined && st.total_inactive_file < used) used -= st.total_inactive_file;
  else if (st.inactive_file !== undefined && st.inactive_file < used) used -= st.inactive_file;
  const limit = mem.limit ?? 0;
  const memPct = limit > 0 ? used / limit * 100 : 0;
  let rx = 0; let tx = 0;
  for (const n of Object.values(s.networks ?? {}) as Json[]) { rx += n.rx_bytes ?? 0; tx += n.tx_bytes ?? 0; }
  let rd = 0; let wr = 0;
  for (const e of (s.blkio_stats?.io_service_bytes_recursive ?? []) as Json[]) {
    const op = String(e.op ?? '').toLowerCase();
    if (op === 'read') rd += e.value ?? 0; else if (op === 'write') wr += e.value ?? 0;
  }
  const id = String(s.id ?? '');
  // In the docker CLI's `{{json .}}` order (its stats context is a map: keys sorted).
  return {
    BlockIO: `${humanSizeWithPrecision(rd, 3)} / ${humanSizeWithPrecision(wr, 3)}`,
    CPUPerc: `${cpuPct.toFixed(2)}%`, Container: container, ID: trunc ? truncateId(id) : id,
    MemPerc: `${memPct.toFixed(2)}%`, MemUsage: `${bytesSize(used)} / ${bytesSize(limit)}`,
    Name: String(s.name ?? '').replace(/^\//, '') || '--',
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_HEADERS = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };

const stats: Command = {
  usage: 'stats [OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'no-stream', type: 'bool', description: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
  ],
  args: {},
  async run(ctx, p) {
    const client = await ctx.client();
    const trunc = p.flags['no-trunc'] !== true;
    let targets = p.args;
    if (targets.length === 0) {
      const list = await client.listContainers({ all: p.flags.all === true });
      targets = list.map((c) => truncateId(c.Id));
    }
    const format = resolveFormat(p.flags.format as string | undefined, 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}');
    const toRow = (r: StatsRow): Record<string, unknown> => ({ ...r, toJSON: () => r });
    if (p.flags['no-stream']) {
      const rows: StatsRow[] = [];
      const errors: string[] = [];
      for (const t of targets) {
        try { rows.push(statsRow(t, await client.containerStats(t), trunc)); } catch (e) { errors.push(`Error response from daemon: ${(e as Error).message}`); }
      }
      ctx.out(renderList(format, rows.map(toRow), STATS_HEADERS));
      if (errors.length) throw new StatusError(errors.join('\n'), 1);
      return 0;
    }
    const latest = new Map<string, StatsRow>();
    const abort = new AbortController();
    for (const t of targets) {
      (async () => {
        for await (const s of client.containerStatsStream(t, abort.signal)) latest.set(t, statsRow(t, s, trunc));
      })().catch(() => latest.delete(t));
    }
    const draw = (): void => {
      const rows = targets.filter((t) => latest.has(t)).map((t) => toRow(latest.get(t)!));
      ctx.out((ctx.io.stdout.isTTY ? '\x1b[2J\x1b[H' : '') + renderList(format, rows, STATS_HEADERS));
    };
    await new Promise<void>((resolve) => {
      const timer = setInterval(draw, 1000);
      const stop = (): void => { clearInterval(timer); abort.abort(); resolve(); };
      process.once('SIGINT', stop); process.once('SIGTERM', stop);
    });
    return 0;
  },
};

const move: Command = {
  usage: 'container move [OPTIONS] CONTAINER',
  description: 'Move a container to another daemon (context)',
  flags: [{ name: 'to', type: 'string', description: 'Target context' }],
  args: { exact: 1 },
  async run(ctx, p) {
    const to = p.flags.to as string | undefined;
    if (!to) throw new UsageError('--to CONTEXT is required', 'flag');
    const { EngineClient } = await import('../../client/index.js');
    const { moveContainer } = await import('../container-move.js');
    const target = EngineClient.fromEnvironment({ context: to, configDir: ctx.globals.config }, ctx.io.env);
    try {
      await moveContainer(await ctx.client(), target, p.args[0], { log: (l) => ctx.err(l + '\n') });
    } finally { target.close(); }
    ctx.line(p.args[0]);
    return 0;
  },
};

export const commands: Record<string, Command> = { top, port, diff, export: exportCmd, update, commit, cp, stats, move };
