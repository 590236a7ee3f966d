/** version, info, system df, system prune, events, system dial-stdio. */
import { arch, platform } from 'node:os';
import type { SystemEvent, VersionResponse } from '../../client/index.js';
import { CLIENT_API_VERSION } from '../../client/index.js';
import { StatusError, type Command, type Ctx } from '../command.js';
import { filtersFromFlags } from '../flags.js';
import { renderEach, renderList, resolveFormat } from '../format/formatter.js';
import { Template, formatValue } from '../format/go-template.js';
import { bytesSize, humanSize } from '../format/humanize.js';
import { tabulate } from '../format/tabwriter.js';
import { apiTimestamp, confirm, describeErr } from '../shared.js';
import { printPrune } from './containers.js';
import { selectedContext } from '../connect.js';
import { CONTAINER_HEADERS, IMAGE_HEADERS, VOLUME_HEADERS, containerRow, imageRows, volumeRow } from '../list-contexts.js';

export const BERTH_VERSION = '0.1.0';

const VERSION_TEMPLATE = `{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`.replace(/\\t/g, '\t');

/** Go's time.ANSIC ("Mon Jan _2 15:04:05 2006") in UTC, as docker version reformats build times. */
export function ansicDate(s: string): string {
  const t = Date.parse(s);
  if (Number.isNaN(t)) return s;
  const d = new Date(t);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

const version: Command = {
  usage: 'version [OPTIONS]',
  description: 'Show the Docker version information',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const clientInfo = {
      Platform: { Name: 'berth' }, Version: BERTH_VERSION, APIVersion: CLIENT_API_VERSION, ApiVersion: CLIENT_API_VERSION,
      DefaultAPIVersion: CLIENT_API_VERSION, GoVersion: `node ${process.version}`, GitCommit: 'unknown', BuildTime: 'unknown',
      Os: platform(), Arch: arch() === 'x64' ? 'amd64' : arch(), Context: selectedContext(ctx.globals, ctx.io.env),
    };
    let server: (VersionResponse & { APIVersion?: string }) | undefined;
    let err: unknown;
    try {
      clientInfo.APIVersion = clientInfo.ApiVersion = await client.apiVersion();
      server = await client.version();
      server.APIVersion = server.ApiVersion;
      for (const c of server.Components ?? []) if (c.Details?.BuildTime) c.Details.BuildTime = ansicDate(c.Details.BuildTime);
      if (server.BuildTime) server.BuildTime = ansicDate(server.BuildTime);
      if (!server.Components) {
        server.Components = [{ Name: 'Engine', Version: server.Version, Details: {
          ApiVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion ?? '', GoVersion: server.GoVersion, GitCommit: server.GitCommit,
          BuildTime: server.BuildTime ?? '', Os: server.Os, Arch: server.Arch, Experimental: String(server.Experimental ?? false),
        } }];
      }
      server.Platform ??= { Name: '' };
    } catch (e) { err = e; }
    const data = { Client: clientInfo, Server: server, ServerOK: server !== undefined };
    const format = p.flags.format as string | undefined;
    if (format) {
      ctx.out(renderEach(format === 'json' ? '{{json .}}' : format, [format === 'json' ? { Client: clientInfo, Server: server ?? null } : data]));
    } else {
      ctx.out(tabulate(new Template(VERSION_TEMPLATE).execute(data) + '\n', { minwidth: 20, padding: 1 }));
    }
    if (err) throw new StatusError(describeErr(err), 1);
    return 0;
  },
};

function infoText(ctx: Ctx, i: Record<string, unknown>): string {
  const g = (k: string): unknown => i[k];
  const lines: string[] = [];
  const add = (indent: number, label: string, v: unknown): void => { lines.push(`${' '.repeat(indent)}${label}: ${formatValue(v ?? '')}`); };
  add(1, 'Containers', g('Containers'));
  add(2, 'Running', g('ContainersRunning')); add(2, 'Paused', g('ContainersPaused')); add(2, 'Stopped', g('ContainersStopped'));
  add(1, 'Images', g('Images'));
  add(1, 'Server Version', g('ServerVersion'));
  add(1, 'Storage Driver', g('Driver'));
  for (const [k, v] of (g('DriverStatus') as [string, string][] | null) ?? []) add(2, k, v);
  add(1, 'Logging Driver', g('LoggingDriver'));
  add(1, 'Cgroup Driver', g('CgroupDriver'));
  add(1, 'Cgroup Version', g('CgroupVersion'));
  const plugins = g('Plugins') as Record<string, string[] | null> | undefined;
  if (plugins) {
    lines.push(' Plugins:');
    for (const [k, label] of [['Volume', 'Volume'], ['Network', 'Network'], ['Authorization', 'Authorization'], ['Log', 'Log']]) {
      if (plugins[k]?.length) add(2, label, plugins[k]!.join(' '));
    }
  }
  const swarm = g('Swarm') as { LocalNodeState?: string } | undefined;
  if (swarm) add(1, 'Swarm', swarm.LocalNodeState ?? '');
  const runtimes = g('Runtimes') as Record<string, unknown> | undefined;
  if (runtimes) add(1, 'Runtimes', Object.keys(runtimes).sort().join(' '));
  add(1, 'Default Runtime', g('DefaultRuntime'));
  add(1, 'Init Binary', g('InitBinary'));
  const commit = (k: string) => (g(k) as { ID?: string } | undefined)?.ID ?? '';
  add(1, 'containerd version', commit('ContainerdCommit'));
  add(1, 'runc version', commit('RuncCommit'));
  add(1, 'init version', commit('InitCommit'));
  const sec = g('SecurityOptions') as string[] | undefined;
  if (sec?.length) {
    lines.push(' Security Options:');
    for (const s of sec) {
      const kv = Object.fromEntries(s.split(',').map((x) => x.split('=') as [string, string]));
      lines.push(`  ${kv.name ?? s}`);
      for (const [k, v] of Object.entries(kv)) if (k !== 'name') lines.push(`   ${k[0].toUpperCase()}${k.slice(1)}: ${v}`);
    }
  }
  add(1, 'Kernel Version', g('KernelVersion'));
  add(1, 'Operating System', g('OperatingSystem'));
  add(1, 'OSType', g('OSType'));
  add(1, 'Architecture', g('Architecture'));
  add(1, 'CPUs', g('NCPU'));
  add(1, 'Total Memory', bytesSize(Number(g('MemTotal') ?? 0)));
  add(1, 'Name', g('Name'));
  add(1, 'ID', g('ID'));
  add(1, 'Docker Root Dir', g('DockerRootDir'));
  add(1, 'Debug Mode', g('Debug'));
  add(1, 'Experimental', g('ExperimentalBuild'));
  const insecure = (g('RegistryConfig') as { InsecureRegistryCIDRs?: string[] } | undefined)?.InsecureRegistryCIDRs ?? [];
  if (insecure.length) { lines.push(' Insecure Registries:'); for (const r of insecure) lines.push(`  ${r}`); }
  add(1, 'Live Restore Enabled', g('LiveRestoreEnabled'));
  void ctx;
  return lines.join('\n') + '\n';
}

const info: Command = {
  usage: 'info [OPTIONS]',
  description: 'Display system-wide information',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const format = p.flags.format as string | undefined;
    const contextName = selectedContext(ctx.globals, ctx.io.env);
    if (format) {
      const i = await client.info();
      const data = { ...i, ClientInfo: { Debug: ctx.globals.debug, Context: contextName, Version: BERTH_VERSION } };
      ctx.out(renderEach(format === 'json' ? '{{json .}}' : format, [data]));
      return 0;
    }
    ctx.out(`Client:\n Version:    ${BERTH_VERSION}\n Context:    ${contextName}\n Debug Mode: ${ctx.globals.debug}\n\nServer:\n`);
    let i;
    try { i = await client.info(); } catch (e) { throw new StatusError(describeErr(e), 1); }
    ctx.out(infoText(ctx, i) + '\n');
    return 0;
  },
};

const df: Command = {
  usage: 'system df [OPTIONS]',
  description: 'Show docker disk usage',
  flags: [
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const du = await client.diskUsage();
    const imgs = du.Images ?? []; const ctrs = du.Containers ?? []; const vols = du.Volumes ?? []; const cache = du.BuildCache ?? [];
    const pct = (r: number, t: number): string => t > 0 ? `${humanSize(r)} (${Math.trunc(r * 100 / t)}%)` : humanSize(r);
    const imgTotal = du.LayersSize ?? 0;
    let used = 0;
    for (const i of imgs) if (i.Containers !== 0 && (i.VirtualSize ?? i.Size) !== -1 && i.SharedSize !== -1) used += (i.VirtualSize ?? i.Size) - i.SharedSize;
    const ctrTotal = ctrs.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
    const ctrReclaim = ctrs.filter((c) => c.State !== 'running').reduce((a, c) => a + (c.SizeRw ?? 0), 0);
    const volTotal = vols.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const volReclaim = vols.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const cacheTotal = cache.reduce((a, c) => a + c.Size, 0);
    const cacheReclaim = cache.filter((c) => !c.InUse).reduce((a, c) => a + c.Size, 0);
    const mk = (Type: string, TotalCount: number, Active: number, size: number, Reclaimable: string): Record<string, unknown> => {
      const row = { Active: String(Active), Reclaimable, Size: humanSize(size), TotalCount: String(TotalCount), Type };
      return { ...row, toJSON: () => row };
    };
    const rows = [
      mk('Images', imgs.length, imgs.filter((i) => i.Containers > 0).length, imgTotal, pct(imgTotal - used, imgTotal)),
      mk('Containers', ctrs.length, ctrs.filter((c) => c.State === 'running').length, ctrTotal, pct(ctrReclaim, ctrTotal)),
      mk('Local Volumes', vols.length, vols.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length, volTotal, pct(volReclaim, volTotal)),
      mk('Build Cache', cache.length, cache.filter((c) => c.InUse).length, cacheTotal, humanSize(cacheReclaim)),
    ];
    if (p.flags.verbose) {
      // One row per image (its first tag), as docker system df -v prints them.
      const sections = {
        Images: imgs.map((i) => imageRows(i, true, false)[0]),
        Containers: ctrs.map((c) => containerRow({ ...c, SizeRootFs: 0 }, true)),   // without the virtual size, as docker
        Volumes: vols.map((v) => volumeRow(v)),
        BuildCache: [] as Record<string, unknown>[],
      };
      if (p.flags.format) { ctx.out(renderEach(p.flags.format as string, [sections])); return 0; }
      const table = (fmt: string, rows: unknown[], headers: unknown) => renderList(`table ${fmt}`, rows, headers);
      ctx.out('Images space usage:\n\n' + table('{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}', sections.Images, IMAGE_HEADERS)
        + '\nContainers space usage:\n\n' + table('{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}', sections.Containers, CONTAINER_HEADERS)
        + '\nLocal Volumes space usage:\n\n' + table('{{.Name}}\t{{.Links}}\t{{.Size}}', sections.Volumes, VOLUME_HEADERS)
        + `\nBuild cache usage: ${humanSize(cacheTotal)}\n\n` + table('{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}', [],
          { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' }));
      return 0;
    }
    const format = resolveFormat(p.flags.format as string | undefined, 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}');
    ctx.out(renderList(format, rows, { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' }));
    return 0;
  },
};

const systemPrune: Command = {
  usage: 'system prune [OPTIONS]',
  description: 'Remove unused data',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const all = p.flags.all === true; const volumes = p.flags.volumes === true;
    const items = ['all stopped containers', 'all networks not used by at least one container'];
    if (volumes) items.push('all anonymous volumes not used by at least one container');
    items.push(all ? 'all images without at least one container associated to them' : 'all dangling images');
    items.push(all ? 'all build cache' : 'unused build cache');
    const warning = `WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join('')}`;
    if (!p.flags.force && !await confirm(ctx, `${warning}\nAre you sure you want to continue?`)) return 0;
    const client = await ctx.client();
    const filters = filtersFromFlags(p.flags.filter as string[]);
    let space = 0;
    const c = await client.pruneContainers(filters);
    space += c.SpaceReclaimed ?? 0;
    printPrune(ctx, 'Deleted Containers', c.ContainersDeleted ?? [], 0, false);
    const n = await client.pruneNetworks(filters);
    printPrune(ctx, 'Deleted Networks', n.NetworksDeleted ?? [], 0, false);
    if (volumes) {
      const v = await client.pruneVolumes(filters);
      space += v.SpaceReclaimed ?? 0;
      printPrune(ctx, 'Deleted Volumes', v.VolumesDeleted ?? [], 0, false);
    }
    const i = await client.pruneImages({ ...filters, dangling: [all ? 'false' : 'true'] });
    space += i.SpaceReclaimed ?? 0;
    printPrune(ctx, 'Deleted Images', (i.ImagesDeleted ?? []).map((x) => x.Untagged ? `untagged: ${x.Untagged}` : `deleted: ${x.Deleted}`), 0, false);
    try {
      const b = await client.json<{ CachesDeleted?: string[] | null; SpaceReclaimed?: number }>('POST', '/build/prune', { query: { all: all || undefined } });
      space += b?.SpaceReclaimed ?? 0;
      printPrune(ctx, 'Deleted build cache objects', b?.CachesDeleted ?? [], 0, false);
    } catch { /* daemon without a build cache */ }
    printPrune(ctx, '', [], space);
    return 0;
  },
};

function rfc3339NanoFixed(timeNano: number | bigint | string, time: number): string {
  const ns = typeof timeNano === 'bigint' ? timeNano : typeof timeNano === 'string' ? BigInt(timeNano) : BigInt(Math.round(Number(timeNano || time * 1e9)));
  const sec = ns / 1000000000n; const frac = ns % 1000000000n;
  const d = new Date(Number(sec) * 1000);
  return `${d.toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

export function formatEvent(e: SystemEvent): string {
  const attrs = e.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  let s = `${rfc3339NanoFixed(e.timeNanoText ?? e.timeNano, e.time)} ${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}`;
  if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return s + '\n';
}

const events: Command = {
  usage: 'events [OPTIONS]',
  description: 'Get real time events from the server',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const client = await ctx.client();
    const format = p.flags.format as string | undefined;
    const tmpl = format ? new Template(format === 'json' ? '{{json .}}' : format) : undefined;
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop); process.once('SIGTERM', stop);
    try {
      for await (const e of client.events({
        since: p.changed.has('since') ? apiTimestamp(p.flags.since as string) : undefined,
        until: p.changed.has('until') ? apiTimestamp(p.flags.until as string) : undefined,
        filters: filtersFromFlags(p.flags.filter as string[]), signal: abort.signal,
      })) {
        if (tmpl) {
          const { timeNanoText, ...shown } = e;
          void timeNanoText;
          ctx.out(tmpl.execute(shown) + '\n');
        } else ctx.out(formatEvent(e));
      }
    } finally { process.off('SIGINT', stop); process.off('SIGTERM', stop); }
    return 0;
  },
};

const dialStdio: Command = {
  usage: 'system dial-stdio',
  description: 'Proxy the stdio stream to the daemon connection',
  flags: [],
  args: { max: 0 },
  async run(ctx) {
    const client = await ctx.client();
    const ep = client.endpoint;
    const net = await import('node:net');
    const tls = await import('node:tls');
    const sock = ep.protocol === 'unix' ? net.connect(ep.socketPath!)
      : ep.tls ? tls.connect({ host: ep.hostname, port: ep.port, ca: ep.tls.ca, cert: ep.tls.cert, key: ep.tls.key, rejectUnauthorized: ep.tls.verify })
        : ep.protocol === 'tcp' ? net.connect(ep.port!, ep.hostname) : undefined;
    if (!sock) throw new StatusError(`cannot dial-stdio to ${ep.host}`, 1);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.on('close', () => resolve());
      ctx.io.stdin.pipe(sock);
      sock.pipe(ctx.io.stdout);
    });
    return 0;
  },
};

export const commands: Record<string, Command> = {
  version, info, 'system df': df, 'system prune': systemPrune, events, 'system dial-stdio': dialStdio,
};
