/**
 * Durations and sizes the way docker prints them (github.com/docker/go-units): "Up 3 seconds",
 * "About a minute", decimal sizes "5.21MB" for images and binary "1.5MiB" for memory.
 */
import { formatGoFloat } from './go-template.js';

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3600000 / 24 / 365)} years`;
}

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function sizeAndUnit(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) { size /= base; i++; }
  return [size, units[i]];
}

/** go-units HumanSizeWithPrecision: decimal units, %.{precision}g. */
export function humanSizeWithPrecision(size: number, precision: number): string {
  const [v, unit] = sizeAndUnit(size, 1000, DECIMAL);
  return `${formatGoFloat(v, precision)}${unit}`;
}
/** go-units HumanSize (precision 4). */
export function humanSize(size: number): string { return humanSizeWithPrecision(size, 4); }
/** go-units BytesSize: binary units, %.4g. */
export function bytesSize(size: number): string {
  const [v, unit] = sizeAndUnit(size, 1024, BINARY);
  return `${formatGoFloat(v, 4)}${unit}`;
}

export interface StateForStatus {
  Status?: string; Running?: boolean; Paused?: boolean; Restarting?: boolean; Dead?: boolean;
  ExitCode?: number; StartedAt?: string; FinishedAt?: string; Health?: { Status?: string } | null;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
function isZero(t?: string): boolean { return !t || t.startsWith('0001-01-01'); }

/** Docker's container State.String(): the STATUS column ("Up 3 seconds", "Exited (3) 2 minutes ago"). */
export function containerStatusText(s: StateForStatus, now = Date.now()): string {
  const since = (t?: string): string => humanDuration(now - Date.parse(t ?? ZERO_TIME));
  if (s.Running) {
    if (s.Paused) return `Up ${since(s.StartedAt)} (Paused)`;
    if (s.Restarting) return `Restarting (${s.ExitCode ?? 0}) ${since(s.FinishedAt)} ago`;
    const h = s.Health?.Status;
    if (h && h !== 'none') return `Up ${since(s.StartedAt)} (${h === 'starting' ? 'health: starting' : h})`;
    return `Up ${since(s.StartedAt)}`;
  }
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Dead) return 'Dead';
  if (isZero(s.StartedAt)) return 'Created';
  if (isZero(s.FinishedAt)) return '';
  return `Exited (${s.ExitCode ?? 0}) ${since(s.FinishedAt)} ago`;
}

/** Parses docker's size strings ("32m", "1g", "512k", "100") into bytes (go-units RAMInBytes). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpKMGTP]?)([iI]?[bB]?)\s*$/.exec(text);
  if (!m) throw new Error(`invalid size: '${text}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.trunc(Number(m[1]) * mult[m[2].toLowerCase()]);
}

/** Parses docker durations like "30s", "1m30s", "1h", "500ms" into milliseconds. */
export function parseGoDuration(text: string): number {
  if (/^\d+$/.test(text)) throw new Error(`time: missing unit in duration "${text}"`);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let total = 0; let consumed = 0; let m: RegExpExecArray | null;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  while ((m = re.exec(text))) { total += Number(m[1]) * unit[m[2]]; consumed += m[0].length; }
  if (consumed !== text.length || consumed === 0) throw new Error(`time: invalid duration "${text}"`);
  return total;
}
