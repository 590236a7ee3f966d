/**
 * Loading a compose project: files found or given, environment, interpolation, schema validation, canonical
 * forms, merge of several files, `extends`, `include`, then normalisation into the typed model (normalize.ts).
 */
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { canonicalFile } from './canonical.js';
import { defaultEnvFile, findDefaultComposeFiles, readEnvFiles, resolveProjectName } from './discovery.js';
import { InterpolationError, interpolateTree, substitute } from './interpolation.js';
import { mergeFiles, mergeService } from './merge.js';
import { normalizeProject, ServiceError } from './normalize.js';
import { resolvePath } from './short-syntax.js';
import type { ComposeProject, ProjectOptions } from './types.js';
import type { LoadCache } from './load-cache.js';
import { readText } from './load-inputs.js';
import { validateComposeSchema } from './validate-schema.js';
import { parseComposeYaml, stripMarkers } from './yaml-file.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

interface LoadContext {
  env: Record<string, string>;
  /** What `~` in paths means (HOME of the given environment). */
  home: string;
  warn: (m: string) => void;
  noInterpolate: boolean;
  stdin?: string;
  /** Canonical trees of files loaded for `extends`, by absolute path. */
  cache: Map<string, Dict>;
  /** The file that first defines each service (named in errors about it). */
  origins: Map<string, string>;
  /** Parsed files and schema verdicts kept between runs. */
  loadCache?: LoadCache;
}

/** Where the files, the environment and the project directory come from, before anything is parsed. */
export interface ResolvedInputs {
  files: string[];
  projectDir: string;
  env: Record<string, string>;
}

export function resolveInputs(opts: ProjectOptions): ResolvedInputs {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const warn = opts.warn ?? (() => {});
  const processEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) processEnv[k] = v;
  const lookup = (k: string): string | undefined => processEnv[k];

  const explicitDir = opts.projectDirectory ? resolve(cwd, opts.projectDirectory) : undefined;
  let files = (opts.files ?? []).map((f) => (f === '-' ? '-' : resolve(cwd, f)));
  const firstDir = (fs: string[]): string | undefined => (fs.length && fs[0] !== '-' ? dirname(fs[0]) : undefined);
  const envFileNames = opts.envFiles?.length ? opts.envFiles : (processEnv.COMPOSE_ENV_FILES?.split(',').filter(Boolean) ?? []);
  const envFileList = envFileNames.map((f) => resolve(cwd, f));

  let envDir = explicitDir ?? firstDir(files) ?? cwd;
  let dotenv = readEnvFiles(envFileList.length ? envFileList : defaultEnvFile(envDir), lookup);
  let env: Record<string, string> = { ...dotenv, ...processEnv };

  if (files.length === 0) {
    const fromEnv = env.COMPOSE_FILE;
    if (fromEnv) {
      const sep = env.COMPOSE_PATH_SEPARATOR || ':';
      files = fromEnv.split(sep).filter(Boolean).map((f) => resolve(explicitDir ?? cwd, f));
    } else {
      files = findDefaultComposeFiles(explicitDir ?? cwd, warn);
    }
  }
  const projectDir = explicitDir ?? firstDir(files) ?? cwd;
  if (projectDir !== envDir && envFileList.length === 0) {
    // the project directory is only known now (a file found in a parent directory): its .env counts
    envDir = projectDir;
    dotenv = readEnvFiles(defaultEnvFile(envDir), lookup);
    env = { ...dotenv, ...processEnv };
  }
  return { files, projectDir, env };
}

/** Loads and normalises a compose project. */
export function loadProject(opts: ProjectOptions = {}): ComposeProject {
  const { merged, name, projectDir, files, env, warn, origins } = loadMerged(opts);
  const profiles = [
    ...(opts.profiles ?? []),
    ...(env.COMPOSE_PROFILES ? env.COMPOSE_PROFILES.split(',').map((s) => s.trim()).filter(Boolean) : []),
  ];
  const normalize = (): ComposeProject => normalizeProject(merged, {
    name,
    workingDir: projectDir,
    configFiles: files.map((f) => (f === '-' ? resolve(projectDir, '-') : f)),
    environment: env,
    profiles: [...new Set(profiles)],
    services: opts.services ?? [],
    warn,
  });
  try {
    return normalize();
  } catch (err) {
    if (err instanceof ServiceError) {
      const file = origins.get(err.service) ?? files[0];
      throw new ServiceError(err.service, `${file === '-' ? '(stdin)' : file}: ${err.message}`);
    }
    throw err;
  }
}

/**
 * The merged model before normalisation (files merged, extends and include applied, paths resolved), as
 * `docker compose config --no-interpolate` prints it: with `noInterpolate`, ${VAR} stays as written.
 */
export function loadComposeModel(opts: ProjectOptions = {}): Record<string, unknown> {
  const { merged, name } = loadMerged(opts);
  return { ...merged, name };
}

function loadMerged(opts: ProjectOptions): {
  merged: Dict; name: string; projectDir: string; files: string[]; env: Record<string, string>; warn: (m: string) => void;
  origins: Map<string, string>;
} {
  const warn = opts.warn ?? (() => {});
  const resolved = resolveInputs(opts);
  const { files, projectDir } = resolved;
  // the project name is known before interpolation: files may use ${COMPOSE_PROJECT_NAME}
  const name = resolveProjectName({
    flag: opts.projectName,
    env: resolved.env.COMPOSE_PROJECT_NAME,
    fromFile: opts.projectName || resolved.env.COMPOSE_PROJECT_NAME ? undefined : peekName(files, resolved.env, opts.stdin, opts.loadCache),
    projectDir,
  });
  const env: Record<string, string> = { ...resolved.env, COMPOSE_PROJECT_NAME: name };
  const ctx: LoadContext = { env, home: env.HOME || homedir(), warn, noInterpolate: !!opts.noInterpolate, stdin: opts.stdin, cache: new Map(), origins: new Map(), loadCache: opts.loadCache };

  const merged = loadModel(files, projectDir, ctx, []);
  return { merged, name, projectDir, files, env, warn, origins: ctx.origins };
}

/** The top-level `name:` of the last file that sets one, interpolated (errors are left for the real load). */
function peekName(files: string[], env: Record<string, string>, stdin?: string, loadCache?: LoadCache): string | undefined {
  let name: string | undefined;
  for (const f of files) {
    try {
      const tree = parseComposeYaml(f === '-' ? (stdin ?? '') : readText(f), f, loadCache);
      if (typeof tree.name === 'string') name = substitute(tree.name, (k) => env[k]);
    } catch {
      // reported with file and line when the file is loaded
    }
  }
  return name || undefined;
}

/** Files merged into one canonical tree, `extends` and `include` resolved. */
function loadModel(files: string[], projectDir: string, ctx: LoadContext, includeStack: string[]): Dict {
  let merged: Dict = {};
  for (const f of files) {
    const tree = loadFile(f, projectDir, ctx);
    for (const name of Object.keys(isDict(tree.services) ? tree.services : {})) if (!ctx.origins.has(name)) ctx.origins.set(name, f);
    merged = mergeFiles(merged, tree);
  }
  if (isDict(merged.services)) merged.services = resolveExtends(merged.services, files[0] ?? projectDir, ctx);
  if (merged.include !== undefined) {
    const includes = merged.include;
    delete merged.include;
    for (const entry of includes as unknown[]) mergeInclude(merged, entry, projectDir, ctx, [...includeStack, ...files]);
  }
  return merged;
}

/** One file: read, parse, interpolate, validate, canonical form with paths resolved against `baseDir`. */
function loadFile(file: string, baseDir: string, ctx: LoadContext): Dict {
  let text: string;
  const shown = file === '-' ? '(stdin)' : file;
  if (file === '-') {
    text = ctx.stdin ?? '';
  } else {
    try {
      text = readText(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new NotFoundError(`open ${file}: no such file or directory`);
      throw err;
    }
  }
  let tree: unknown = parseComposeYaml(text, shown, ctx.loadCache);
  if (Object.keys(tree as Dict).length === 0) throw new InvalidParameterError(`${shown}: empty compose file`);
  if ((tree as Dict).version !== undefined) {
    ctx.warn(`${shown}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
    delete (tree as Dict).version;
  }
  if (!ctx.noInterpolate) {
    try {
      tree = interpolateTree(tree, { lookup: (k) => ctx.env[k], warn: ctx.warn });
    } catch (err) {
      if (err instanceof InterpolationError) throw new InterpolationError(`${shown}: ${err.message}`);
      throw err;
    }
  }
  validateComposeSchema(stripMarkers(tree), shown, ctx.loadCache);
  try {
    return canonicalFile(tree as Dict, { dir: baseDir, home: ctx.home, lenient: ctx.noInterpolate });
  } catch (err) {
    if (err instanceof InvalidParameterError) throw new InvalidParameterError(`${shown}: ${err.message}`);
    throw err;
  }
}

/** A file referenced by `extends: {file}`, loaded once, its paths relative to its own directory. */
function loadExtendsFile(file: string, ctx: LoadContext): Dict {
  let tree = ctx.cache.get(file);
  if (!tree) {
    tree = loadFile(file, dirname(file), ctx);
    ctx.cache.set(file, tree);
  }
  return tree;
}

function resolveExtends(services: Dict, file: string, ctx: LoadContext): Dict {
  const resolved = new Map<string, Dict>();
  const resolveOne = (name: string, pool: Dict, poolFile: string, stack: string[]): Dict => {
    const key = `${poolFile}#${name}`;
    const done = resolved.get(key);
    if (done) return done;
    const chain = [...stack, key];
    if (stack.includes(key)) {
      const shown = chain.map((k) => {
        const [f, s] = [k.slice(0, k.lastIndexOf('#')), k.slice(k.lastIndexOf('#') + 1)];
        return `${s} (${f})`;
      });
      throw new InvalidParameterError(`circular reference with extends: ${shown.join(' -> ')}`);
    }
    const svc = pool[name];
    if (!isDict(svc)) {
      throw new NotFoundError(`cannot extend service "${stack.length ? stack[stack.length - 1].split('#').pop() : name}": service "${name}" not found in ${poolFile}`);
    }
    if (svc.extends === undefined) return svc;
    const ext = svc.extends as { service?: unknown; file?: unknown };
    const baseName = String(ext.service);
    let base: Dict;
    if (typeof ext.file === 'string') {
      const extFile = ext.file; // made absolute by the canonical form
      const tree = loadExtendsFile(extFile, ctx);
      const pool2 = isDict(tree.services) ? tree.services : {};
      if (!isDict(pool2[baseName])) {
        throw new NotFoundError(`service "${name}" extends "${baseName}": service "${baseName}" not found in ${extFile}`);
      }
      base = resolveOne(baseName, pool2, extFile, chain);
    } else {
      if (!isDict(pool[baseName])) {
        throw new NotFoundError(`service "${name}" extends "${baseName}": service "${baseName}" not found in ${poolFile}`);
      }
      base = resolveOne(baseName, pool, poolFile, chain);
    }
    const own = { ...svc };
    delete own.extends;
    const out = mergeService(base, own);
    resolved.set(key, out);
    return out;
  };
  const out: Dict = {};
  for (const name of Object.keys(services)) {
    const svc = services[name];
    if (isDict(svc)) {
      out[name] = resolveOne(name, services, file, []);
      // a service that was extended keeps its own canonical definition minus `extends`
      delete (out[name] as Dict).extends;
    } else out[name] = svc;
  }
  return out;
}

function toList(v: unknown): string[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
}

/** Loads an `include` entry as its own project and copies its resources in (conflicts are errors). */
function mergeInclude(into: Dict, entry: unknown, parentDir: string, ctx: LoadContext, stack: string[]): void {
  const e: Dict = typeof entry === 'string' ? { path: entry } : (entry as Dict);
  const paths = toList(e.path).map((p) => resolvePath(parentDir, p, ctx.home));
  if (paths.length === 0) throw new InvalidParameterError('include: path is required');
  for (const p of paths) {
    if (stack.includes(p)) throw new InvalidParameterError(`include cycle detected: ${[...stack, p].join(' -> ')}`);
  }
  const projectDir = e.project_directory !== undefined ? resolvePath(parentDir, String(e.project_directory), ctx.home) : dirname(paths[0]);
  const envFiles = e.env_file !== undefined ? toList(e.env_file).map((f) => resolvePath(parentDir, f, ctx.home)) : defaultEnvFile(projectDir);
  // the including project's environment wins over the included project's .env
  const own = readEnvFiles(envFiles, (k) => ctx.env[k]);
  const sub: LoadContext = { ...ctx, env: { ...own, ...ctx.env }, cache: new Map() };
  const model = loadModel(paths, projectDir, sub, stack);
  for (const kind of ['services', 'networks', 'volumes', 'secrets', 'configs']) {
    const src = model[kind];
    if (!isDict(src)) continue;
    const dst: Dict = isDict(into[kind]) ? { ...(into[kind] as Dict) } : {};
    for (const [name, v] of Object.entries(src)) {
      if (Object.hasOwn(dst, name) && !isDeepStrictEqual(dst[name], v)) {
        throw new InvalidParameterError(`imported compose file ${paths[0]} defines conflicting ${kind.replace(/s$/, '')} ${name}`);
      }
      dst[name] = v;
    }
    into[kind] = dst;
  }
}
