/**
 * Wiring the local terminal to a hijacked attach/exec connection: raw mode and resize for TTYs,
 * stdout/stderr demuxing otherwise, stdin forwarding with a half-close when it ends.
 */
import type { Duplex } from 'node:stream';
import { FrameDemuxer, STREAM_STDERR, STREAM_SYSTEMERR, type HijackedConnection } from '../client/index.js';
import type { CliIO } from './command.js';

export interface PumpOptions {
  tty: boolean;
  /** Forward local stdin to the connection. */
  stdin: boolean;
  /** Called when the terminal size changes (and once at the start) with rows/columns. */
  onResize?: (rows: number, cols: number) => void;
}

/** Puts the local terminal in raw mode; returns a function that restores it. */
export function makeRaw(io: CliIO): () => void {
  const stdin = io.stdin;
  if (!stdin.isTTY || !stdin.setRawMode) return () => {};
  stdin.setRawMode(true);
  let restored = false;
  const restore = (): void => { if (!restored) { restored = true; try { stdin.setRawMode!(false); } catch { /* gone */ } } };
  process.once('exit', restore);
  return restore;
}

/** Streams a hijacked connection until the daemon closes its side. */
export function pumpHijacked(conn: HijackedConnection, io: CliIO, opts: PumpOptions): Promise<void> {
  const socket: Duplex = conn.socket;
  return new Promise((resolve, reject) => {
    let finished = false;
    const cleanups: (() => void)[] = [];
    const done = (err?: Error): void => {
      if (finished) return;
      finished = true;
      for (const c of cleanups) c();
      if (err) reject(err); else resolve();
    };
    const demux = opts.tty ? undefined : new FrameDemuxer();
    let systemErr = '';
    const onData = (chunk: Buffer): void => {
      if (!demux) { io.stdout.write(chunk); return; }
      for (const f of demux.push(chunk)) {
        if (f.stream === STREAM_STDERR) io.stderr.write(f.payload);
        else if (f.stream === STREAM_SYSTEMERR) systemErr += f.payload.toString();
        else io.stdout.write(f.payload);
      }
    };
    if (conn.head.length) onData(conn.head);
    socket.on('data', onData);
    socket.on('end', () => done(systemErr ? new Error(systemErr.trim()) : undefined));
    socket.on('close', () => done(systemErr ? new Error(systemErr.trim()) : undefined));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after our half-close just means the daemon is done.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') done(); else done(e);
    });
    if (opts.stdin) {
      const stdin = io.stdin;
      const onIn = (d: Buffer): void => { if (!socket.destroyed) socket.write(d); };
      const onEnd = (): void => { if (!socket.destroyed) socket.end(); };
      stdin.on('data', onIn);
      stdin.on('end', onEnd);
      stdin.resume();
      cleanups.push(() => { stdin.off('data', onIn); stdin.off('end', onEnd); stdin.pause(); });
    }
    if (opts.tty && opts.onResize && io.stdout.isTTY) {
      const send = (): void => { if (io.stdout.rows && io.stdout.columns) opts.onResize!(io.stdout.rows, io.stdout.columns); };
      process.on('SIGWINCH', send);
      cleanups.push(() => process.off('SIGWINCH', send));
      send();
    }
  });
}
