/** volume create, ls, inspect, rm, prune. */
import type { Command } from '../command.js';
import { filtersFromFlags, splitKeyValue } from '../flags.js';
import { renderList, resolveFormat } from '../format/formatter.js';
import { VOLUME_HEADERS, volumeRow } from '../list-contexts.js';
import { confirm, forEachTarget, naturalCompare } from '../shared.js';
import { inspectObjects, printPrune, resolveInspectFormat } from './containers.js';

function kv(list: string[]): Record<string, string> {
  return Object.fromEntries(list.map((s) => { const [k, v] = splitKeyValue(s); return [k, v ?? '']; }));
}

const create: Command = {
  usage: 'volume create [OPTIONS] [VOLUME]',
  description: 'Create a volume',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'local', description: 'Specify volume driver name' },
    { name: 'label', type: 'list', description: 'Set metadata for a volume' },
    { name: 'name', type: 'string', description: 'Specify volume name' },
    { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const name = p.args[0] ?? (p.flags.name as string | undefined);
    const v = await client.createVolume({ Name: name, Driver: p.flags.driver as string, DriverOpts: kv(p.flags.opt as string[]), Labels: kv(p.flags.label as string[]) });
    ctx.line(v.Name);
    return 0;
  },
};

const ls: Command = {
  usage: 'volume ls [OPTIONS]',
  description: 'List volumes',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'dangling=true')" },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const r = await client.listVolumes(filtersFromFlags(p.flags.filter as string[]));
    const vols = (r.Volumes ?? []).sort((a, b) => naturalCompare(a.Name, b.Name));
    for (const w of r.Warnings ?? []) ctx.err(`${w}\n`);
    const format = p.flags.quiet ? '{{.Name}}' : resolveFormat(p.flags.format as string | undefined, 'table {{.Driver}}\t{{.Name}}');
    ctx.out(renderList(format, vols.map(volumeRow), VOLUME_HEADERS));
    return 0;
  },
};

const inspect: Command = {
  usage: 'volume inspect [OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  args: { min: 1 },
  async run(ctx, p) { return inspectObjects(ctx, p.args, ['volume'], resolveInspectFormat(p.flags.format as string | undefined)); },
};

const rm: Command = {
  usage: 'volume rm [OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' }],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    return forEachTarget(ctx, p.args, async (n) => { await client.removeVolume(n, { force: p.flags.force === true }); return n; });
  },
};

const prune: Command = {
  usage: 'volume prune [OPTIONS]',
  description: 'Remove unused local volumes',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<label>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const all = p.flags.all === true;
    const warning = all ? 'WARNING! This will remove all local volumes not used by at least one container.' : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (!p.flags.force && !await confirm(ctx, `${warning}\nAre you sure you want to continue?`)) return 0;
    const client = await ctx.client();
    const filters = filtersFromFlags(p.flags.filter as string[]);
    if (all) filters.all = ['true'];
    const r = await client.pruneVolumes(filters);
    printPrune(ctx, 'Deleted Volumes', r.VolumesDeleted ?? [], r.SpaceReclaimed);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  'volume create': create, 'volume ls': ls, 'volume inspect': inspect, 'volume rm': rm, 'volume prune': prune,
};
