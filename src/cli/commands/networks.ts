/** network create, ls, inspect, connect, disconnect, rm, prune. */
import { NotFoundError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { filtersFromFlags, splitKeyValue } from '../flags.js';
import { renderList, resolveFormat } from '../format/formatter.js';
import { NETWORK_HEADERS, networkRow } from '../list-contexts.js';
import { confirm, forEachTarget, naturalCompare } from '../shared.js';
import { inspectObjects, printPrune, resolveInspectFormat } from './containers.js';

function kv(list: string[]): Record<string, string> {
  return Object.fromEntries(list.map((s) => { const [k, v] = splitKeyValue(s); return [k, v ?? '']; }));
}

const create: Command = {
  usage: 'network create [OPTIONS] NETWORK',
  description: 'Create a network',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'bridge', description: 'Driver to manage the Network' },
    { name: 'subnet', type: 'list', description: 'Subnet in CIDR format that represents a network segment' },
    { name: 'gateway', type: 'list', description: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'ip-range', type: 'list', description: 'Allocate container ip from a sub-range' },
    { name: 'internal', type: 'bool', description: 'Restrict external access to the network' },
    { name: 'attachable', type: 'bool', description: 'Enable manual container attachment' },
    { name: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' },
    { name: 'label', type: 'list', description: 'Set metadata on a network' },
    { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' },
    { name: 'ipam-driver', type: 'string', default: 'default', description: 'IP Address Management Driver' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const subnets = p.flags.subnet as string[]; const gws = p.flags.gateway as string[]; const ranges = p.flags['ip-range'] as string[];
    const config = subnets.map((s, i) => ({ Subnet: s, Gateway: gws[i], IPRange: ranges[i] }));
    const r = await client.createNetwork({
      Name: p.args[0], Driver: p.flags.driver as string, Internal: p.flags.internal === true, Attachable: p.flags.attachable === true,
      EnableIPv6: p.flags.ipv6 === true, CheckDuplicate: true, Options: kv(p.flags.opt as string[]), Labels: kv(p.flags.label as string[]),
      IPAM: { Driver: p.flags['ipam-driver'] as string, Config: config, Options: {} },
    });
    if (r.Warning) ctx.err(`${r.Warning}\n`);
    ctx.line(r.Id);
    return 0;
  },
};

const ls: Command = {
  usage: 'network ls [OPTIONS]',
  description: 'List networks',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'driver=bridge')" },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const nets = (await client.listNetworks(filtersFromFlags(p.flags.filter as string[]))).sort((a, b) => naturalCompare(a.Name, b.Name));
    const format = p.flags.quiet ? '{{.ID}}' : resolveFormat(p.flags.format as string | undefined, 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}');
    ctx.out(renderList(format, nets.map((n) => networkRow(n, p.flags['no-trunc'] !== true)), NETWORK_HEADERS));
    return 0;
  },
};

const inspect: Command = {
  usage: 'network inspect [OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }, { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' }],
  args: { min: 1 },
  async run(ctx, p) { return inspectObjects(ctx, p.args, ['network'], resolveInspectFormat(p.flags.format as string | undefined)); },
};

const connect: Command = {
  usage: 'network connect [OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  flags: [
    { name: 'alias', type: 'list', description: 'Add network-scoped alias for the container' },
    { name: 'ip', type: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'link', type: 'list', description: 'Add link to another container' },
  ],
  args: { exact: 2 },
  async run(ctx, p) {
    const client = await ctx.client();
    const aliases = p.flags.alias as string[];
    const ip = p.flags.ip as string | undefined;
    await client.connectNetwork(p.args[0], p.args[1], {
      Aliases: aliases.length ? aliases : undefined, IPAMConfig: ip ? { IPv4Address: ip } : undefined,
      Links: (p.flags.link as string[]).length ? p.flags.link : undefined,
    });
    return 0;
  },
};

const disconnect: Command = {
  usage: 'network disconnect [OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the container to disconnect from a network' }],
  args: { exact: 2 },
  async run(ctx, p) {
    const client = await ctx.client();
    await client.disconnectNetwork(p.args[0], p.args[1], p.flags.force === true);
    return 0;
  },
};

const rm: Command = {
  usage: 'network rm NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Do not error if the network does not exist' }],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const force = p.flags.force === true;
    // As docker CLI 28: a missing network is no error with -f; failures end with its "exit status 1" line.
    return forEachTarget(ctx, p.args, async (n) => {
      try { await client.removeNetwork(n); } catch (e) { if (force && e instanceof NotFoundError) return undefined; throw e; }
      return n;
    }, () => 'exit status 1');
  },
};

const prune: Command = {
  usage: 'network prune [OPTIONS]',
  description: 'Remove all unused networks',
  flags: [{ name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' }, { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' }],
  args: { max: 0 },
  async run(ctx, p) {
    if (!p.flags.force && !await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?')) return 0;
    const client = await ctx.client();
    const r = await client.pruneNetworks(filtersFromFlags(p.flags.filter as string[]));
    printPrune(ctx, 'Deleted Networks', r.NetworksDeleted ?? [], 0, false);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  'network create': create, 'network ls': ls, 'network inspect': inspect, 'network connect': connect,
  'network disconnect': disconnect, 'network rm': rm, 'network prune': prune,
};
