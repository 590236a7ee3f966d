/**
 * `berth compose` command line: docker compose's global flags (-f, -p, --project-directory, --env-file,
 * --profile), `config` and `version`; the runtime commands are in commands.ts.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { messageOf } from '../errors/index.js';
import { serviceConfigHash } from './config-hash.js';
import { COMMAND_FLAGS, runCommand } from './commands.js';
import { ExitError, UsageError, parseFlags, type FlagSpec, type Parsed } from './flags.js';
import { LoadCache } from './load-cache.js';
import { cachedProject, loadAndCache } from './project-cache.js';
import { serviceDependencies } from './dependencies.js';
import { projectToConfig, toJson, toYaml } from './serialize.js';
import type { ComposeProject, ProjectOptions } from './types.js';
import { BERTH_COMPOSE_VERSION, COMPOSE_COMPAT_VERSION } from './version.js';

export interface ComposeIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Content read for `-f -`; when absent, process.stdin is read. */
  stdin?: string;
}

export { COMPOSE_COMPAT_VERSION, BERTH_COMPOSE_VERSION, UsageError, ExitError };


/**
 * docker compose's exit codes for failure categories (pkg/compose metrics): a compose file not found 14,
 * a file that does not load (parse, interpolation, validation) 15, command line syntax 16.
 */
export const EXIT_FILE_NOT_FOUND = 14;
export const EXIT_PARSE_FAILURE = 15;
export const EXIT_SYNTAX_FAILURE = 16;


/** Runs a loader call, turning its failure into docker compose's exit code for it. */
function loading<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const msg = messageOf(err);
    throw new ExitError(msg.startsWith('no configuration file provided') ? EXIT_FILE_NOT_FOUND : EXIT_PARSE_FAILURE, msg);
  }
}

const GLOBAL_FLAGS: FlagSpec[] = [
  { names: ['--file', '-f'], value: true, repeat: true },
  { names: ['--project-name', '-p'], value: true },
  { names: ['--project-directory'], value: true },
  { names: ['--env-file'], value: true, repeat: true },
  { names: ['--profile'], value: true, repeat: true },
  { names: ['--ansi'], value: true },
  { names: ['--progress'], value: true },
  { names: ['--parallel'], value: true },
  { names: ['--compatibility'], value: false },
  { names: ['--dry-run'], value: false },
  { names: ['--all-resources'], value: false },
  { names: ['--verbose'], value: false },
  { names: ['--help', '-h'], value: false },
  { names: ['--version', '-v'], value: false },
];

const RUNTIME_COMMANDS = [
  'attach', 'build', 'commit', 'cp', 'create', 'down', 'events', 'exec', 'export', 'images', 'kill', 'logs', 'ls',
  'pause', 'port', 'ps', 'publish', 'pull', 'push', 'restart', 'rm', 'run', 'scale', 'start', 'stats', 'stop', 'top',
  'unpause', 'up', 'volumes', 'wait', 'watch',
];

const USAGE = `Usage:  berth compose [OPTIONS] COMMAND

Define and run multi-container applications (compatible with docker compose)

Options:
      --env-file stringArray       Specify an alternate environment file
  -f, --file stringArray           Compose configuration files
      --profile stringArray        Specify a profile to enable
      --project-directory string   Specify an alternate working directory
                                   (default: the path of the, first specified, Compose file)
  -p, --project-name string        Project name

Commands:
  config      Parse, resolve and render compose file in canonical format
  version     Show the Docker Compose version information
  ${Object.keys(COMMAND_FLAGS).sort().join(', ')}
  ${RUNTIME_COMMANDS.filter((c) => !COMMAND_FLAGS[c]).join(', ')}: not implemented yet
`;

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** What `docker-compose docker-cli-plugin-metadata` answers (the docker CLI plugin protocol). */
export function dockerCliPluginMetadata(): Record<string, string> {
  return {
    SchemaVersion: '0.1.0',
    Vendor: 'berth',
    Version: `v${COMPOSE_COMPAT_VERSION}-berth.${BERTH_COMPOSE_VERSION}`,
    ShortDescription: 'Docker Compose',
    URL: 'https://github.com/docker/compose',
  };
}

/**
 * Entry point when installed as the docker CLI's compose plugin (`cli-plugins/docker-compose`): the CLI runs
 * `docker-compose docker-cli-plugin-metadata` to discover it and `docker-compose compose <args>` to run it.
 */
export async function runAsDockerCliPlugin(argv: string[], io: ComposeIO): Promise<number> {
  if (argv[0] === 'docker-cli-plugin-metadata') {
    io.stdout.write(`${JSON.stringify(dockerCliPluginMetadata(), null, 4)}\n`);
    return 0;
  }
  return runCompose(argv[0] === 'compose' ? argv.slice(1) : argv, io);
}

/** Runs `berth compose <argv>`; resolves to the exit code. */
export async function runCompose(argv: string[], io: ComposeIO): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT_SYNTAX_FAILURE;
    }
    if (err instanceof ExitError) {
      io.stderr.write(`${err.message}\n`);
      return err.code;
    }
    io.stderr.write(`${messageOf(err)}\n`);
    return 1;
  }
}

async function run(argv: string[], io: ComposeIO): Promise<number> {
  const g = parseFlags(argv, GLOBAL_FLAGS, true);
  const [command, ...args] = g.rest;
  if (g.flags.has('--version')) return version([], io);
  if (!command || g.flags.has('--help') || command === 'help') {
    io.stdout.write(USAGE);
    return command || g.flags.has('--help') ? 0 : 1;
  }
  // read when a command asks: global flags may also come after the command name
  const projectOptions = async (services: string[] = []): Promise<ProjectOptions> => {
    const files = g.flags.get('--file') ?? [];
    return {
      cwd: io.cwd,
      env: io.env,
      loadCache: LoadCache.forEnv(io.env),
      files,
      projectDirectory: g.flags.get('--project-directory')?.[0],
      projectName: g.flags.get('--project-name')?.[0],
      envFiles: g.flags.get('--env-file'),
      profiles: g.flags.get('--profile'),
      stdin: files.includes('-') ? (io.stdin ?? (await readAllStdin())) : undefined,
      warn: (m) => io.stderr.write(`WARN[0000] ${m}\n`),
      services,
    };
  };
  switch (command) {
    case 'config':
    case 'convert':
      return config(parseCommandFlags(args, CONFIG_FLAGS, g.flags), io, projectOptions);
    case 'version':
      return version(args, io);
    default:
      if (COMMAND_FLAGS[command]) {
        return runCommand(command, args, {
          io,
          parse: (a, specs, stop) => parseCommandFlags(a, specs, g.flags, stop),
          envFiles: g.flags.get('--env-file'),
          ansi: g.flags.get('--ansi')?.[0],
          project: async (services) => {
            const opts = await projectOptions(services);
            const cache = opts.loadCache;
            const hit = cache && cachedProject(cache, opts);
            if (hit) return hit;
            // the loader's modules are loaded only when the project cache cannot answer
            const { loadProject } = await import('./loader.js');
            try {
              return loading(() => (cache ? loadAndCache(cache, opts, loadProject) : loadProject(opts)));
            } catch (e) {
              // like docker compose, commands that only need the project name work with -p and no compose file
              if (e instanceof ExitError && e.code === EXIT_FILE_NOT_FOUND && opts.projectName) return emptyProject(opts.projectName, io.cwd);
              throw e;
            }
          },
        });
      }
      if (RUNTIME_COMMANDS.includes(command)) {
        io.stderr.write(`berth compose ${command}: not implemented yet\n`);
        return 1;
      }
      io.stderr.write(`unknown docker command: "compose ${command}"\n`);
      return 1;
  }
}

const CONFIG_FLAGS: FlagSpec[] = [
  { names: ['--format'], value: true },
  { names: ['--services'], value: false },
  { names: ['--volumes'], value: false },
  { names: ['--networks'], value: false },
  { names: ['--profiles'], value: false },
  { names: ['--images'], value: false },
  { names: ['--hash'], value: true },
  { names: ['--environment'], value: false },
  { names: ['--quiet', '-q'], value: false },
  { names: ['--output', '-o'], value: true },
  { names: ['--no-interpolate'], value: false },
  { names: ['--no-normalize'], value: false },
  { names: ['--no-path-resolution'], value: false },
  { names: ['--no-consistency'], value: false },
  { names: ['--resolve-image-digests'], value: false },
  { names: ['--lock-image-digests'], value: false },
  { names: ['--variables'], value: false },
  { names: ['--help', '-h'], value: false },
];

function emptyProject(name: string, cwd: string): ComposeProject {
  return {
    name, workingDir: cwd, configFiles: [], environment: {}, profiles: [], services: {}, disabledServices: {},
    networks: {}, volumes: {}, secrets: {}, configs: {},
  };
}

/** Services in dependency order (dependencies first, then by name): the order `up` starts them in. */
export function servicesInDependencyOrder(p: ComposeProject): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n) || !p.services[n]) return;
    seen.add(n);
    for (const d of serviceDependencies(p.services[n]).sort()) visit(d);
    out.push(n);
  };
  for (const n of Object.keys(p.services).sort()) visit(n);
  return out;
}

/** Keeps the named services and what they depend on. */
function selectServices(p: ComposeProject, names: string[]): ComposeProject {
  if (!names.length) return p;
  const keep = new Set<string>();
  const add = (n: string): void => {
    if (keep.has(n) || !p.services[n]) return;
    keep.add(n);
    for (const d of serviceDependencies(p.services[n])) add(d);
  };
  names.forEach(add);
  return { ...p, services: Object.fromEntries(Object.entries(p.services).filter(([n]) => keep.has(n))) };
}

/**
 * A command's flags. As with docker compose (cobra persistent flags), the global flags are accepted after the
 * command name too, unless the command has a flag of that name (`logs -f` is --follow); they land in `globals`.
 */
function parseCommandFlags(args: string[], specs: FlagSpec[], globals: Map<string, string[]>, stopAtPositional = false): Parsed {
  const own = new Set(specs.flatMap((s) => s.names));
  const inherited = GLOBAL_FLAGS
    .filter((s) => !['--help', '--version'].includes(s.names[0]))
    .map((s) => ({ ...s, names: s.names.filter((n) => !own.has(n)) }))
    .filter((s) => s.names.length > 0 && s.names[0].startsWith('--'));
  const parsed = parseFlags(args, [...specs, ...inherited], stopAtPositional);
  for (const spec of inherited) {
    const key = spec.names[0];
    const values = parsed.flags.get(key);
    if (!values) continue;
    parsed.flags.delete(key);
    globals.set(key, spec.repeat ? [...(globals.get(key) ?? []), ...values] : values);
  }
  return parsed;
}

async function config(parsed: Parsed, io: ComposeIO, options: (s?: string[]) => Promise<ProjectOptions>): Promise<number> {
  const { flags, rest } = parsed;
  if (flags.has('--help')) {
    io.stdout.write('Usage:  berth compose config [OPTIONS] [SERVICE...]\n\nParse, resolve and render compose file in canonical format\n');
    return 0;
  }
  const opts = await options(rest);
  const { loadComposeModel, loadProject } = await import('./loader.js');
  const format = flags.get('--format')?.[0] ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') throw new ExitError(1, `unsupported format "${format}"`);
  if (flags.has('--variables')) {
    opts.noInterpolate = true;
    const { extractVariables } = await import('./interpolation.js');
    const vars = [...extractVariables(loading(() => loadComposeModel(opts))).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    io.stdout.write(table(['NAME', 'REQUIRED', 'DEFAULT VALUE', 'ALTERNATE VALUE'],
      vars.map((v) => [v.name, String(v.required), v.defaultValue, v.presenceValue])));
    return 0;
  }
  if (flags.has('--no-interpolate') && !['--services', '--volumes', '--networks', '--profiles', '--images', '--hash', '--environment'].some((f) => flags.has(f))) {
    // docker compose renders the merged model as written: no interpolation, no normalisation
    opts.noInterpolate = true;
    const model = loading(() => loadComposeModel(opts));
    if (flags.has('--quiet')) return 0;
    const out = format === 'json' ? toJson(sortModel(model)) : toYaml(sortModel(model));
    const output = flags.get('--output')?.[0];
    if (output) writeFileSync(resolve(io.cwd, output), out);
    else io.stdout.write(out);
    return 0;
  }
  const full = loading(() => loadProject(opts));
  const project = selectServices(full, rest);
  let out: string;
  if (flags.has('--quiet')) return 0;
  if (flags.has('--services')) {
    out = servicesInDependencyOrder(project).map((s) => `${s}\n`).join('');
  } else if (flags.has('--volumes')) {
    out = Object.keys(project.volumes).sort().map((v) => `${v}\n`).join('');
  } else if (flags.has('--networks')) {
    out = Object.keys(project.networks).sort().map((v) => `${v}\n`).join('');
  } else if (flags.has('--profiles')) {
    const all = new Set<string>();
    for (const s of [...Object.values(full.services), ...Object.values(full.disabledServices)]) for (const p of s.profiles ?? []) all.add(p);
    out = [...all].sort().map((p) => `${p}\n`).join('');
  } else if (flags.has('--images')) {
    out = servicesInDependencyOrder(project)
      .map((n) => `${project.services[n].image ?? `${project.name}-${n}`}\n`).join('');
  } else if (flags.has('--environment')) {
    out = Object.keys(project.environment).sort().map((k) => `${k}=${project.environment[k]}\n`).join('');
  } else if (flags.has('--hash')) {
    const which = flags.get('--hash')![0];
    const names = which === '*' ? Object.keys(project.services).sort() : which.split(',').map((s) => s.trim());
    out = names.map((n) => {
      const s = project.services[n];
      if (!s) throw new ExitError(1, `no such service: ${n}`);
      return `${n} ${serviceConfigHash(s)}\n`;
    }).join('');
  } else {
    const unique = new Map<string, string>();
    for (const s of Object.values(project.services)) {
      if (!s.container_name) continue;
      const other = unique.get(s.container_name);
      if (other) throw new ExitError(1, `container name "${s.container_name}" is already in use by service ${other}`);
      unique.set(s.container_name, s.name);
    }
    out = format === 'json' ? toJson(projectToConfig(project, { json: true })) : toYaml(projectToConfig(project));
    // the output is a compose file again: a literal $ must stay literal when it is read back
    if (!opts.noInterpolate) out = out.replaceAll('$', '$$$$');
  }
  const output = flags.get('--output')?.[0];
  if (output) writeFileSync(resolve(io.cwd, output), out);
  else io.stdout.write(out);
  return 0;
}

/** Columns padded as Go's tabwriter does (three spaces between columns). */
function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** The raw model with name first and mapping sections sorted, as Go prints a map. */
function sortModel(model: Record<string, unknown>): Record<string, unknown> {
  const sort = (v: unknown): unknown => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  };
  const out: Record<string, unknown> = { name: model.name };
  for (const k of Object.keys(model).sort()) if (k !== 'name') out[k] = ['services', 'networks', 'volumes', 'secrets', 'configs'].includes(k) ? sort(model[k]) : model[k];
  return out;
}

const VERSION_FLAGS: FlagSpec[] = [
  { names: ['--short'], value: false },
  { names: ['--format', '-f'], value: true },
  { names: ['--help', '-h'], value: false },
];

function version(args: string[], io: ComposeIO): number {
  const { flags } = parseFlags(args, VERSION_FLAGS, false);
  const v = `${COMPOSE_COMPAT_VERSION}-berth.${BERTH_COMPOSE_VERSION}`;
  if (flags.has('--short')) io.stdout.write(`${v}\n`);
  else if (flags.get('--format')?.[0] === 'json') io.stdout.write(`${JSON.stringify({ version: `v${v}` })}\n`);
  else io.stdout.write(`Docker Compose version v${v} (berth compose ${BERTH_COMPOSE_VERSION})\n`);
  return 0;
}
