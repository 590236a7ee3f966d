/**
 * A push parser for the build context tar: fed the request body's chunks as they arrive, it hands
 * each entry's data on as slices of those chunks (no copies, no stream hops per chunk). Header
 * decoding is tar-stream's (ustar, GNU, PAX and GNU long names, PAX size).
 */
import { createRequire } from 'node:module';
import type { Headers } from 'tar-stream';

interface HeaderCodec {
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): Headers | null;
  decodePax(buf: Buffer): Record<string, string>;
  decodeLongPath(buf: Buffer, encoding: string): string;
}
const codec = createRequire(import.meta.url)('tar-stream/headers.js') as HeaderCodec;

export type TarHeader = Headers;

/** Receives the entries: `entry`, then `data` (zero or more), then `end`. May throw to stop the parse. */
export interface TarSink {
  entry(h: TarHeader): void;
  data(chunk: Buffer): void;
  end(): void;
}

type State = 'header' | 'long' | 'data' | 'skip' | 'pad';

export class TarParser {
  private state: State = 'header';
  /** Bytes of the current data, long header, skipped data or padding still to come. */
  private remaining = 0;
  /** Size of the current entry's data (for the padding after it). */
  private size = 0;
  private held: Buffer[] = [];
  private heldLen = 0;
  private longType = '';
  private gnuPath?: string;
  private gnuLinkPath?: string;
  private pax?: Record<string, string>;
  private paxGlobal?: Record<string, string>;

  constructor(private readonly sink: TarSink) {}

  push(buf: Buffer): void {
    let off = 0;
    const len = buf.length;
    while (off < len) {
      switch (this.state) {
        case 'data':
        case 'skip': {
          const n = Math.min(this.remaining, len - off);
          if (this.state === 'data') this.sink.data(off === 0 && n === len ? buf : buf.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === 'data') this.sink.end();
            this.toPadding();
          }
          break;
        }
        case 'pad': {
          const n = Math.min(this.remaining, len - off);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'header':
        case 'long': {
          const need = this.state === 'header' ? 512 : this.remaining;
          let block: Buffer;
          if (this.heldLen === 0 && len - off >= need) {
            block = buf.subarray(off, off + need);
            off += need;
          } else {
            const n = Math.min(need - this.heldLen, len - off);
            this.held.push(Buffer.from(buf.subarray(off, off + n)));   // a copy: the chunk may be handed on (parallel-hash.ts)
            this.heldLen += n;
            off += n;
            if (this.heldLen < need) break;
            block = Buffer.concat(this.held, this.heldLen);
            this.held = [];
            this.heldLen = 0;
          }
          if (this.state === 'header') this.onHeader(block);
          else this.onLongHeader(block);
          break;
        }
      }
    }
  }

  /**
   * The end of the input. The docker CLI's `-f -` context ends right after the last file's data
   * (no padding, no end-of-archive blocks): that is accepted; a cut-off header or data is not.
   */
  finish(): void {
    if (this.state === 'data' || this.state === 'skip' || this.state === 'long') throw new Error('Unexpected end of data');
    if (this.state === 'header' && this.heldLen > 0 && Buffer.concat(this.held).some((b) => b !== 0)) throw new Error('Unexpected end of data');
  }

  private toPadding(): void {
    this.remaining = (512 - (this.size % 512)) % 512;
    this.state = this.remaining ? 'pad' : 'header';
  }

  private onHeader(block: Buffer): void {
    const h = codec.decode(block, 'utf-8', false);
    if (!h) return;   // a zero block (end of archive, or padding between archives)
    switch (h.type) {
      case 'gnu-long-path':
      case 'gnu-long-link-path':
      case 'pax-global-header':
      case 'pax-header':
        this.longType = h.type;
        this.size = h.size ?? 0;
        this.remaining = this.size;
        this.state = this.remaining ? 'long' : 'header';
        if (!this.remaining) this.onLongHeader(Buffer.alloc(0));
        return;
    }
    if (this.gnuPath !== undefined) { h.name = this.gnuPath; this.gnuPath = undefined; }
    if (this.gnuLinkPath !== undefined) { h.linkname = this.gnuLinkPath; this.gnuLinkPath = undefined; }
    if (this.pax) {
      if (this.pax.path) h.name = this.pax.path;
      if (this.pax.linkpath) h.linkname = this.pax.linkpath;
      if (this.pax.size) h.size = parseInt(this.pax.size, 10);
      (h as { pax?: Record<string, string> }).pax = this.pax;
      this.pax = undefined;
    }
    this.size = h.size ?? 0;
    this.remaining = this.size;
    this.sink.entry(h);
    if (this.size === 0) { this.sink.end(); this.toPadding(); return; }
    // a directory's data (there should be none) is not its content
    if (h.type === 'directory') { this.sink.end(); this.state = 'skip'; return; }
    this.state = 'data';
  }

  private onLongHeader(block: Buffer): void {
    switch (this.longType) {
      case 'gnu-long-path': this.gnuPath = codec.decodeLongPath(block, 'utf-8'); break;
      case 'gnu-long-link-path': this.gnuLinkPath = codec.decodeLongPath(block, 'utf-8'); break;
      case 'pax-global-header': this.paxGlobal = codec.decodePax(block); break;
      case 'pax-header': this.pax = { ...(this.paxGlobal ?? {}), ...codec.decodePax(block) }; break;
    }
    this.toPadding();
  }
}
