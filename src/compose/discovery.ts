/**
 * Finding the compose files and the project's environment as docker compose does: compose.yaml, compose.yml,
 * docker-compose.yaml, docker-compose.yml in the working directory or its parents (compose.yaml preferred),
 * COMPOSE_FILE, `.env` in the project directory or `--env-file`, and the project name rules.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { parseDotEnv } from './dotenv.js';
import { exists, isFile, readText } from './load-inputs.js';

export const DEFAULT_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
/** Override files docker compose picks up next to the default file. */
export const OVERRIDE_FILE_NAMES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];

/**
 * The default compose file (and its override file, if any) in `dir` or the nearest parent that has one.
 * Warns when both a compose.yaml-style and a docker-compose.yaml-style file are present, as docker compose does.
 */
export function findDefaultComposeFiles(dir: string, warn: (m: string) => void = () => {}): string[] {
  let cur = resolve(dir);
  for (;;) {
    const found = DEFAULT_FILE_NAMES.map((n) => join(cur, n)).filter(isFile);
    if (found.length > 0) {
      if (found.length > 1) warn(`Found multiple config files with supported names: ${found.join(', ')}\nUsing ${found[0]}`);
      const files = [found[0]];
      const overrides = OVERRIDE_FILE_NAMES.map((n) => join(cur, n)).filter(isFile);
      if (overrides.length > 1) warn(`Found multiple override files with supported names: ${overrides.join(', ')}\nUsing ${overrides[0]}`);
      if (overrides.length > 0) files.push(overrides[0]);
      return files;
    }
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  throw new NotFoundError('no configuration file provided: not found');
}

/** Reads env files (later override earlier); `lookup` is the process environment, which wins. */
export function readEnvFiles(files: string[], lookup: (k: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) {
    if (!exists(f)) throw new NotFoundError(`couldn't find env file: ${f}`);
    if (!isFile(f)) throw new InvalidParameterError(`${f} is a directory`);
    const parsed = parseDotEnv(readText(f), lookup, f, { fallback: (k) => out[k] });
    Object.assign(out, parsed);
  }
  return out;
}

/** The default `.env` of a project directory, if it is a file. */
export function defaultEnvFile(projectDir: string): string[] {
  const p = join(projectDir, '.env');
  return isFile(p) ? [p] : [];
}

const PROJECT_NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** docker compose's normalisation of a directory name into a project name. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

/** Throws docker compose's error for an invalid explicit project name. */
export function validateProjectName(name: string): string {
  if (!PROJECT_NAME_RE.test(name)) {
    throw new InvalidParameterError(
      `invalid project name "${name}": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`,
    );
  }
  return name;
}

/** The project name by docker compose's precedence: -p, COMPOSE_PROJECT_NAME, `name:`, the directory's name. */
export function resolveProjectName(opts: {
  flag?: string;
  env?: string;
  fromFile?: string;
  projectDir: string;
}): string {
  if (opts.flag) return validateProjectName(opts.flag);
  if (opts.env) return validateProjectName(opts.env);
  if (opts.fromFile) return validateProjectName(opts.fromFile);
  const derived = normalizeProjectName(basename(opts.projectDir));
  if (!derived) {
    throw new InvalidParameterError(
      `project name must not be empty: the directory "${basename(opts.projectDir)}" gives no valid name; use -p or name:`,
    );
  }
  return derived;
}
