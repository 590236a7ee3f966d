/**
 * The file logger's options, as dockerd's json-file driver takes them (`--log-opt`): `max-size`
 * (go-units decimal sizes: 10k, 1m, 1.5g), `max-file` (files kept, counting the current one; it
 * only matters with max-size), `compress` (accepted, not done), and the attribute options (labels,
 * env and their -regex forms, shown by `docker logs --details`; tag is accepted and ignored). The
 * `none` driver keeps nothing to read. Checked at create, with dockerd's messages.
 */
import { RE2JS } from 're2js';
import { InvalidParameterError } from '../errors/index.js';

/**
 * The default driver, as dockerd's: an empty Type means it. Clients decide by this name whether
 * logs can be read back (docker-py's `containers.run()` returns a container's output only for
 * json-file or journald). The files are in the k8s-file line format the monitor writes (podman's
 * Docker API names its files json-file the same way); LogPath is not meant to be parsed as JSON.
 */
export const LOG_DRIVER = 'json-file';
/** Drivers whose options are the file logger's: dockerd's file drivers, and k8s-file (what berth called them before). */
const FILE_DRIVERS = new Set([LOG_DRIVER, 'local', 'k8s-file']);
const FILE_OPTS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);
/** Docker's drivers that send logs elsewhere (berth keeps them in files or not at all). */
const OTHER_DOCKER_DRIVERS = new Set(['syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries']);
/** Options dockerd takes for every driver before asking the driver's validator. */
const BUILTIN_OPTS = new Set(['mode', 'max-buffer-size']);

/** Without max-size: rotate at 20 MiB and keep one previous file, as berth always has. */
export const DEFAULT_LOG_LIMITS: LogLimits = { maxSize: 20 * 1024 * 1024, maxFile: 2, explicit: false };

export interface LogLimits {
  /** Bytes a file may reach before it is rotated. */
  maxSize: number;
  /** Files kept, the current one included (≥ 1). */
  maxFile: number;
  /** Whether max-size was given (then the limits are checked often). */
  explicit: boolean;
}

const DECIMAL: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

/** go-units FromHumanSize: `10k`, `10 KB`, `1.5m`, `512` (decimal multiples). */
export function fromHumanSize(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m || !/^\d+(\.\d+)?$/.test(m[1])) throw new InvalidParameterError(`invalid size: '${s}'`);
  return Math.floor(Number(m[1]) * DECIMAL[(m[2] ?? '').toLowerCase()]);
}

function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new InvalidParameterError(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

/** The limits a container's LogConfig asks for; throws dockerd's message for a bad option. */
export function logLimits(logConfig: { Type?: string; Config?: Record<string, string> } | undefined): LogLimits {
  const driver = logConfig?.Type || LOG_DRIVER;
  const cfg = logConfig?.Config ?? {};
  if (driver === 'none') return DEFAULT_LOG_LIMITS;
  if (OTHER_DOCKER_DRIVERS.has(driver)) throw new InvalidParameterError(`log driver "${driver}" is not supported by berth: logs are kept in files (json-file, local) or not at all (none)`);
  if (!FILE_DRIVERS.has(driver)) throw new InvalidParameterError(`error looking up logging plugin ${driver}: plugin "${driver}" not found`);
  const mode = cfg.mode;
  if (mode !== undefined && mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') throw new InvalidParameterError(`logger: logging mode not supported: ${mode}`);
  for (const key of Object.keys(cfg)) {
    if (!BUILTIN_OPTS.has(key) && !FILE_OPTS.has(key)) throw new InvalidParameterError(`unknown log opt '${key}' for ${driver} log driver`);
  }
  let maxSize = -1;
  if (cfg['max-size'] !== undefined && cfg['max-size'] !== '-1') {
    maxSize = fromHumanSize(cfg['max-size']);
    if (maxSize <= 0) throw new InvalidParameterError('max-size must be a positive number');
  }
  // Without max-file berth keeps its usual one previous file (dockerd keeps none).
  let maxFile = DEFAULT_LOG_LIMITS.maxFile;
  let givenMaxFile = 1;
  if (cfg['max-file'] !== undefined) {
    const s = cfg['max-file'];
    if (!/^[+-]?\d+$/.test(s)) throw new InvalidParameterError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
    givenMaxFile = Number(s);
    if (givenMaxFile < 1) throw new InvalidParameterError('max-file cannot be less than 1');
    if (maxSize > 0) maxFile = givenMaxFile;
  }
  if (cfg.compress !== undefined && parseBool(cfg.compress) && (givenMaxFile === 1 || maxSize <= 0)) {
    throw new InvalidParameterError('compress cannot be true when max-file is less than 2 or max-size is not set');
  }
  return maxSize > 0 ? { maxSize, maxFile, explicit: true } : DEFAULT_LOG_LIMITS;
}

/**
 * The attributes `docker logs --details` shows before each line ("k=v,k2=v2"): the labels and
 * environment variables the log options name (`labels`, `env`) or match (`labels-regex`,
 * `env-regex`, RE2 as Go's regexp), sorted by name, as dockerd's file loggers record them.
 */
export function logAttributes(logConfig: { Config?: Record<string, string> } | undefined, labels: Record<string, string> | null | undefined, env: string[] | null | undefined): string {
  const cfg = logConfig?.Config ?? {};
  const extra = new Map<string, string>();
  const lab = labels ?? {};
  const vars = new Map<string, string>();
  for (const e of env ?? []) { const i = e.indexOf('='); if (i > 0) vars.set(e.slice(0, i), e.slice(i + 1)); }
  const matching = (pattern: string | undefined, keys: Iterable<string>, value: (k: string) => string | undefined) => {
    if (!pattern) return;
    let re: RE2JS;
    try { re = RE2JS.compile(pattern); } catch { return; }
    for (const k of keys) if (re.matcher(k).find()) extra.set(k, value(k)!);
  };
  for (const k of (cfg.labels ?? '').split(',')) if (k && k in lab) extra.set(k, lab[k]);
  matching(cfg['labels-regex'], Object.keys(lab), (k) => lab[k]);
  for (const k of (cfg.env ?? '').split(',')) if (k && vars.has(k)) extra.set(k, vars.get(k)!);
  matching(cfg['env-regex'], vars.keys(), (k) => vars.get(k));
  return [...extra.keys()].sort().map((k) => `${k}=${extra.get(k)}`).join(',');
}
