/**
 * docker compose's log output: every line prefixed with the container's name padded to the longest one and
 * `| `, coloured per container (cycling through docker compose's palette) when colours are on.
 */
import type { Readable } from 'node:stream';
import { FrameDemuxer, STREAM_SYSTEMERR } from '../client/index.js';

// docker compose's palette (cmd/formatter/colors.go): the normal colours, then the bright ones.
const PALETTE = ['36', '33', '32', '35', '34', '36;1', '33;1', '32;1', '35;1', '34;1'];

export class LogPrinter {
  private width = 0;
  private next = 0;
  private readonly colours = new Map<string, string>();

  constructor(private readonly out: { write(s: string): unknown }, private readonly colour: boolean, private readonly prefix = true) {}

  /** Makes room for a name in the padding (call for every container before printing). */
  register(name: string): void {
    this.width = Math.max(this.width, name.length);
    if (!this.colours.has(name)) this.colours.set(name, PALETTE[this.next++ % PALETTE.length]);
  }

  private head(name: string): string {
    if (!this.prefix) return '';
    const text = `${name.padEnd(this.width)}  | `;
    return this.colour ? `\x1b[${this.colours.get(name) ?? '0'}m${text}\x1b[0m` : text;
  }

  line(name: string, text: string): void {
    this.out.write(`${this.head(name)}${text}\n`);
  }

  /** A status line such as "web-1 exited with code 0". */
  event(name: string, text: string): void {
    this.out.write(this.colour ? `\x1b[${this.colours.get(name) ?? '0'}m${name} ${text}\x1b[0m\n` : `${name} ${text}\n`);
  }

  /** Copies a log stream (multiplexed unless `tty`) line by line; resolves when it ends. */
  follow(name: string, stream: Readable, tty: boolean): Promise<void> {
    this.register(name);
    const demux = new FrameDemuxer();
    const partial = new Map<number, string>();
    const feed = (kind: number, text: string): void => {
      const buf = (partial.get(kind) ?? '') + text;
      const lines = buf.split('\n');
      partial.set(kind, lines.pop() ?? '');
      for (const l of lines) this.line(name, l.replace(/\r$/, ''));
    };
    return new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        if (tty) { feed(1, chunk.toString('utf8')); return; }
        for (const f of demux.push(chunk)) if (f.stream !== STREAM_SYSTEMERR) feed(f.stream, f.payload.toString('utf8'));
      });
      const done = (): void => {
        for (const rest of partial.values()) if (rest) this.line(name, rest);
        partial.clear();
        resolve();
      };
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  }
}
