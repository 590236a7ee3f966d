/**
 * Container logs as conmon writes them (k8s-file: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`),
 * read back for `docker logs` and attach's `logs=1`: filtered by stream and time, tail, follow.
 * The file is rotated by the daemon (`container.log` → `container.log.1`), and both are read.
 */
import { createReadStream, existsSync, promises as fsp, watch } from 'node:fs';

/**
 * One log record: offsets into the bytes read from the file, decoded only when asked. No view
 * per record: a 200k-line read then allocates little more than the records themselves.
 */
export class LogEntry {
  constructor(
    readonly stream: 'stdout' | 'stderr',
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly timeEnd: number,
    private readonly textStart: number,
    private readonly end: number,
    readonly partial: boolean,
  ) {}
  get time(): string { return this.buf.toString('latin1', this.start, this.timeEnd); }
  get size(): number { return this.end - this.textStart + (this.partial ? 0 : 1); }
  /** Copies the record's bytes (without the newline) into `out` at `at`; returns the count. */
  copyText(out: Buffer, at: number): number { return this.buf.copy(out, at, this.textStart, this.end); }
  /** Docker's timestamp prefix, `2026-…Z `. */
  timestampPrefix(): string { return dockerTimestamp(this.time) + ' '; }
}

export interface LogQuery {
  stdout: boolean; stderr: boolean;
  sinceNs?: number; untilNs?: number;
  tail?: number;                 // undefined = all
  follow: boolean;
}

function parseTimeNs(ts: string): number {
  // 2026-11-29T16:15:45.464237039+00:00 → ns since epoch (millisecond precision is enough for filters).
  const ms = Date.parse(ts.replace(/\.(\d{3})\d*/, '.$1'));
  const frac = /\.(\d+)/.exec(ts)?.[1] ?? '0';
  return ms * 1e6 + (Number((frac + '000000000').slice(3, 9)) % 1e6);
}

/** Docker prints log timestamps in UTC with nanoseconds and a Z. */
export function dockerTimestamp(ts: string): string {
  return ts.replace(/([+-]00:00)$/, 'Z');
}

/** Splits raw file bytes into entries; partial lines (P) are joined with what follows, as Docker shows them. */
class LineParser {
  private rest = Buffer.alloc(0);
  constructor(private readonly onEntry: (e: LogEntry) => void) {}

  push(chunk: Buffer): void {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      this.line(buf, start, nl);
      start = nl + 1;
    }
    this.rest = Buffer.from(buf.subarray(start));
  }

  /** The line is buf[start, end): `<time> <stream> <F|P> <text>`. */
  private line(buf: Buffer, start: number, end: number): void {
    const s1 = buf.indexOf(32, start);
    const s2 = s1 < 0 || s1 >= end ? -1 : buf.indexOf(32, s1 + 1);
    if (s2 < 0 || s2 >= end) return;
    let s3 = buf.indexOf(32, s2 + 1);
    if (s3 >= end) s3 = -1;
    const stream = buf[s1 + 1] === 0x73 && buf[s1 + 4] === 0x65 ? 'stderr' : 'stdout';   // "stderr" vs "stdout"
    const partial = s3 >= 0 && buf[s2 + 1] === 0x50;   // 'P'
    this.onEntry(new LogEntry(stream, buf, start, s1, s3 < 0 ? end : s3 + 1, end, partial));
  }
}

/**
 * Encodes a batch for the wire in one buffer: Docker's 8-byte frames without a TTY, raw bytes
 * with one; optionally each record prefixed with its timestamp.
 */
export function encodeLogBatch(batch: LogEntry[], opts: { tty: boolean; timestamps: boolean }): Buffer {
  let total = 0;
  const prefixes = opts.timestamps ? batch.map((e) => Buffer.from(e.timestampPrefix(), 'latin1')) : undefined;
  for (let i = 0; i < batch.length; i++) total += batch[i].size + (opts.tty ? 0 : 8) + (prefixes ? prefixes[i].length : 0);
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i];
    const len = e.size + (prefixes ? prefixes[i].length : 0);
    if (!opts.tty) {
      out[o] = e.stream === 'stderr' ? 2 : 1; out[o + 1] = 0; out[o + 2] = 0; out[o + 3] = 0;
      out.writeUInt32BE(len, o + 4);
      o += 8;
    }
    if (prefixes) { prefixes[i].copy(out, o); o += prefixes[i].length; }
    o += e.copyText(out, o);
    if (!e.partial) out[o++] = 10;
  }
  return out;
}

function matches(e: LogEntry, q: LogQuery): boolean {
  if (e.stream === 'stdout' ? !q.stdout : !q.stderr) return false;
  if (q.sinceNs !== undefined || q.untilNs !== undefined) {
    const t = parseTimeNs(e.time);
    if (q.sinceNs !== undefined && t < q.sinceNs) return false;
    if (q.untilNs !== undefined && t > q.untilNs) return false;
  }
  return true;
}

/**
 * Reads the log and calls `emit` with batches of entries. With follow, keeps reading appended
 * data until `stopped()` says the container is no longer running and the file is drained,
 * or until `signal` aborts (client went away).
 */
export async function readLogs(path: string, q: LogQuery, emit: (batch: LogEntry[]) => Promise<void> | void,
  opts: { stopped: () => boolean; signal: AbortSignal; onStop?: (fn: () => void) => void }): Promise<void> {
  const files = [path + '.1', path].filter(existsSync);
  let batch: LogEntry[] = [];
  const tailBuf: LogEntry[] = [];
  const tail = q.tail;
  const parser = new LineParser((e) => {
    if (!matches(e, q)) return;
    if (tail !== undefined) { if (tail > 0) { tailBuf.push(e); if (tailBuf.length > tail) tailBuf.shift(); } }
    else batch.push(e);
  });
  let offset = 0;
  for (const f of files) {
    const stream = createReadStream(f, { highWaterMark: 1 << 20 });
    for await (const chunk of stream) {
      if (opts.signal.aborted) { stream.destroy(); return; }
      parser.push(chunk as Buffer);
      if (batch.length >= 2048) { await emit(batch); batch = []; }
    }
    if (f === path) offset = stream.bytesRead;
  }
  if (tail !== undefined) batch = tailBuf.splice(0);
  if (batch.length) { await emit(batch); batch = []; }
  if (!q.follow) return;

  // Follow: wake on file changes and on the container stopping; reopen after a rotation.
  const tailParser = new LineParser((e) => { if (matches(e, q)) batch.push(e); });
  let wake: (() => void) | undefined;
  const poke = () => { const w = wake; wake = undefined; w?.(); };
  let watcher: ReturnType<typeof watch> | undefined;
  const startWatch = () => { try { watcher = watch(path, poke); watcher.on('error', poke); } catch { /* file may not exist yet */ } };
  startWatch();
  opts.onStop?.(poke);
  opts.signal.addEventListener('abort', poke);
  const timer = setInterval(poke, 1000);  // safety net for missed inotify events
  try {
    for (;;) {
      let st;
      try { st = await fsp.stat(path); } catch { st = undefined; }
      if (st && st.size < offset) { offset = 0; watcher?.close(); startWatch(); } // rotated
      if (st && st.size > offset) {
        const fh = await fsp.open(path, 'r');
        try {
          const buf = Buffer.alloc(Math.min(st.size - offset, 8 << 20));
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          offset += bytesRead;
          tailParser.push(buf.subarray(0, bytesRead));
        } finally { await fh.close(); }
        if (batch.length) { await emit(batch); batch = []; }
        continue;
      }
      if (opts.signal.aborted) return;
      if (opts.stopped()) return;
      await new Promise<void>((r) => { wake = r; });
    }
  } finally {
    clearInterval(timer);
    watcher?.close();
  }
}

/** Docker's 8-byte multiplexed frame: [stream, 0, 0, 0, size(4, big-endian)] + payload. */
export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}
