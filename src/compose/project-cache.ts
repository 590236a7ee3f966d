/**
 * The project cache: a loaded, normalised project kept between runs, so that a warm `berth compose up` (or down,
 * ps...) loads none of the loader's modules and runs none of its steps (about 40 ms of a ~150 ms start-up).
 *
 * One slot per way of asking (working directory, -f, -p, --project-directory, --env-file, --profile, the services
 * named): a later load with other inputs overwrites it, so slots do not pile up. An entry is used only when
 *  - the loader's code is the same (size and mtime of every module of src/compose and of the yaml package),
 *  - the environment is the same (all of it: interpolation, COMPOSE_* and the project's environment come from it),
 *  - every file the load read has the same text and every path it looked for is still there or still missing
 *    (recorded through load-inputs.ts: compose files, .env, env_file, label_file, extends, include, and the
 *    compose.yaml candidates in the working directory and its parents).
 * Only successful loads are stored; their warnings are stored too and replayed on a hit. A project that does not
 * survive JSON unchanged is not stored. `-f -` (stdin) is never cached. Entries hold the environment, so they are
 * written readable by their owner only (load-cache.ts).
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { isJsonFaithful, LoadCache, moduleStamp } from './load-cache.js';
import { inputsUnchanged, recordInputs, type InputObservation } from './load-inputs.js';
import type { ComposeProject, ProjectOptions } from './types.js';

const FORMAT = 'berth-compose-project/1';

interface Entry {
  format: string;
  /** [file, size:mtime] of the loader's code. */
  code: Array<[string, string]>;
  envDigest: string;
  inputs: InputObservation[];
  warnings: string[];
  project: ComposeProject;
}

/** The slot of a way of asking; undefined when this load is not cacheable. */
function slotKey(opts: ProjectOptions): string | undefined {
  const files = opts.files ?? [];
  if (files.includes('-')) return undefined;
  const cwd = resolve(opts.cwd ?? process.cwd());
  return LoadCache.digest(FORMAT, JSON.stringify([
    cwd, files, opts.projectDirectory ?? null, opts.projectName ?? null, opts.envFiles ?? null, opts.profiles ?? null,
    opts.services ?? [], !!opts.noInterpolate, process.getuid?.() ?? null,
  ]));
}

function envDigest(opts: ProjectOptions): string {
  const env = opts.env ?? process.env;
  const entries = Object.entries(env).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // without HOME, `~` is the password database's home directory
  return LoadCache.digest(JSON.stringify(entries), env.HOME ? '' : homedir());
}

/** Every module of this directory and the yaml package: a rebuilt or upgraded loader invalidates entries. */
function codeStamps(): Array<[string, string]> {
  const dir = new URL('.', import.meta.url);
  const out: Array<[string, string]> = readdirSync(dir).filter((f) => /\.c?js$/.test(f)).sort()
    .map((f) => { const p = new URL(f, dir).pathname; return [p, moduleStamp(p)]; });
  let yamlPackage = 'unknown';
  try { yamlPackage = createRequire(import.meta.url).resolve('yaml/package.json'); } catch { /* no yaml: loads fail anyway */ }
  out.push([yamlPackage, moduleStamp(yamlPackage)]);
  return out;
}

/** The cached project for these options, if it is still what a load would give (warnings replayed through opts.warn). */
export function cachedProject(cache: LoadCache, opts: ProjectOptions): ComposeProject | undefined {
  const key = slotKey(opts);
  const text = key && cache.get(key);
  if (!text) return undefined;
  let entry: Entry;
  try { entry = JSON.parse(text) as Entry; } catch { return undefined; }
  if (entry?.format !== FORMAT || !Array.isArray(entry.code) || !Array.isArray(entry.inputs) || !Array.isArray(entry.warnings)) return undefined;
  if (entry.envDigest !== envDigest(opts)) return undefined;
  if (!entry.code.every(([file, stamp]) => moduleStamp(file) === stamp)) return undefined;
  if (!inputsUnchanged(entry.inputs)) return undefined;
  for (const w of entry.warnings) opts.warn?.(w);
  return entry.project;
}

/** Runs `load` with opts (recording what it reads and warns) and stores a successful result in the cache. */
export function loadAndCache(cache: LoadCache, opts: ProjectOptions, load: (opts: ProjectOptions) => ComposeProject): ComposeProject {
  const warnings: string[] = [];
  const { result, inputs } = recordInputs(() => load({ ...opts, warn: (m) => { warnings.push(m); opts.warn?.(m); } }));
  const key = slotKey(opts);
  if (key && isJsonFaithful(result)) {
    const entry: Entry = { format: FORMAT, code: codeStamps(), envDigest: envDigest(opts), inputs, warnings, project: result };
    cache.put(key, JSON.stringify(entry));
  }
  return result;
}
