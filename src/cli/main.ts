/**
 * Entry point of the `berth` CLI: global flags, command lookup (top-level and management forms
 * such as `container ls`), lazy loading of command modules, and docker's error output and exit codes.
 */
import type { EngineClient } from '../client/index.js';
import { Ctx, PROG, StatusError, UsageError, runStyleMessage, type CliIO, type Command, type GlobalOptions } from './command.js';
import { FlagError, parseFlags, type FlagSpec } from './flags.js';

type Loader = () => Promise<Record<string, Command>>;
const L = {
  run: () => import('./commands/run.js').then((m) => m.commands),
  ctr: () => import('./commands/containers.js').then((m) => m.commands),
  ctr2: () => import('./commands/containers-more.js').then((m) => m.commands),
  img: () => import('./commands/images.js').then((m) => m.commands),
  sys: () => import('./commands/system.js').then((m) => m.commands),
  vol: () => import('./commands/volumes.js').then((m) => m.commands),
  net: () => import('./commands/networks.js').then((m) => m.commands),
  ctx: () => import('./commands/contexts.js').then((m) => m.commands),
  reg: () => import('./commands/registry.js').then((m) => m.commands),
} satisfies Record<string, Loader>;

type Entry = [Loader, string, string];  // loader, key in module, one-line description

const CONTAINER: Record<string, Entry> = {
  run: [L.run, 'run', 'Create and run a new container from an image'],
  create: [L.run, 'create', 'Create a new container'],
  start: [L.run, 'start', 'Start one or more stopped containers'],
  attach: [L.run, 'attach', "Attach local standard input, output, and error streams to a running container"],
  exec: [L.run, 'exec', 'Execute a command in a running container'],
  ls: [L.ctr, 'ps', 'List containers'],
  logs: [L.ctr, 'logs', 'Fetch the logs of a container'],
  stop: [L.ctr, 'stop', 'Stop one or more running containers'],
  kill: [L.ctr, 'kill', 'Kill one or more running containers'],
  restart: [L.ctr, 'restart', 'Restart one or more containers'],
  rm: [L.ctr, 'rm', 'Remove one or more containers'],
  rename: [L.ctr, 'rename', 'Rename a container'],
  wait: [L.ctr, 'wait', 'Block until one or more containers stop, then print their exit codes'],
  pause: [L.ctr, 'pause', 'Pause all processes within one or more containers'],
  unpause: [L.ctr, 'unpause', 'Unpause all processes within one or more containers'],
  inspect: [L.ctr, 'container inspect', 'Display detailed information on one or more containers'],
  prune: [L.ctr, 'container prune', 'Remove all stopped containers'],
  top: [L.ctr2, 'top', 'Display the running processes of a container'],
  port: [L.ctr2, 'port', 'List port mappings or a specific mapping for the container'],
  diff: [L.ctr2, 'diff', "Inspect changes to files or directories on a container's filesystem"],
  export: [L.ctr2, 'export', "Export a container's filesystem as a tar archive"],
  update: [L.ctr2, 'update', 'Update configuration of one or more containers'],
  commit: [L.ctr2, 'commit', "Create a new image from a container's changes"],
  cp: [L.ctr2, 'cp', 'Copy files/folders between a container and the local filesystem'],
  stats: [L.ctr2, 'stats', 'Display a live stream of container(s) resource usage statistics'],
  move: [L.ctr2, 'move', 'Move a container to another daemon (context)'],
};
const IMAGE: Record<string, Entry> = {
  ls: [L.img, 'images', 'List images'],
  load: [L.img, 'load', 'Load an image from a tar archive or STDIN'],
  save: [L.img, 'save', 'Save one or more images to a tar archive (streamed to STDOUT by default)'],
  import: [L.img, 'import', 'Import the contents from a tarball to create a filesystem image'],
  tag: [L.img, 'tag', 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE'],
  rm: [L.img, 'rmi', 'Remove one or more images'],
  history: [L.img, 'history', 'Show the history of an image'],
  prune: [L.img, 'image prune', 'Remove unused images'],
  inspect: [L.img, 'image inspect', 'Display detailed information on one or more images'],
  pull: [L.img, 'pull', 'Download an image from a registry'],
  push: [L.img, 'push', 'Upload an image to a registry'],
  build: [L.img, 'build', 'Build an image from a Dockerfile'],
};
const SYSTEM: Record<string, Entry> = {
  info: [L.sys, 'info', 'Display system-wide information'],
  df: [L.sys, 'system df', 'Show docker disk usage'],
  prune: [L.sys, 'system prune', 'Remove unused data'],
  events: [L.sys, 'events', 'Get real time events from the server'],
  'dial-stdio': [L.sys, 'system dial-stdio', 'Proxy the stdio stream to the daemon connection'],
};
const VOLUME: Record<string, Entry> = {
  create: [L.vol, 'volume create', 'Create a volume'], ls: [L.vol, 'volume ls', 'List volumes'],
  inspect: [L.vol, 'volume inspect', 'Display detailed information on one or more volumes'],
  rm: [L.vol, 'volume rm', 'Remove one or more volumes'], prune: [L.vol, 'volume prune', 'Remove unused local volumes'],
};
const NETWORK: Record<string, Entry> = {
  create: [L.net, 'network create', 'Create a network'], ls: [L.net, 'network ls', 'List networks'],
  inspect: [L.net, 'network inspect', 'Display detailed information on one or more networks'],
  connect: [L.net, 'network connect', 'Connect a container to a network'],
  disconnect: [L.net, 'network disconnect', 'Disconnect a container from a network'],
  rm: [L.net, 'network rm', 'Remove one or more networks'], prune: [L.net, 'network prune', 'Remove all unused networks'],
};
const CONTEXT: Record<string, Entry> = {
  create: [L.ctx, 'context create', 'Create a context'], ls: [L.ctx, 'context ls', 'List contexts'],
  use: [L.ctx, 'context use', 'Set the current docker context'], inspect: [L.ctx, 'context inspect', 'Display detailed information on one or more contexts'],
  rm: [L.ctx, 'context rm', 'Remove one or more contexts'], show: [L.ctx, 'context show', 'Print the name of the current context'],
};
const MANAGEMENT: Record<string, { desc: string; subs: Record<string, Entry>; aliases: Record<string, string> }> = {
  container: { desc: 'Manage containers', subs: CONTAINER, aliases: { ps: 'ls', list: 'ls', remove: 'rm' } },
  image: { desc: 'Manage images', subs: IMAGE, aliases: { list: 'ls', rmi: 'rm', remove: 'rm' } },
  system: { desc: 'Manage Docker', subs: SYSTEM, aliases: {} },
  volume: { desc: 'Manage volumes', subs: VOLUME, aliases: { list: 'ls', remove: 'rm' } },
  network: { desc: 'Manage networks', subs: NETWORK, aliases: { list: 'ls', remove: 'rm' } },
  context: { desc: 'Manage contexts', subs: CONTEXT, aliases: { list: 'ls', remove: 'rm' } },
};
const TOP: Record<string, Entry> = {
  run: CONTAINER.run, create: CONTAINER.create, start: CONTAINER.start, attach: CONTAINER.attach, exec: CONTAINER.exec,
  ps: CONTAINER.ls, logs: CONTAINER.logs, stop: CONTAINER.stop, kill: CONTAINER.kill, restart: CONTAINER.restart,
  rm: CONTAINER.rm, rename: CONTAINER.rename, wait: CONTAINER.wait, pause: CONTAINER.pause, unpause: CONTAINER.unpause,
  top: CONTAINER.top, port: CONTAINER.port, diff: CONTAINER.diff, export: CONTAINER.export, update: CONTAINER.update,
  commit: CONTAINER.commit, cp: CONTAINER.cp, stats: CONTAINER.stats,
  images: IMAGE.ls, load: IMAGE.load, save: IMAGE.save, import: IMAGE.import, tag: IMAGE.tag, rmi: IMAGE.rm,
  history: IMAGE.history, pull: IMAGE.pull, push: IMAGE.push, build: IMAGE.build,
  info: SYSTEM.info, events: SYSTEM.events,
  version: [L.sys, 'version', 'Show the Docker version information'],
  login: [L.reg, 'login', 'Authenticate to a registry'],
  logout: [L.reg, 'logout', 'Log out from a registry'],
  inspect: [L.ctr, 'inspect', 'Return low-level information on Docker objects'],
};

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'host', short: 'H', type: 'list', description: 'Daemon socket to connect to' },
  { name: 'context', short: 'c', type: 'string', description: 'Name of the context to use to connect to the daemon' },
  { name: 'tls', type: 'bool', description: 'Use TLS; implied by --tlsverify' },
  { name: 'tlsverify', type: 'bool', description: 'Use TLS and verify the remote' },
  { name: 'tlscacert', type: 'string', description: 'Trust certs signed only by this CA' },
  { name: 'tlscert', type: 'string', description: 'Path to TLS certificate file' },
  { name: 'tlskey', type: 'string', description: 'Path to TLS key file' },
  { name: 'debug', short: 'D', type: 'bool', description: 'Enable debug mode' },
  { name: 'log-level', short: 'l', type: 'string', description: 'Set the logging level' },
  { name: 'config', type: 'string', description: 'Location of client config files' },
  { name: 'version', short: 'v', type: 'bool', description: 'Print version information and quit' },
  { name: 'help', type: 'bool', description: 'Print usage' },
];

const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', description: 'Print usage' };

function usageBlock(commandPath: string, cmd: Command): string {
  return `Usage:  ${PROG} ${cmd.usage.replace(/^[a-z-]+( [a-z-]+)?(?= |$)/, commandPath)}`;
}

function commandHelp(commandPath: string, cmd: Command): string {
  const lines = [`\n${usageBlock(commandPath, cmd)}\n`, `${cmd.description}\n`];
  const visible = [...cmd.flags, HELP_FLAG].filter((f) => !f.hidden).sort((a, b) => a.name < b.name ? -1 : 1);
  if (visible.length) {
    lines.push('Options:');
    const rows = visible.map((f) => {
      const left = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'bool' ? '' : f.type === 'list' ? ' list' : f.type === 'int' ? ' int' : ' string'}`;
      return [left, f.description ?? ''];
    });
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [l, d] of rows) lines.push(`  ${l.padEnd(w)}   ${d}`);
  }
  return lines.join('\n') + '\n';
}

function topHelp(): string {
  const out = [`\nUsage:  ${PROG} [OPTIONS] COMMAND\n`, 'A self-sufficient runtime for containers\n', 'Commands:'];
  for (const [name, e] of Object.entries(TOP).sort()) out.push(`  ${name.padEnd(11)} ${e[2]}`);
  out.push('\nManagement Commands:');
  out.push(`  ${'compose'.padEnd(11)} Define and run multi-container applications`);
  for (const [name, m] of Object.entries(MANAGEMENT)) out.push(`  ${name.padEnd(11)} ${m.desc}`);
  out.push(`  ${'dockerfile'.padEnd(11)} Dockerfile tools (parse)`);
  out.push(`\nRun '${PROG} COMMAND --help' for more information on a command.\n`);
  return out.join('\n');
}

function managementHelp(name: string): string {
  const m = MANAGEMENT[name];
  const out = [`Usage:  ${PROG} ${name} COMMAND\n`, `${m.desc}\n`, 'Commands:'];
  const w = Math.max(...Object.keys(m.subs).map((s) => s.length), 10);
  for (const [sub, e] of Object.entries(m.subs).sort()) out.push(`  ${sub.padEnd(w)}  ${e[2]}`);
  out.push(`\nRun '${PROG} ${name} COMMAND --help' for more information on a command.\n`);
  return out.join('\n');
}

function defaultIO(): CliIO {
  // A closed pipe (berth events | head -1) ends the command quietly, as SIGPIPE would.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
  }
  // process.stdin is made on first use (a pipe or TTY stream costs a few ms): most commands never read it
  return { get stdin() { return process.stdin; }, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

async function loadExternal<T>(spec: string, exportName: string, what: string): Promise<T> {
  // Resolved relative to this file so dist/ and dist-*/ both work; failing clearly if the module is missing.
  const url = new URL(spec, import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') throw new StatusError(`${PROG}: ${what} is not available in this build (${spec} is missing)`, 1);
    throw e;
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new StatusError(`${PROG}: ${what} is not available in this build (${exportName} is not exported)`, 1);
  return fn as T;
}

/** Runs the CLI with `argv` (without node and script) and resolves with the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  let g;
  try {
    g = parseFlags(GLOBAL_FLAGS, argv, { stopAtFirstArg: true });
  } catch (e) {
    if (e instanceof FlagError) {
      io.stderr.write(`${e.message}\n\nUsage:  ${PROG} [OPTIONS] COMMAND [ARG...]\n\nRun '${PROG} --help' for more information\n`);
      return 125;
    }
    throw e;
  }
  const hosts = g.flags.host as string[];
  const globals: GlobalOptions = {
    host: hosts.length ? hosts[hosts.length - 1] : undefined,
    context: g.flags.context as string | undefined,
    tls: g.flags.tls as boolean,
    tlsVerify: g.changed.has('tlsverify') ? g.flags.tlsverify as boolean : undefined,
    tlsCaCert: g.flags.tlscacert as string | undefined,
    tlsCert: g.flags.tlscert as string | undefined,
    tlsKey: g.flags.tlskey as string | undefined,
    debug: g.flags.debug as boolean,
    logLevel: g.flags['log-level'] as string | undefined,
    config: g.flags.config as string | undefined,
  };
  if (hosts.length > 1) { io.stderr.write('Specify only one -H\n'); return 1; }
  if (g.flags.version) {
    const { BERTH_VERSION } = await import('./commands/system.js');
    io.stdout.write(`${PROG} version ${BERTH_VERSION}, build unknown\n`);
    return 0;
  }
  let args = g.args;
  if (args.length === 0 || (args[0] === 'help' && args.length === 1)) {
    io.stdout.write(topHelp());
    return 0;
  }
  if (args[0] === 'help') args = [...args.slice(1), '--help'];

  const makeClient = async (): Promise<EngineClient> => {
    const { createClient } = await import('./connect.js');
    return createClient(globals, io.env);
  };

  const name = args[0];
  // Subcommands provided by other parts of berth.
  if (name === 'compose') {
    type RunCompose = (argv: string[], opts: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv; cwd: string }) => Promise<number>;
    try {
      // the command-line entry, not the index: the index also loads the project loader, which a warm run skips
      const runCompose = await loadExternal<RunCompose>('../compose/cli.js', 'runCompose', `'${PROG} compose'`);
      const env = { ...io.env };
      if (globals.host) env.DOCKER_HOST = globals.host;
      if (globals.context) env.DOCKER_CONTEXT = globals.context;
      return await runCompose(args.slice(1), { stdout: io.stdout, stderr: io.stderr, env, cwd: io.cwd });
    } catch (e) { return reportError(io, e, undefined, 'compose'); }
  }
  if (name === 'dockerfile') {
    type RunParse = (args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>;
    if (args[1] !== 'parse') {
      io.stderr.write(`Usage:  ${PROG} dockerfile parse [FILE]\n`);
      return args[1] === undefined || args[1] === '--help' ? 0 : 1;
    }
    try {
      const runParse = await loadExternal<RunParse>('../build/dockerfile/index.js', 'runDockerfileParse', `'${PROG} dockerfile parse'`);
      return await runParse(args.slice(2), io.stdout, io.stderr);
    } catch (e) { return reportError(io, e, undefined, 'dockerfile parse'); }
  }

  let entry: Entry | undefined;
  let commandPath = name;
  let rest = args.slice(1);
  const mgmt = MANAGEMENT[name];
  if (mgmt) {
    const sub = args[1];
    if (sub === undefined || sub === '--help') { io.stdout.write(managementHelp(name)); return 0; }
    const subName = mgmt.aliases[sub] ?? sub;
    entry = mgmt.subs[subName];
    commandPath = `${name} ${sub}`;
    rest = args.slice(2);
    if (!entry) {
      io.stderr.write(`${PROG}: unknown command: ${PROG} ${name} ${sub}\n\nUsage:  ${PROG} ${name}\n\nRun '${PROG} ${name} --help' for more information\n`);
      return 1;
    }
  } else {
    entry = TOP[name];
    if (!entry) {
      io.stderr.write(`${PROG}: unknown command: ${PROG} ${name}\n\nRun '${PROG} --help' for more information\n`);
      return 1;
    }
  }
  const cmd = (await entry[0]())[entry[1]];
  if (!cmd) throw new Error(`internal: command ${entry[1]} missing`);
  const ctx = new Ctx(io, globals, commandPath, makeClient);
  try {
    let parsed;
    try {
      parsed = parseFlags([...cmd.flags, HELP_FLAG], rest, { stopAtFirstArg: cmd.stopAtFirstArg });
    } catch (e) {
      if (e instanceof FlagError) throw new UsageError(e.message, 'flag');
      throw e;
    }
    if (parsed.flags.help) { io.stdout.write(commandHelp(commandPath, cmd)); return 0; }
    const n = parsed.args.length;
    const a = cmd.args ?? {};
    const quoted = `'${PROG} ${commandPath}'`;
    if (a.exact !== undefined && n !== a.exact) {
      throw new UsageError(`${PROG}: ${quoted} requires ${a.exact} argument${a.exact === 1 ? '' : 's'}`, 'args', 'Run');
    }
    if (a.max === 0 && n > 0) throw new UsageError(`${PROG}: ${quoted} accepts no arguments`, 'args', 'Run');
    if (a.min !== undefined && n < a.min) {
      if (a.max !== undefined && a.max !== Infinity) {
        throw new UsageError(`${PROG}: ${quoted} requires at least ${a.min} and at most ${a.max} arguments`, 'args', 'See');
      }
      throw new UsageError(`${PROG}: ${quoted} requires at least ${a.min} argument${a.min === 1 ? '' : 's'}`, 'args', 'See');
    }
    if (a.max !== undefined && a.max > 0 && n > a.max) {
      throw new UsageError(`${PROG}: ${quoted} requires at most ${a.max} argument${a.max === 1 ? '' : 's'}`, 'args', 'See');
    }
    return await cmd.run(ctx, parsed);
  } catch (e) {
    return reportError(io, e, cmd, commandPath);
  } finally {
    ctx.close();
  }
}

/** Prints an error the way the docker CLI does and returns the exit code. */
export function reportError(io: CliIO, e: unknown, cmd: Command | undefined, commandPath: string): number {
  if (e instanceof UsageError) {
    const usage = cmd ? usageBlock(commandPath, cmd) : `Usage:  ${PROG} ${commandPath}`;
    io.stderr.write(`${e.message}\n\n${usage}\n\n${e.hint} '${PROG} ${commandPath} --help' for more information\n`);
    return e.kind === 'flag' ? 125 : 1;
  }
  if (e instanceof StatusError) {
    if (e.message) io.stderr.write(e.message.endsWith('\n') ? e.message : `${e.message}\n`);
    return e.code;
  }
  const msg = describeError(e);
  if (cmd?.runStyleErrors) {
    io.stderr.write(runStyleMessage(msg, commandPath));
    // docker run's toStatusError: a missing executable is 127, a permission problem 126.
    if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) return 127;
    if (/permission denied|is a directory/.test(msg)) return 126;
    return cmd.errorExitCode ?? 125;
  }
  io.stderr.write(`${msg}\n`);
  return cmd?.errorExitCode ?? 1;
}

/** Daemon errors read "Error response from daemon: ..."; connection errors say where we tried. */
export function describeError(e: unknown): string {
  const err = e as { fromDaemon?: boolean; message?: string; name?: string };
  if (err && err.fromDaemon) return `Error response from daemon: ${err.message}`;
  if (err && err.name === 'DaemonConnectionError') return String(err.message);
  if (err instanceof Error) return err.message;
  return String(e);
}
