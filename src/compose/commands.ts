/**
 * The runtime commands of `berth compose` (up, down, ps, logs, build, pull, push, exec, run, create, start, stop,
 * restart, rm, kill, pause, unpause, top, images, port, ls): docker compose's flags, output and exit codes, on
 * ComposeRuntime and the Engine API client.
 */
import { randomBytes } from 'node:crypto';
import { EngineClient, FrameDemuxer, STREAM_STDERR, STREAM_SYSTEMERR, type ContainerSummary } from '../client/index.js';
import { messageOf } from '../errors/index.js';
import { ExitError, UsageError, type FlagSpec, type Parsed } from './flags.js';
import { LABEL_CONFIG_FILES, LABEL_CONTAINER_NUMBER, LABEL_PROJECT, LABEL_SERVICE, LABEL_WORKING_DIR } from './labels.js';
import { ComposeRuntime, containerNameOf, where, type UpOptions } from './runtime.js';
import { serviceDependencies } from './dependencies.js';
import type { ComposeProject } from './types.js';

export interface CommandIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

export interface CommandContext {
  io: CommandIO;
  /** Loads the project (services named on the command line activate their profiles). */
  project(services?: string[]): Promise<ComposeProject>;
  /** Project name only, for commands that work without compose files (ls, and -p with no file). */
  envFiles?: string[];
  /** `--ansi`: never, always, auto. */
  ansi?: string;
  parse(args: string[], specs: FlagSpec[], stopAtPositional?: boolean): Parsed;
}

const B = (names: string[]): FlagSpec => ({ names, value: false });
const V = (names: string[], repeat = false): FlagSpec => ({ names, value: true, repeat });
const HELP = B(['--help', '-h']);

export const COMMAND_FLAGS: Record<string, FlagSpec[]> = {
  up: [B(['--detach', '-d']), B(['--build']), B(['--no-build']), V(['--pull']), B(['--force-recreate']), B(['--no-recreate']),
    B(['--no-deps']), B(['--remove-orphans']), V(['--scale'], true), B(['--wait']), V(['--wait-timeout']),
    B(['--abort-on-container-exit']), B(['--abort-on-container-failure']), V(['--exit-code-from']), V(['--timeout', '-t']),
    B(['--no-start']), B(['--no-color']), B(['--no-log-prefix']), B(['--quiet-pull']), V(['--attach'], true), B(['--no-attach']),
    B(['--always-recreate-deps']), B(['--renew-anon-volumes', '-V']), B(['--timestamps']), B(['--menu']), B(['--yes', '-y']), HELP],
  down: [B(['--volumes', '-v']), V(['--rmi']), B(['--remove-orphans']), V(['--timeout', '-t']), HELP],
  ps: [B(['--all', '-a']), B(['--quiet', '-q']), B(['--services']), V(['--format']), V(['--filter'], true), V(['--status'], true), B(['--no-trunc']), B(['--orphans']), HELP],
  logs: [B(['--follow', '-f']), V(['--tail', '-n']), B(['--timestamps', '-t']), V(['--since']), V(['--until']), B(['--no-color']), B(['--no-log-prefix']), V(['--index']), HELP],
  build: [B(['--pull']), B(['--no-cache']), B(['--quiet', '-q']), V(['--build-arg'], true), B(['--push']), HELP],
  pull: [B(['--ignore-pull-failures']), B(['--quiet', '-q']), B(['--include-deps']), B(['--ignore-buildable']), V(['--policy']), HELP],
  push: [B(['--ignore-push-failures']), B(['--quiet', '-q']), B(['--include-deps']), HELP],
  exec: [B(['--detach', '-d']), B(['--no-TTY', '-T']), B(['--interactive', '-i']), B(['--tty', '-t']), V(['--user', '-u']), V(['--workdir', '-w']), V(['--env', '-e'], true), V(['--index']), B(['--privileged']), HELP],
  run: [B(['--rm']), B(['--detach', '-d']), V(['--env', '-e'], true), B(['--no-deps']), V(['--entrypoint']), V(['--publish', '-p'], true), V(['--name']),
    B(['--no-TTY', '-T']), B(['--interactive', '-i']), B(['--tty', '-t']), V(['--user', '-u']), V(['--workdir', '-w']), B(['--service-ports']), B(['--build']), B(['--quiet-pull']), B(['--remove-orphans']), V(['--label', '-l'], true), V(['--volume', '-v'], true), HELP],
  create: [B(['--build']), B(['--no-build']), V(['--pull']), B(['--force-recreate']), B(['--no-recreate']), B(['--remove-orphans']), V(['--scale'], true), HELP],
  start: [B(['--wait']), V(['--wait-timeout']), HELP],
  stop: [V(['--timeout', '-t']), HELP],
  restart: [V(['--timeout', '-t']), B(['--no-deps']), HELP],
  rm: [B(['--force', '-f']), B(['--stop', '-s']), B(['--volumes', '-v']), HELP],
  kill: [V(['--signal', '-s']), B(['--remove-orphans']), HELP],
  pause: [HELP],
  unpause: [HELP],
  top: [HELP],
  images: [B(['--quiet', '-q']), V(['--format']), HELP],
  port: [V(['--protocol']), V(['--index']), HELP],
  ls: [B(['--all', '-a']), B(['--quiet', '-q']), V(['--format']), V(['--filter'], true), HELP],
};

const has = (p: Parsed, f: string) => p.flags.has(f) && p.flags.get(f)!.at(-1) !== 'false';
const val = (p: Parsed, f: string) => p.flags.get(f)?.at(-1);
const all = (p: Parsed, f: string) => p.flags.get(f) ?? [];
const num = (p: Parsed, f: string): number | undefined => {
  const v = val(p, f);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`invalid argument "${v}" for "${f}" flag`);
  return n;
};

function table(header: string[], rows: string[][]): string {
  const every = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...every.map((r) => (r[i] ?? '').length)));
  return every.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

function humanSince(seconds: number): string {
  const d = Math.max(0, Date.now() / 1000 - seconds);
  if (d < 60) return `${Math.max(1, Math.round(d))} seconds ago`;
  if (d < 3600) return `${Math.round(d / 60)} minutes ago`;
  if (d < 86400 * 2) return `${Math.round(d / 3600)} hours ago`;
  return `${Math.round(d / 86400)} days ago`;
}

function portsText(c: ContainerSummary): string {
  return (c.Ports ?? []).map((p) => (p.PublicPort ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', ');
}

function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n < 10 && i ? n.toFixed(2) : n < 100 && i ? n.toFixed(1) : Math.round(n)}${units[i]}`;
}

function parseScale(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const [k, v] = s.split('=');
    if (!k || v === undefined || !/^\d+$/.test(v)) throw new UsageError(`invalid --scale value "${s}": expected SERVICE=NUM`);
    out[k] = Number(v);
  }
  return out;
}

export async function runCommand(command: string, args: string[], ctx: CommandContext): Promise<number> {
  const specs = COMMAND_FLAGS[command];
  const p = ctx.parse(args, specs, command === 'exec' || command === 'run');
  if (has(p, '--help')) {
    ctx.io.stdout.write(`Usage:  berth compose ${command} [OPTIONS] [SERVICE...]\n\nOptions:\n${specs.map((s) => `  ${s.names.join(', ')}${s.value ? ' string' : ''}`).join('\n')}\n`);
    return 0;
  }
  if (command === 'ls') return ls(p, ctx);
  const serviceArgs = ['exec', 'run', 'port'].includes(command) ? p.rest.slice(0, 1) : command === 'top' || command === 'images' ? p.rest : p.rest;
  // The daemon's ping (API version negotiation) goes out first and is answered while the project loads; a failure
  // to pick an endpoint or to connect is reported where it was before, after the project loaded.
  let client: EngineClient | undefined;
  let endpointError: unknown;
  try {
    client = EngineClient.fromEnvironment({}, ctx.io.env as NodeJS.ProcessEnv);
    client.apiVersion().catch(() => {});
  } catch (e) { endpointError = e; }
  let project: ComposeProject;
  try {
    project = await ctx.project(serviceArgs);
  } catch (e) {
    client?.close();
    throw e;
  }
  if (!client) throw endpointError;
  const rt = new ComposeRuntime(client, project, ctx.io.stdout, ctx.io.stderr, { envFiles: ctx.envFiles });
  try {
    switch (command) {
      case 'up': return await up(p, rt, ctx);
      case 'create': {
        rt.checkServices(p.rest);
        await rt.up(upOptions(p, { noStart: true }));
        return 0;
      }
      case 'down': {
        const rmi = val(p, '--rmi');
        if (rmi && rmi !== 'all' && rmi !== 'local') throw new UsageError(`invalid value for --rmi: "${rmi}" (expected all or local)`);
        await rt.down({ volumes: has(p, '--volumes'), rmi: rmi as 'all' | 'local' | undefined, removeOrphans: has(p, '--remove-orphans'), timeout: num(p, '--timeout') });
        return 0;
      }
      case 'ps': return await ps(p, rt, ctx);
      case 'logs': return await logs(p, rt, ctx);
      case 'build': {
        const names = p.rest.length ? p.rest : Object.keys(project.services).sort();
        rt.checkServices(names);
        for (const n of names) {
          if (!project.services[n].build) continue;
          const args = Object.fromEntries(all(p, '--build-arg').map((a) => { const i = a.indexOf('='); return i < 0 ? [a, ctx.io.env[a] ?? null] : [a.slice(0, i), a.slice(i + 1)]; }));
          if (Object.keys(args).length) project.services[n].build = { ...project.services[n].build!, args: { ...project.services[n].build!.args, ...args } };
          await rt.build(n, { pull: has(p, '--pull'), noCache: has(p, '--no-cache'), quiet: has(p, '--quiet') });
          if (has(p, '--push')) await rt.push(n);
        }
        return 0;
      }
      case 'pull': {
        const names = p.rest.length ? p.rest : Object.keys(project.services).sort();
        rt.checkServices(names);
        for (const n of names) {
          if (has(p, '--ignore-buildable') && project.services[n].build) continue;
          await rt.pull(n, { ignoreFailures: has(p, '--ignore-pull-failures') });
        }
        return 0;
      }
      case 'push': {
        const names = p.rest.length ? p.rest : Object.keys(project.services).sort();
        rt.checkServices(names);
        for (const n of names) await rt.push(n, { ignoreFailures: has(p, '--ignore-push-failures') });
        return 0;
      }
      case 'exec': return await exec(p, rt, ctx);
      case 'run': return await run(p, rt, ctx);
      case 'start': case 'stop': case 'restart': case 'kill': case 'pause': case 'unpause': case 'rm':
        return await lifecycle(command, p, rt, ctx);
      case 'top': {
        rt.checkServices(p.rest);
        for (const c of await rt.serviceContainers(p.rest, { running: true })) {
          const t = await client.topContainer(c.Id).catch((e: unknown) => {
            throw new ExitError(1, `top ${containerNameOf(c)}: ${messageOf(e)}${/page not found/.test(messageOf(e)) ? ' (the engine has no GET /containers/{id}/top)' : ''}`);
          });
          ctx.io.stdout.write(`${containerNameOf(c)}\n${table(t.Titles, t.Processes)}\n`);
        }
        return 0;
      }
      case 'images': {
        rt.checkServices(p.rest);
        const list = await rt.serviceContainers(p.rest);
        const rows: string[][] = [];
        for (const c of list) {
          const img = await client.inspectImage(c.ImageID || c.Image).catch(() => undefined);
          const tag = img?.RepoTags?.[0] ?? c.Image;
          const i = tag.lastIndexOf(':');
          rows.push([containerNameOf(c), i > tag.lastIndexOf('/') ? tag.slice(0, i) : tag, i > tag.lastIndexOf('/') ? tag.slice(i + 1) : 'latest',
            (img?.Id ?? c.ImageID).replace(/^sha256:/, '').slice(0, 12), img ? humanSize(img.Size) : '']);
        }
        if (has(p, '--quiet')) { ctx.io.stdout.write([...new Set(rows.map((r) => r[3]))].map((x) => `${x}\n`).join('')); return 0; }
        if (val(p, '--format') === 'json') {
          ctx.io.stdout.write(`${JSON.stringify(rows.map((r) => ({ ContainerName: r[0], Repository: r[1], Tag: r[2], ID: r[3], Size: r[4] })))}\n`);
          return 0;
        }
        ctx.io.stdout.write(table(['CONTAINER', 'REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'], rows));
        return 0;
      }
      case 'port': {
        const [svc, port] = p.rest;
        if (!svc || !port) throw new UsageError('Usage:  berth compose port [OPTIONS] SERVICE PRIVATE_PORT');
        rt.checkServices([svc]);
        const index = num(p, '--index') ?? 1;
        const c = (await rt.serviceContainers([svc])).find((x) => Number(x.Labels?.[LABEL_CONTAINER_NUMBER]) === index);
        if (!c) throw new ExitError(1, `service "${svc}" is not running container #${index}`);
        const info = await client.inspectContainer(c.Id);
        const b = info.NetworkSettings.Ports?.[`${port}/${val(p, '--protocol') ?? 'tcp'}`]?.[0];
        if (!b) throw new ExitError(1, `no port ${port}/${val(p, '--protocol') ?? 'tcp'} for container ${containerNameOf(c)}`);
        ctx.io.stdout.write(`${b.HostIp || '0.0.0.0'}:${b.HostPort}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    client.close();
  }
}

function upOptions(p: Parsed, extra: Partial<UpOptions> = {}): UpOptions {
  if (has(p, '--build') && has(p, '--no-build')) throw new UsageError('--build and --no-build are incompatible');
  if (has(p, '--force-recreate') && has(p, '--no-recreate')) throw new UsageError('--force-recreate and --no-recreate are incompatible');
  const pull = val(p, '--pull');
  if (pull && !['always', 'missing', 'never', 'policy'].includes(pull)) throw new UsageError(`invalid --pull option "${pull}"`);
  return {
    services: p.rest,
    build: has(p, '--build') ? 'always' : has(p, '--no-build') ? 'never' : 'missing',
    pull: pull as UpOptions['pull'],
    forceRecreate: has(p, '--force-recreate'),
    noRecreate: has(p, '--no-recreate'),
    noDeps: has(p, '--no-deps'),
    removeOrphans: has(p, '--remove-orphans'),
    alwaysRecreateDeps: has(p, '--always-recreate-deps'),
    scale: parseScale(all(p, '--scale')),
    timeout: num(p, '--timeout'),
    ...extra,
  };
}

function colours(ctx: CommandContext, p: Parsed): boolean {
  if (has(p, '--no-color') || ctx.ansi === 'never' || ctx.io.env.NO_COLOR) return false;
  return ctx.ansi === 'always' || !!ctx.io.stdout.isTTY;
}

async function up(p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  const detach = has(p, '--detach') || has(p, '--wait');
  const exitFrom = val(p, '--exit-code-from');
  const abort = has(p, '--abort-on-container-exit') || has(p, '--abort-on-container-failure') || !!exitFrom;
  if (detach && abort) throw new UsageError('--abort-on-container-exit and --detach are incompatible');
  if (exitFrom) rt.checkServices([exitFrom]);
  const opts = upOptions(p);
  await rt.up(opts);
  const services = opts.services?.length ? expand(rt.project, opts.services, !!opts.noDeps) : Object.keys(rt.project.services);
  if (has(p, '--wait')) {
    const t = num(p, '--wait-timeout');
    await rt.waitReady(services, t !== undefined ? t * 1000 : 600_000);
    return 0;
  }
  if (detach) return 0;
  return foreground(rt, ctx, p, services, { abort, failureOnly: has(p, '--abort-on-container-failure'), exitFrom, timeout: opts.timeout });
}

function expand(project: ComposeProject, roots: string[], noDeps: boolean): string[] {
  const out = new Set<string>();
  const visit = (n: string): void => {
    if (out.has(n) || !project.services[n]) return;
    out.add(n);
    if (!noDeps) serviceDependencies(project.services[n]).forEach(visit);
  };
  roots.forEach(visit);
  return [...out];
}

/** `up` in the foreground: every container's logs with prefixes until they all exit; Ctrl-C stops everything. */
async function foreground(rt: ComposeRuntime, ctx: CommandContext, p: Parsed, services: string[],
  o: { abort: boolean; failureOnly: boolean; exitFrom?: string; timeout?: number }): Promise<number> {
  const { LogPrinter } = await import('./log-printer.js');   // only the foreground prints logs
  const printer = new LogPrinter(ctx.io.stdout, colours(ctx, p), !has(p, '--no-log-prefix'));
  const containers = await rt.serviceContainers(services);
  for (const c of containers) printer.register(containerNameOf(c));
  ctx.io.stdout.write(`Attaching to ${containers.map(containerNameOf).join(', ')}\n`);
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  let aborted = false;
  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(containers.map(async (c) => {
        const svc = rt.project.services[c.Labels?.[LABEL_SERVICE] ?? ''];
        const t = o.timeout ?? (svc?.stop_grace_period !== undefined ? Math.round(svc.stop_grace_period / 1e9) : undefined);
        rt.err.write(` Container ${containerNameOf(c)}  Stopping\n`);
        await rt.client.stopContainer(c.Id, { timeout: t }).catch(() => {});
        rt.err.write(` Container ${containerNameOf(c)}  Stopped\n`);
      }));
    })();
    return stopping;
  };
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) { for (const c of containers) void rt.client.killContainer(c.Id).catch(() => {}); return; }
    aborted = true;
    rt.err.write('Gracefully stopping... (press Ctrl+C again to force)\n');
    void stopAll();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    await Promise.all(containers.map(async (c) => {
      const name = containerNameOf(c);
      const info = await rt.client.inspectContainer(c.Id);
      const stream = await rt.client.containerLogs(c.Id, { follow: true });
      await printer.follow(name, stream, !!info.Config.Tty);
      const r = await rt.client.waitContainer(c.Id, 'not-running').catch(() => ({ StatusCode: -1 }));
      printer.event(name, `exited with code ${r.StatusCode}`);
      const svc = c.Labels?.[LABEL_SERVICE];
      if (o.exitFrom ? svc === o.exitFrom : o.abort && exitCode === 0 && !stopping) exitCode = r.StatusCode;
      if (o.abort && !stopping && (!o.failureOnly || r.StatusCode !== 0)) {
        rt.err.write('Aborting on container exit...\n');
        void stopAll();
      }
    }));
    if (stopping) await stopping;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (aborted && !o.exitFrom) return 130;
  return exitCode;
}

async function ps(p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  rt.checkServices(p.rest);
  const statuses = all(p, '--status');
  const filters = all(p, '--filter');
  for (const f of filters) {
    const [k, v] = f.split('=');
    if (k === 'status') statuses.push(v);
    else throw new UsageError(`invalid filter "${f}"`);
  }
  if (has(p, '--services')) {
    const list = await rt.serviceContainers(p.rest, { running: !has(p, '--all') });
    const names = [...new Set(list.map((c) => c.Labels?.[LABEL_SERVICE] ?? ''))].filter((n) => !statuses.length || list.some((c) => c.Labels?.[LABEL_SERVICE] === n && statuses.includes(c.State)));
    ctx.io.stdout.write(names.map((n) => `${n}\n`).join(''));
    return 0;
  }
  let list = await rt.serviceContainers(p.rest, { oneoff: true });
  if (statuses.length) list = list.filter((c) => statuses.includes(c.State));
  else if (!has(p, '--all')) list = list.filter((c) => ['running', 'restarting', 'paused'].includes(c.State));
  if (has(p, '--quiet')) { ctx.io.stdout.write(list.map((c) => `${c.Id}\n`).join('')); return 0; }
  const format = val(p, '--format') ?? 'table';
  if (format === 'json') {
    for (const c of list) {
      const l = c.Labels ?? {};
      ctx.io.stdout.write(`${JSON.stringify({
        Command: `"${c.Command}"`, CreatedAt: new Date(c.Created * 1000).toISOString(), ExitCode: exitCodeOf(c.Status), Health: healthOf(c.Status),
        ID: c.Id, Image: c.Image, Labels: Object.entries(l).map(([k, v]) => `${k}=${v}`).join(','), Name: containerNameOf(c), Names: containerNameOf(c),
        Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','), Ports: portsText(c), Project: l[LABEL_PROJECT], Publishers: (c.Ports ?? []).map((x) => ({ URL: x.IP ?? '', TargetPort: x.PrivatePort, PublishedPort: x.PublicPort ?? 0, Protocol: x.Type })),
        RunningFor: humanSince(c.Created), Service: l[LABEL_SERVICE], State: c.State, Status: c.Status,
      })}\n`);
    }
    return 0;
  }
  if (format !== 'table') throw new UsageError(`unsupported format "${format}" (table or json)`);
  ctx.io.stdout.write(table(['NAME', 'IMAGE', 'COMMAND', 'SERVICE', 'CREATED', 'STATUS', 'PORTS'], list.map((c) => {
    const cmd = c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command;
    return [containerNameOf(c), c.Image, `"${cmd}"`, c.Labels?.[LABEL_SERVICE] ?? '', humanSince(c.Created), c.Status, portsText(c)];
  })));
  return 0;
}

function exitCodeOf(status: string): number {
  const m = /Exited \((\d+)\)/.exec(status);
  return m ? Number(m[1]) : 0;
}
function healthOf(status: string): string {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  return m ? m[1].replace('health: ', '') : '';
}

async function logs(p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  rt.checkServices(p.rest);
  const index = num(p, '--index');
  const list = (await rt.serviceContainers(p.rest, { oneoff: false }))
    .filter((c) => index === undefined || Number(c.Labels?.[LABEL_CONTAINER_NUMBER]) === index);
  const { LogPrinter } = await import('./log-printer.js');
  const printer = new LogPrinter(ctx.io.stdout, colours(ctx, p), !has(p, '--no-log-prefix'));
  for (const c of list) printer.register(containerNameOf(c));
  await Promise.all(list.map(async (c) => {
    const info = await rt.client.inspectContainer(c.Id);
    const stream = await rt.client.containerLogs(c.Id, {
      follow: has(p, '--follow'), tail: val(p, '--tail') ?? 'all', timestamps: has(p, '--timestamps'), since: val(p, '--since'), until: val(p, '--until'),
    });
    await printer.follow(containerNameOf(c), stream, !!info.Config.Tty);
  }));
  return 0;
}

async function pickContainer(rt: ComposeRuntime, service: string, index: number | undefined): Promise<ContainerSummary> {
  rt.checkServices([service]);
  const list = await rt.serviceContainers([service], { running: true });
  const c = list.find((x) => Number(x.Labels?.[LABEL_CONTAINER_NUMBER]) === (index ?? 1)) ?? (index === undefined ? list[0] : undefined);
  if (!c) throw new ExitError(1, `service "${service}" is not running${index !== undefined ? ` container #${index}` : ''}`);
  return c;
}

/** Runs an attached exec or container stream to the terminal / io; resolves when the stream ends. */
function pipeOutput(socket: NodeJS.ReadWriteStream, head: Buffer, tty: boolean, io: CommandIO): Promise<void> {
  return new Promise((resolve) => {
    const demux = new FrameDemuxer();
    const onData = (chunk: Buffer): void => {
      if (tty) { io.stdout.write(chunk.toString('utf8')); return; }
      for (const f of demux.push(chunk)) {
        if (f.stream === STREAM_STDERR || f.stream === STREAM_SYSTEMERR) io.stderr.write(f.payload.toString('utf8'));
        else io.stdout.write(f.payload.toString('utf8'));
      }
    };
    if (head.length) onData(head);
    socket.on('data', onData);
    socket.on('end', resolve);
    socket.on('close', resolve);
    socket.on('error', () => resolve());
  });
}

function interactive(p: Parsed): { tty: boolean; stdin: boolean } {
  const stdinTty = !!process.stdin.isTTY;
  const tty = has(p, '--no-TTY') ? false : has(p, '--tty') || stdinTty;
  return { tty: tty && stdinTty, stdin: stdinTty && !has(p, '--no-TTY') };
}

/** Wires the local terminal to a hijacked connection (raw mode), for interactive exec and run. */
function attachTerminal(socket: NodeJS.ReadWriteStream): () => void {
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onData = (d: Buffer) => socket.write(d);
  stdin.on('data', onData);
  stdin.resume();
  return () => { stdin.off('data', onData); if (stdin.isTTY) stdin.setRawMode(false); stdin.pause(); };
}

async function exec(p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  const [service, ...cmd] = p.rest;
  if (!service || !cmd.length) throw new UsageError('Usage:  berth compose exec [OPTIONS] SERVICE COMMAND [ARGS...]');
  const c = await pickContainer(rt, service, num(p, '--index'));
  const mode = interactive(p);
  const detach = has(p, '--detach');
  const { Id } = await rt.client.createExec(c.Id, {
    Cmd: cmd, Tty: mode.tty, AttachStdin: mode.stdin && !detach, AttachStdout: !detach, AttachStderr: !detach,
    User: val(p, '--user'), WorkingDir: val(p, '--workdir'), Env: all(p, '--env'), Privileged: has(p, '--privileged'),
  });
  if (detach) { await rt.client.startExecDetached(Id, { tty: mode.tty }); return 0; }
  const conn = await rt.client.startExecAttached(Id, { tty: mode.tty });
  const release = mode.stdin ? attachTerminal(conn.socket) : () => {};
  try {
    await pipeOutput(conn.socket, conn.head, mode.tty, ctx.io);
  } finally { release(); }
  for (let i = 0; i < 100; i++) {
    const x = await rt.client.inspectExec(Id);
    if (!x.Running && x.ExitCode !== null) return x.ExitCode;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 0;
}

async function run(p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  const [service, ...cmd] = p.rest;
  if (!service) throw new UsageError('Usage:  berth compose run [OPTIONS] SERVICE [COMMAND] [ARGS...]');
  rt.checkServices([service]);
  const deps = serviceDependencies(rt.project.services[service]);
  if (!has(p, '--no-deps') && deps.length) await rt.up({ services: deps, build: has(p, '--build') ? 'always' : 'missing' });
  else { await rt.ensureNetworks([service]); await rt.ensureVolumes([service]); }
  await rt.ensureImages([service], { build: has(p, '--build') ? 'always' : 'missing' });
  await rt.waitDependencies(service);
  const mode = interactive(p);
  const detach = has(p, '--detach');
  const entry = val(p, '--entrypoint');
  const ports = [...all(p, '--publish'), ...(has(p, '--service-ports') ? (rt.project.services[service].ports ?? []).map((x) => `${x.host_ip ? `${x.host_ip}:` : ''}${x.published ?? ''}:${x.target}/${x.protocol}`) : [])];
  const name = val(p, '--name') ?? `${rt.project.name}-${service}-run-${randomBytes(6).toString('hex')}`;
  const c = await rt.createReplica(service, 1, {
    oneoff: true, command: cmd.length ? cmd : undefined, entrypoint: entry !== undefined ? (entry === '' ? [] : [entry]) : undefined,
    env: all(p, '--env'), user: val(p, '--user'), workdir: val(p, '--workdir'), ports, tty: mode.tty, stdin: mode.stdin && !detach,
    autoRemove: has(p, '--rm') && detach, containerName: name,
  });
  if (detach) {
    await rt.client.startContainer(c.id);
    ctx.io.stdout.write(`${c.name}\n`);
    return 0;
  }
  const conn = await rt.client.attachContainer(c.id, { stream: true, stdin: mode.stdin, stdout: true, stderr: true });
  const waiter = await rt.client.waitContainerStarted(c.id, 'next-exit');
  const output = pipeOutput(conn.socket, conn.head, mode.tty, ctx.io);
  await rt.client.startContainer(c.id);
  const release = mode.stdin ? attachTerminal(conn.socket) : () => {};
  let code: number;
  try {
    code = (await waiter.result).StatusCode;
    await Promise.race([output, new Promise((r) => setTimeout(r, 2000))]);
  } finally {
    release();
    conn.socket.destroy();
  }
  if (has(p, '--rm')) await rt.client.removeContainer(c.id, { force: true, volumes: true }).catch(() => {});
  return code;
}

async function lifecycle(command: string, p: Parsed, rt: ComposeRuntime, ctx: CommandContext): Promise<number> {
  rt.checkServices(p.rest);
  // the project's services only (not orphans)
  const list = (await rt.serviceContainers(p.rest)).filter((c) => !!rt.project.services[c.Labels?.[LABEL_SERVICE] ?? '']);
  const timeout = num(p, '--timeout');
  const say = (c: ContainerSummary, s: string) => ctx.io.stderr.write(` Container ${containerNameOf(c)}  ${s}\n`);
  // services grouped by how deep they sit below their dependents: a group's services do not depend on each other,
  // so each group goes at once — dependents first when stopping, dependencies first when starting
  const depth = rt.dependentDepth();
  const groups = (dependentsFirst: boolean): ContainerSummary[][] => {
    const byRank = new Map<number, ContainerSummary[]>();
    for (const c of list) {
      const r = depth.get(c.Labels?.[LABEL_SERVICE] ?? '') ?? 0;
      byRank.set(r, [...(byRank.get(r) ?? []), c]);
    }
    return [...byRank.keys()].sort((a, b) => (dependentsFirst ? a - b : b - a)).map((r) => byRank.get(r)!);
  };
  const each = async <T>(xs: T[], fn: (x: T) => Promise<void>): Promise<void> => {
    const failed = (await Promise.allSettled(xs.map(fn))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const running = (c: ContainerSummary) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
  switch (command) {
    case 'start': {
      if (!list.length) throw new ExitError(1, 'service(s) have no containers: run `berth compose up` or `create` first');
      for (const group of groups(false)) {
        const services = [...new Set(group.map((c) => c.Labels?.[LABEL_SERVICE] ?? ''))];
        await each(services, async (n) => {
          await rt.waitDependencies(n);
          await each(group.filter((c) => c.Labels?.[LABEL_SERVICE] === n && c.State !== 'running'), async (c) => {
            say(c, 'Starting'); await rt.client.startContainer(c.Id); say(c, 'Started');
          });
        });
      }
      if (has(p, '--wait')) await rt.waitReady(p.rest.length ? p.rest : Object.keys(rt.project.services), (num(p, '--wait-timeout') ?? 600) * 1000);
      return 0;
    }
    case 'stop':
      for (const group of groups(true)) {
        await each(group.filter(running), async (c) => { say(c, 'Stopping'); await rt.client.stopContainer(c.Id, { timeout }); say(c, 'Stopped'); });
      }
      return 0;
    case 'restart':
      for (const group of groups(false)) {
        await each(group, async (c) => { say(c, 'Restarting'); await rt.client.restartContainer(c.Id, { timeout }); say(c, 'Started'); });
      }
      return 0;
    case 'kill': {
      const targets = list.filter((c) => c.State === 'running');
      if (!targets.length) { ctx.io.stderr.write('no container to kill\n'); return 0; }
      await each(targets, async (c) => { say(c, 'Killing'); await rt.client.killContainer(c.Id, val(p, '--signal')); say(c, 'Killed'); });
      return 0;
    }
    case 'pause':
      await each(list.filter((c) => c.State === 'running'), async (c) => { say(c, 'Pausing'); await rt.client.pauseContainer(c.Id); say(c, 'Paused'); });
      return 0;
    case 'unpause':
      await each(list.filter((c) => c.State === 'paused'), async (c) => { say(c, 'Unpausing'); await rt.client.unpauseContainer(c.Id); say(c, 'Unpaused'); });
      return 0;
    case 'rm': {
      const targets = list.filter((c) => has(p, '--stop') || !running(c));
      if (!targets.length) { ctx.io.stderr.write('No stopped containers\n'); return 0; }
      if (!has(p, '--force')) ctx.io.stderr.write(`Going to remove ${targets.map(containerNameOf).join(', ')}\n`);
      for (const group of groups(true)) {
        await each(group.filter((c) => targets.includes(c)), async (c) => {
          if (c.State === 'running') { say(c, 'Stopping'); await rt.client.stopContainer(c.Id); say(c, 'Stopped'); }
          say(c, 'Removing'); await rt.client.removeContainer(c.Id, { force: true, volumes: has(p, '--volumes') }); say(c, 'Removed');
        });
      }
      return 0;
    }
  }
  return 1;
}

/** `ls`: projects from the labels of every container on the engine (no compose file needed). */
async function ls(p: Parsed, ctx: CommandContext): Promise<number> {
  const client = EngineClient.fromEnvironment({}, ctx.io.env as NodeJS.ProcessEnv);
  try {
    const list = await client.listContainers({ all: true, filters: { label: [LABEL_PROJECT] } });
    const projects = new Map<string, { states: Map<string, number>; files: Set<string>; dir: string }>();
    for (const c of list) {
      const l = c.Labels ?? {};
      const name = l[LABEL_PROJECT];
      if (!name) continue;
      const e = projects.get(name) ?? { states: new Map(), files: new Set(), dir: l[LABEL_WORKING_DIR] ?? '' };
      e.states.set(c.State, (e.states.get(c.State) ?? 0) + 1);
      for (const f of (l[LABEL_CONFIG_FILES] ?? '').split(',').filter(Boolean)) e.files.add(f);
      projects.set(name, e);
    }
    let rows = [...projects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, e]) => ({
      Name: name, Status: [...e.states.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}(${n})`).join(', '), ConfigFiles: [...e.files].join(','),
      running: e.states.has('running'),
    }));
    if (!has(p, '--all')) rows = rows.filter((r) => r.running);
    for (const f of all(p, '--filter')) {
      const [k, v] = f.split('=');
      if (k === 'name') rows = rows.filter((r) => r.Name.includes(v));
      else throw new UsageError(`invalid filter "${f}"`);
    }
    if (has(p, '--quiet')) { ctx.io.stdout.write(rows.map((r) => `${r.Name}\n`).join('')); return 0; }
    if (val(p, '--format') === 'json') {
      ctx.io.stdout.write(`${JSON.stringify(rows.map(({ Name, Status, ConfigFiles }) => ({ Name, Status, ConfigFiles })))}\n`);
      return 0;
    }
    ctx.io.stdout.write(table(['NAME', 'STATUS', 'CONFIG FILES'], rows.map((r) => [r.Name, r.Status, r.ConfigFiles])));
    return 0;
  } catch (e) {
    throw new ExitError(1, messageOf(e));
  } finally {
    client.close();
  }
}

export { where };
