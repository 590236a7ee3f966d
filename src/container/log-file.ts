/**
 * Container logs as conmon writes them (k8s-file: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`),
 * read back for `docker logs` and attach's `logs=1`: filtered by stream and time, tail, follow.
 * The file is rotated by the daemon (`container.log` → `container.log.1` … `.N`, newest first; see
 * rotateLogFile), and all of them are read, oldest first.
 */
import { closeSync, createReadStream, existsSync, openSync, promises as fsp, renameSync, rmSync, watch, writeSync } from 'node:fs';
import type { LogLimits } from './log-options.js';

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
 * with one; optionally each record prefixed with its timestamp, and with `details` (the container's
 * log attributes, logAttributes) and a space, as `--details` asks.
 */
export function encodeLogBatch(batch: LogEntry[], opts: { tty: boolean; timestamps: boolean; details?: string }): Buffer {
  let total = 0;
  const detail = opts.details !== undefined ? opts.details + ' ' : '';
  const prefixes = opts.timestamps || detail ? batch.map((e) => Buffer.from((opts.timestamps ? e.timestampPrefix() : '') + detail, 'latin1')) : undefined;
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
  const files = [...rotatedFiles(path).reverse(), path].filter(existsSync);
  let batch: LogEntry[] = [];
  const tailBuf: LogEntry[] = [];
  const tail = q.tail;
  const parser = new LineParser((e) => {
    if (!matches(e, q)) return;
    if (tail !== undefined) { if (tail > 0) { tailBuf.push(e); if (tailBuf.length > tail) tailBuf.shift(); } }
    else batch.push(e);
  });
  let offset = 0;
  let ino = 0;
  for (const f of files) {
    const stream = createReadStream(f, { highWaterMark: 1 << 20 });
    for await (const chunk of stream) {
      if (opts.signal.aborted) { stream.destroy(); return; }
      parser.push(chunk as Buffer);
      if (batch.length >= 2048) { await emit(batch); batch = []; }
    }
    if (f === path) { offset = stream.bytesRead; ino = (await fsp.stat(path).catch(() => undefined))?.ino ?? 0; }
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
      if (st && (st.size < offset || (ino && st.ino !== ino))) { offset = 0; watcher?.close(); startWatch(); } // rotated
      if (st) ino = st.ino;
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

/** The rotated files of the log at `path` that exist: `path.1` (newest), `path.2`, … */
export function rotatedFiles(path: string): string[] {
  const out: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) out.push(`${path}.${i}`);
  return out;
}

/**
 * Rotates the log at `path` if it reached `limits.maxSize`: the file is renamed aside and the
 * monitor asked to reopen (`reopen`, which makes a new empty file); the renamed content is cut at
 * line boundaries into files of about max-size (the last piece joins the one before it when it is
 * under half of max-size), and the newest of those and of the earlier rotated files are kept as
 * `path.1` … `path.(max-file − 1)`: with the current file, max-file files. Returns whether it rotated.
 */
export async function rotateLogFile(path: string, limits: LogLimits, reopen: () => Promise<void>): Promise<boolean> {
  const st = await fsp.stat(path).catch(() => undefined);
  if (!st || st.size < limits.maxSize) return false;
  const aside = path + '.rotating';
  await fsp.rename(path, aside);
  try {
    await reopen();
    // The monitor makes the new file asynchronously; its writes go to the renamed one until then.
    for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
    const keep = limits.maxFile - 1;
    const pieces = keep > 0 ? await cutLog(aside, limits.maxSize, keep) : [];
    // Newest first: the new pieces, then the earlier rotated files.
    const order = [...pieces.reverse(), ...rotatedFiles(path)];
    const staged = order.map((f, i) => {
      if (i >= keep) { rmSync(f, { force: true }); return ''; }
      const t = `${path}.staged.${i + 1}`;
      renameSync(f, t);
      return t;
    });
    staged.forEach((t, i) => { if (t) renameSync(t, `${path}.${i + 1}`); });
  } finally { rmSync(aside, { force: true }); }
  return true;
}

/**
 * Cuts the log file `src` into pieces of at most `maxSize` bytes at line boundaries (a line longer
 * than that is a piece of its own), reading only its newest `keep` × max-size and a bit;
 * returns the pieces' paths, oldest first, at most `keep` of them.
 */
async function cutLog(src: string, maxSize: number, keep: number): Promise<string[]> {
  const size = (await fsp.stat(src)).size;
  const window = (keep + 1) * maxSize;
  const start = Math.max(0, size - window);
  const pieces: string[] = [];
  let fd = -1; let used = 0;
  const open = () => { const p = `${src}.piece.${pieces.length}`; pieces.push(p); fd = openSync(p, 'w', 0o600); used = 0; };
  const writeLine = (line: Buffer) => {
    if (fd < 0 || (used > 0 && used + line.length > maxSize)) { if (fd >= 0) closeSync(fd); open(); }
    writeSync(fd, line); used += line.length;
  };
  let rest = Buffer.alloc(0);
  let skipFirst = start > 0;   // the window starts mid-line
  try {
    for await (const chunk of createReadStream(src, { start, highWaterMark: 1 << 20 })) {
      let buf = rest.length ? Buffer.concat([rest, chunk as Buffer]) : chunk as Buffer;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(10, from);
        if (nl < 0) break;
        if (skipFirst) skipFirst = false; else writeLine(buf.subarray(from, nl + 1));
        from = nl + 1;
      }
      rest = Buffer.from(buf.subarray(from));
      buf = rest;
    }
    if (rest.length && !skipFirst) writeLine(Buffer.concat([rest, Buffer.from('\n')]));
  } finally { if (fd >= 0) closeSync(fd); }
  // A short last piece joins the one before (pieces stay under 1.5 × max-size).
  if (pieces.length >= 2 && used < maxSize / 2) {
    const last = pieces.pop()!;
    const data = await fsp.readFile(last);
    await fsp.appendFile(pieces[pieces.length - 1], data);
    rmSync(last, { force: true });
  }
  for (const p of pieces.splice(0, Math.max(0, pieces.length - keep))) rmSync(p, { force: true });
  return pieces;
}

/** Docker's 8-byte multiplexed frame: [stream, 0, 0, 0, size(4, big-endian)] + payload. */
export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}
