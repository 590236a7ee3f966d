/**
 * The JSON progress messages dockerd streams for pull and push (the docker CLI renders them):
 * `{"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[=>  ] 1B/2B","id":"0123456789ab"}`.
 */

export interface ProgressMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  aux?: unknown;
  errorDetail?: { message: string };
  error?: string;
}

export type Emit = (msg: ProgressMessage) => void;

/** Go's %.4g for the sizes docker-units prints (≤ 4 significant digits, no trailing zeros). */
function g4(n: number): string {
  let s = n.toPrecision(4);
  if (s.includes('e')) return String(Number(s));
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

/** docker/go-units HumanSize: decimal units, 4 significant digits ("1.234MB", "32.5kB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return g4(v) + units[i];
}

/** jsonmessage.JSONProgress.String() at the daemon's width (200 columns: bar, numbers, time left). */
export function progressBar(current: number, total: number, startedAt?: number, now = Date.now()): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  let pct = Math.floor(Math.floor((current / total) * 100) / 2);
  if (pct > 50) pct = 50;
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  let left = '';
  if (current > 0 && startedAt && pct < 50) {
    const secs = Math.floor(((now - startedAt) / current) * (total - current) / 1000);
    left = ' ' + goDuration(secs);
  }
  return bar + numbers + left;
}

function goDuration(secs: number): string {
  if (secs <= 0) return '0s';
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

export function shortId(digest: string): string {
  return digest.replace(/^[a-z0-9]+:/, '').slice(0, 12);
}

/** Per-id progress updates, at most one every 100 ms (as dockerd's progress readers) plus the last. */
export class ProgressReporter {
  private last = 0;
  private readonly started = Date.now();
  constructor(private readonly emit: Emit, private readonly id: string, private readonly status: string, private readonly total: number) {}

  update(current: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100 && current < this.total) return;
    this.last = now;
    this.emit({
      status: this.status, progressDetail: { current, total: this.total },
      progress: progressBar(current, this.total, Math.floor(this.started / 1000) * 1000, now), id: this.id,
    });
  }
}

export function statusMessage(emit: Emit, id: string, status: string): void {
  emit({ status, progressDetail: {}, id });
}
