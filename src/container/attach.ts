/**
 * One attach session: a client stream joined to conmon's attach socket (SOCK_SEQPACKET; each
 * packet from conmon starts with 2 = stdout or 3 = stderr). Without a TTY the output is framed
 * with Docker's 8-byte headers; stdin flows the other way, and its end closes the container's
 * stdin when the container was created with StdinOnce.
 */
import { SeqpacketSocket } from 'node-unix-socket';
import { frame } from './log-file.js';

export interface AttachClient {
  output: NodeJS.WritableStream;
  input: NodeJS.ReadableStream | null;
  tty: boolean;
  /** Output without Docker's 8-byte headers even without a TTY (a WebSocket keeps the streams apart itself). */
  unframed?: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys?: number[];
  end(): void;
  onClose(fn: () => void): void;
}

const STDIN_PACKET = 8192;

/**
 * Stdin for a monitor's attach socket. Each write is one packet, which the monitor reads into a
 * buffer of its own: conmon's holds 32 KiB and drops the rest of a larger packet. 8 KiB packets.
 */
export function writeStdinPackets(sock: SeqpacketSocket, data: Buffer): void {
  for (let at = 0; at < data.length; at += STDIN_PACKET) sock.write(Buffer.from(data.subarray(at, at + STDIN_PACKET)));
}

export const DEFAULT_DETACH_KEYS = [16, 17]; // ctrl-p, ctrl-q

/**
 * Runs `fn` when the client's stdin ends, or now if it already has: an empty stdin (`</dev/null`)
 * can end before the process is there to be given its EOF.
 */
export function onInputEnd(input: NodeJS.ReadableStream, fn: () => void): void {
  if ((input as { readableEnded?: boolean }).readableEnded) fn(); else input.on('end', fn);
}

/** Docker's detach key syntax: "ctrl-p,ctrl-q", "a", "ctrl-@"… */
export function parseDetachKeys(spec: string | null | undefined): number[] | undefined {
  if (!spec) return undefined;
  return spec.split(',').map((k) => {
    if (/^ctrl-[a-z@\[\\\]^_]$/.test(k)) { const c = k[5]; return c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.charCodeAt(0) - 64; }
    if (k.length === 1) return k.charCodeAt(0);
    throw new Error(`Invalid escape keys (${spec}) provided`);
  });
}

export class AttachSession {
  private sock?: SeqpacketSocket;
  private closed = false;
  private readonly onDoneFns: (() => void)[] = [];

  constructor(readonly client: AttachClient, private readonly wantStdin: boolean, private readonly stdinOnce: boolean) {
    client.onClose(() => this.close());
  }

  /** Connects to conmon; resolves once connected so the caller can start the process after. */
  connect(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = new SeqpacketSocket();
      this.sock = sock;
      let connected = false;
      sock.on('error', (e: Error) => { if (!connected) reject(e); else this.close(); });
      sock.on('data', (buf: Buffer) => this.output(buf));
      sock.on('end', () => this.close());
      sock.on('close', () => this.close());
      try {
        sock.connect(socketPath, () => { connected = true; this.pumpStdin(); resolve(); });
      } catch (e) { reject(e); }
    });
  }

  onDone(fn: () => void): void { if (this.closed) fn(); else this.onDoneFns.push(fn); }

  private output(buf: Buffer): void {
    if (buf.length < 2 || this.closed) return;
    const kind = buf[0];
    const data = buf.subarray(1);
    const c = this.client;
    if (kind === 2 && !c.stdout) return;
    if (kind === 3 && !c.stderr) return;
    if (kind !== 2 && kind !== 3) return;
    c.output.write(c.tty || c.unframed ? Buffer.from(data) : frame(kind === 3 ? 2 : 1, Buffer.from(data)));
  }

  private pumpStdin(): void {
    const input = this.client.input;
    if (!input) return;
    if (!this.wantStdin) { input.resume(); return; }   // read and dropped: the client's hang-up must still be seen
    const keys = this.client.detachKeys ?? (this.client.tty ? DEFAULT_DETACH_KEYS : undefined);
    let matched = 0;
    input.on('data', (d: Buffer) => {
      if (this.closed || !this.sock) return;
      if (keys) {
        for (const b of d) {
          if (b === keys[matched]) { matched++; if (matched === keys.length) { this.close(); return; } }
          else matched = b === keys[0] ? 1 : 0;
        }
      }
      writeStdinPackets(this.sock, d);
    });
    onInputEnd(input, () => {
      if (this.closed) return;
      // Half-close: conmon closes the container's stdin (unless it was told to leave it open) and keeps sending output.
      if (this.stdinOnce) this.sock?.end();
    });
    input.resume();   // the API paused it until now
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.sock?.destroy(); } catch { /* already gone */ }
    try { this.client.end(); } catch { /* already gone */ }
    for (const fn of this.onDoneFns.splice(0)) fn();
  }
}
