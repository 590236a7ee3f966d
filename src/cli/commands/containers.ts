/** ps, logs, stop, kill, restart, rm, rename, wait, pause, unpause, inspect, container prune. */
import { NotFoundError } from '../../errors/index.js';
import { demuxStream, type EngineClient } from '../../client/index.js';
import { StatusError, type Command, type Ctx } from '../command.js';
import { filtersFromFlags, type FlagSpec } from '../flags.js';
import { renderEach, renderList, resolveFormat } from '../format/formatter.js';
import { TemplateError } from '../format/go-template.js';
import { humanSizeWithPrecision } from '../format/humanize.js';
import { CONTAINER_HEADERS, containerRow } from '../list-contexts.js';
import { apiTimestamp, confirm, describeErr, forEachTarget, indentJson } from '../shared.js';

const FORMAT: FlagSpec = { name: 'format', type: 'string', description: 'Format output using a custom template' };
const FILTER: FlagSpec = { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' };

const DEFAULT_PS = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

const ps: Command = {
  usage: 'ps [OPTIONS]',
  description: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    FILTER, FORMAT,
    { name: 'last', short: 'n', type: 'int', default: -1, description: 'Show n last created containers (includes all states)' },
    { name: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    let format = f.format as string | undefined;
    if (f.quiet) format = '{{.ID}}';
    let table = DEFAULT_PS;
    if (f.size) table += '\t{{.Size}}';
    const resolved = resolveFormat(format, table);
    const wantSize = f.size === true || /\.Size\b/.test(resolved);
    let limit = f.last as number;
    if (f.latest) limit = 1;
    const client = await ctx.client();
    const list = await client.listContainers({
      all: f.all === true || limit > 0, limit: limit > 0 ? limit : undefined, size: wantSize,
      filters: filtersFromFlags(f.filter as string[]),
    });
    const now = Date.now();
    const rows = list.map((c) => containerRow(c, f['no-trunc'] !== true, now));
    ctx.out(renderList(resolved, rows, CONTAINER_HEADERS));
    return 0;
  },
};

const logs: Command = {
  usage: 'logs [OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  flags: [
    { name: 'details', type: 'bool', description: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
    { name: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', default: 'all', description: 'Number of lines to show from the end of the logs' },
    { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
    { name: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const id = p.args[0];
    const info = await client.inspectContainer(id);
    const res = await client.containerLogs(id, {
      follow: p.flags.follow === true, timestamps: p.flags.timestamps === true, details: p.flags.details === true,
      tail: p.flags.tail as string,
      since: p.changed.has('since') ? apiTimestamp(p.flags.since as string) : undefined,
      until: p.changed.has('until') ? apiTimestamp(p.flags.until as string) : undefined,
    });
    if (info.Config.Tty) {
      await new Promise<void>((resolve, reject) => {
        res.on('data', (d: Buffer) => ctx.io.stdout.write(d));
        res.on('end', resolve); res.on('error', reject);
      });
    } else await demuxStream(res, { stdout: ctx.io.stdout, stderr: ctx.io.stderr });
    return 0;
  },
};

const stopFlags: FlagSpec[] = [
  { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
  { name: 'timeout', short: 't', type: 'int', aliases: ['time'], description: 'Seconds to wait before killing the container' },
];

const stop: Command = {
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  flags: stopFlags,
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const timeout = p.changed.has('timeout') ? p.flags.timeout as number : undefined;
    return forEachTarget(ctx, p.args, async (id) => { await client.stopContainer(id, { timeout, signal: p.flags.signal as string | undefined }); return id; });
  },
};

const restart: Command = {
  usage: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Restart one or more containers',
  flags: stopFlags,
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const timeout = p.changed.has('timeout') ? p.flags.timeout as number : undefined;
    return forEachTarget(ctx, p.args, async (id) => { await client.restartContainer(id, { timeout, signal: p.flags.signal as string | undefined }); return id; });
  },
};

const kill: Command = {
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  flags: [{ name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    return forEachTarget(ctx, p.args, async (id) => { await client.killContainer(id, p.flags.signal as string | undefined); return id; });
  },
};

const rm: Command = {
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' },
    { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const force = p.flags.force === true;
    return forEachTarget(ctx, p.args, async (id) => {
      const name = id.replace(/^\/+/, '');
      if (!name) throw new Error('Container name cannot be empty');
      try {
        await client.removeContainer(name, { force, volumes: p.flags.volumes === true, link: p.flags.link === true });
      } catch (e) {
        // docker rm -f of a missing container says so but does not fail (docker CLI 28).
        if (force && e instanceof NotFoundError) { ctx.err(`${describeErr(e)}\n`); return undefined; }
        throw e;
      }
      return id;
    });
  },
};

const rename: Command = {
  usage: 'rename CONTAINER NEW_NAME',
  description: 'Rename a container',
  flags: [],
  args: { exact: 2 },
  async run(ctx, p) {
    const [oldName, newName] = p.args.map((s) => s.trim());
    if (!oldName || !newName) throw new StatusError('Error: Neither old nor new names may be empty', 1);
    const client = await ctx.client();
    try { await client.renameContainer(oldName, newName); } catch (e) {
      throw new StatusError(`${describeErr(e)}\nError: failed to rename container named ${oldName}`, 1);
    }
    return 0;
  },
};

const wait: Command = {
  usage: 'wait CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    return forEachTarget(ctx, p.args, async (id) => String((await client.waitContainer(id)).StatusCode));
  },
};

const pause: Command = {
  usage: 'pause CONTAINER [CONTAINER...]', description: 'Pause all processes within one or more containers', flags: [], args: { min: 1 },
  async run(ctx, p) { const c = await ctx.client(); return forEachTarget(ctx, p.args, async (id) => { await c.pauseContainer(id); return id; }); },
};
const unpause: Command = {
  usage: 'unpause CONTAINER [CONTAINER...]', description: 'Unpause all processes within one or more containers', flags: [], args: { min: 1 },
  async run(ctx, p) { const c = await ctx.client(); return forEachTarget(ctx, p.args, async (id) => { await c.unpauseContainer(id); return id; }); },
};

type InspectKind = 'container' | 'image' | 'volume' | 'network';

async function fetchRaw(client: EngineClient, kind: InspectKind, name: string, size: boolean): Promise<unknown> {
  let buf: Buffer;
  switch (kind) {
    case 'container': buf = await client.inspectContainerRaw(name, { size }); break;
    case 'image': buf = await client.inspectImageRaw(name); break;
    case 'volume': buf = await client.inspectVolumeRaw(name); break;
    case 'network': buf = await client.inspectNetworkRaw(name); break;
  }
  return JSON.parse(buf.toString('utf8'));
}

/** Inspects each name and prints the JSON array or one template result per object, as docker inspect does. */
export async function inspectObjects(ctx: Ctx, names: string[], kinds: InspectKind[], format: string | undefined, size = false, genericMissing = false): Promise<number> {
  const client = await ctx.client();
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of names) {
    let obj: unknown;
    let lastErr: unknown;
    for (const k of kinds) {
      try { obj = await fetchRaw(client, k, name, size); break; } catch (e) {
        if ((e as Error).name === 'DaemonConnectionError') throw e;
        lastErr = e;
        if (!(e instanceof NotFoundError)) break;
      }
    }
    if (obj !== undefined) found.push(obj);
    else if (genericMissing && lastErr instanceof NotFoundError) errors.push(`Error: No such object: ${name}`);
    else errors.push(describeErr(lastErr));
  }
  // As docker: each object the template renders is printed, one (empty) line when none did, then
  // the template's error if one failed.
  if (format) {
    let rendered = '';
    let failure: TemplateError | undefined;
    for (const obj of found) {
      try { rendered += renderEach(format, [obj], { missingKeyError: true }); } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        failure ??= e;
      }
    }
    ctx.out(rendered || '\n');
    if (failure) throw new StatusError(/^template parsing error/.test(failure.message) ? failure.message : `template parsing error: ${failure.message}`, 1);
  }
  else ctx.line(indentJson(found));
  if (errors.length) throw new StatusError(errors.join('\n'), 1);
  return 0;
}

const inspectFlags: FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' },
];

const inspect: Command = {
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on Docker objects',
  flags: [...inspectFlags, { name: 'type', type: 'string', description: 'Return JSON for specified type' }],
  args: { min: 1 },
  async run(ctx, p) {
    const type = p.flags.type as string | undefined;
    const all: InspectKind[] = ['container', 'image', 'volume', 'network'];
    if (type && !all.includes(type as InspectKind)) throw new StatusError(`"${type}" is not a valid value for --type`, 1);
    const kinds = type ? [type as InspectKind] : all;
    const format = resolveInspectFormat(p.flags.format as string | undefined);
    return inspectObjects(ctx, p.args, kinds, format, p.flags.size === true, !type);
  },
};

export function resolveInspectFormat(f: string | undefined): string | undefined {
  if (!f) return undefined;
  if (f === 'json') return '{{json .}}';
  return f;
}

const containerInspect: Command = {
  usage: 'container inspect [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Display detailed information on one or more containers',
  flags: inspectFlags,
  args: { min: 1 },
  async run(ctx, p) {
    return inspectObjects(ctx, p.args, ['container'], resolveInspectFormat(p.flags.format as string | undefined), p.flags.size === true);
  },
};

/** Prints a prune report: "Deleted X:" list and "Total reclaimed space: N". */
export function printPrune(ctx: Ctx, title: string, items: string[], reclaimed: number | undefined, showSpace = true): void {
  if (items.length) ctx.out(`${title}:\n${items.map((i) => `${i}\n`).join('')}\n`);
  if (showSpace) ctx.line(`Total reclaimed space: ${humanSizeWithPrecision(reclaimed ?? 0, 3)}`);
}

const containerPrune: Command = {
  usage: 'container prune [OPTIONS]',
  description: 'Remove all stopped containers',
  flags: [{ name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' }, { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' }],
  args: { max: 0 },
  async run(ctx, p) {
    if (!p.flags.force && !await confirm(ctx, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?')) {
      return 0;
    }
    const client = await ctx.client();
    const r = await client.pruneContainers(filtersFromFlags(p.flags.filter as string[]));
    printPrune(ctx, 'Deleted Containers', r.ContainersDeleted ?? [], r.SpaceReclaimed);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  ps, logs, stop, restart, kill, rm, rename, wait, pause, unpause, inspect,
  'container inspect': containerInspect, 'container prune': containerPrune,
};
