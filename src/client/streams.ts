/**
 * Stream formats of the Engine API: Docker's 8-byte-header multiplexed frames (attach, logs and
 * exec without a TTY) and newline-delimited JSON message streams (pull, push, build, load, events).
 */
import type { Readable, Writable } from 'node:stream';

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
/** Stream type 3 carries a system error on API >= 1.41 (the text is the message). */
export const STREAM_SYSTEMERR = 3;

export interface Frame { stream: number; payload: Buffer }

/**
 * Incremental demuxer for multiplexed frames: header [type, 0, 0, 0, size(uint32 BE)] then `size`
 * bytes. Feed arbitrary chunks; complete frames come out in order, partial ones wait for more bytes.
 */
export class FrameDemuxer {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length === 0) return [];
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const frames: Frame[] = [];
    let buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
    let off = 0;
    while (buf.length - off >= 8) {
      const size = buf.readUInt32BE(off + 4);
      if (buf.length - off - 8 < size) break;
      frames.push({ stream: buf[off], payload: buf.subarray(off + 8, off + 8 + size) });
      off += 8 + size;
    }
    buf = buf.subarray(off);
    this.pending = buf.length ? [buf] : [];
    this.pendingLength = buf.length;
    return frames;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number { return this.pendingLength; }
}

/** Encodes one frame (used by tests and by anything that produces multiplexed output). */
export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export interface DemuxTargets { stdout: Writable; stderr: Writable }

/**
 * Copies a multiplexed stream to stdout/stderr until it ends. Resolves when the source ended;
 * rejects with the daemon's message if a system-error frame arrives.
 */
export function demuxStream(source: Readable, targets: DemuxTargets): Promise<void> {
  return new Promise((resolve, reject) => {
    const demux = new FrameDemuxer();
    let systemError: string | undefined;
    source.on('data', (chunk: Buffer) => {
      for (const f of demux.push(chunk)) {
        if (f.stream === STREAM_STDERR) targets.stderr.write(f.payload);
        else if (f.stream === STREAM_SYSTEMERR) systemError = (systemError ?? '') + f.payload.toString();
        else targets.stdout.write(f.payload);
      }
    });
    source.on('error', reject);
    source.on('end', () => systemError ? reject(new Error(systemError.trim())) : resolve());
    source.on('close', () => systemError ? reject(new Error(systemError.trim())) : resolve());
  });
}

/** Splits a byte stream into lines and yields each non-empty line parsed as JSON. */
export async function* jsonLines<T = unknown>(source: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let rest = '';
  for await (const chunk of source) {
    rest += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  // Some daemons concatenate objects without newlines at the end; parse what's left.
  const tail = rest.trim();
  if (tail) yield* parseConcatenatedJson<T>(tail);
}

function* parseConcatenatedJson<T>(text: string): Generator<T> {
  let depth = 0; let start = 0; let inString = false; let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) { yield JSON.parse(text.slice(start, i + 1)) as T; start = i + 1; }
    }
  }
  const left = text.slice(start).trim();
  if (left) yield JSON.parse(left) as T;
}

/** One message of a JSON progress stream (pull, push, load, build, import). */
export interface JsonMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  time?: number;
  timeNano?: number;
}
