/** Helpers shared by command modules: per-target loops, confirmation prompts, JSON output, timestamps. */
import { StatusError, type Ctx } from './command.js';
import { htmlEscapeJson } from './format/go-template.js';
import { parseGoDuration } from './format/humanize.js';

export function describeErr(e: unknown): string {
  const err = e as { fromDaemon?: boolean; message?: string };
  if (err && err.fromDaemon) return `Error response from daemon: ${err.message}`;
  return String(err?.message ?? e);
}

/** Runs `fn` for each target, printing `onOk`'s line; daemon errors are collected and printed at the end (exit 1). */
export async function forEachTarget(ctx: Ctx, targets: string[], fn: (t: string) => Promise<string | undefined | void>, summary?: (failed: string[]) => string): Promise<number> {
  const errors: string[] = [];
  const failed: string[] = [];
  for (const t of targets) {
    try {
      const line = await fn(t);
      if (line !== undefined) ctx.line(line);
    } catch (e) {
      if ((e as Error).name === 'DaemonConnectionError') throw e;
      errors.push(describeErr(e));
      failed.push(t);
    }
  }
  if (errors.length) {
    if (summary) errors.push(summary(failed));
    throw new StatusError(errors.join('\n'), 1);
  }
  return 0;
}

/** Asks a yes/no question on stdin (docker's prompt); non-interactive stdin answers no unless it says y. */
export async function confirm(ctx: Ctx, question: string): Promise<boolean> {
  ctx.out(`${question} [y/N] `);
  const stdin = ctx.io.stdin;
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) { finish(buf.slice(0, nl)); }
    };
    const finish = (s: string): void => { stdin.off('data', onData); stdin.off('end', onEnd); stdin.pause(); resolve(s); };
    const onEnd = (): void => finish(buf);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
  return /^\s*y(es)?\s*$/i.test(line);
}

/**
 * Go's json.MarshalIndent(…, "", "    ") of raw daemon JSON: 4-space indent, <, > and & escaped.
 * `values` keep the daemon's key order (JSON.parse preserves it).
 */
export function indentJson(values: unknown[]): string {
  if (values.length === 0) return '[]';
  return htmlEscapeJson(JSON.stringify(values, null, 4));
}

/** Docker's GetTimestamp: a Go duration ("10m") is relative to now; RFC 3339 dates and unix times pass as seconds. */
export function apiTimestamp(value: string, now = Date.now()): string {
  if (value === '') return value;
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  try {
    // A duration gives whole seconds, as docker's GetTimestamp.
    return String(Math.floor((now - parseGoDuration(value)) / 1000));
  } catch { /* not a duration */ }
  let parsed = Date.parse(value);
  if (Number.isNaN(parsed) && /^\d{4}-\d{2}-\d{2}$/.test(value)) parsed = Date.parse(`${value}T00:00:00Z`);
  if (Number.isNaN(parsed)) throw new StatusError(`invalid value for "since": failed to parse value as time or duration: "${value}"`, 1);
  // Without a zone, docker reads the time as local; Date.parse does the same for date-time strings.
  return formatUnixSeconds(parsed / 1000);
}

function formatUnixSeconds(t: number): string {
  const sec = Math.floor(t);
  const nanos = Math.round((t - sec) * 1e9);
  return `${sec}.${String(nanos).padStart(9, '0')}`;
}

/** Go's time.Time.String() in UTC: "2026-11-29 18:47:08 +0000 UTC". */
export function goTimeString(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

/** Docker's Ellipsis: cut to maxWidth runes, the last one replaced by "…". */
export function ellipsis(s: string, maxWidth: number): string {
  const chars = [...s];
  if (chars.length <= maxWidth) return s;
  if (maxWidth <= 1) return chars.slice(0, maxWidth).join('');
  return chars.slice(0, maxWidth - 1).join('') + '…';
}

/** Docker's stringid.TruncateID: drop "sha256:" and keep 12 characters. */
export function truncateId(id: string): string {
  const s = id.includes(':') ? id.slice(id.indexOf(':') + 1) : id;
  return s.slice(0, 12);
}

/** fvbommel/sortorder NaturalLess, which docker uses to sort volume and network names. */
export function naturalLess(a: string, b: string): boolean {
  const isDigit = (c: string): boolean => c >= '0' && c <= '9';
  let i = 0; let j = 0;
  while (i < a.length && j < b.length) {
    const c1 = a[i]; const c2 = b[j];
    const d1 = isDigit(c1); const d2 = isDigit(c2);
    if (d1 !== d2) return d1;
    if (!d1) {
      if (c1 !== c2) return c1 < c2;
      i++; j++;
      continue;
    }
    while (i < a.length && a[i] === '0') i++;
    while (j < b.length && b[j] === '0') j++;
    const nz1 = i; const nz2 = j;
    while (i < a.length && isDigit(a[i])) i++;
    while (j < b.length && isDigit(b[j])) j++;
    if (i - nz1 !== j - nz2) return i - nz1 < j - nz2;
    const n1 = a.slice(nz1, i); const n2 = b.slice(nz2, j);
    if (n1 !== n2) return n1 < n2;
    if (nz1 !== nz2) return nz1 < nz2;
  }
  return a.length < b.length;
}

export function naturalCompare(a: string, b: string): number {
  return naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0;
}
