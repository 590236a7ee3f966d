/**
 * HTTP to the daemon over a unix socket, plain TCP, TCP with (mutual) TLS, or ssh (via
 * `ssh HOST berth system dial-stdio`): plain requests, streamed responses and hijacked
 * connections (HTTP Upgrade: tcp) for attach and exec.
 */
import http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { Duplex, type Readable } from 'node:stream';
import type { EngineEndpoint } from './hosts.js';
import { DaemonConnectionError, daemonError } from './errors.js';

export type QueryValue = string | number | boolean | undefined | null | string[] | Record<string, unknown>;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (tar archives, build contexts). */
  rawBody?: Readable | Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HijackedConnection {
  /** Raw bidirectional stream after the upgrade (multiplexed frames unless the container has a TTY). */
  socket: Duplex;
  /** Bytes already read past the response head. */
  head: Buffer;
  /** Response headers of the upgrade (Content-Type says raw-stream or multiplexed-stream). */
  headers: http.IncomingHttpHeaders;
}

/** Encodes a query like the docker client: booleans as 1/0, objects (filters) as JSON, arrays repeated. */
export function encodeQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'boolean') params.append(k, v ? '1' : '0');
    else if (Array.isArray(v)) for (const item of v) params.append(k, item);
    else if (typeof v === 'object') params.append(k, JSON.stringify(v));
    else params.append(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** A Duplex over a child process's stdio: the ssh transport. */
class ProcessDuplex extends Duplex {
  constructor(private readonly child: import('node:child_process').ChildProcessWithoutNullStreams) {
    super();
    child.stdout.on('data', (d: Buffer) => { if (!this.push(d)) child.stdout.pause(); });
    child.stdout.on('end', () => this.push(null));
    child.on('error', (e) => this.destroy(e));
  }
  override _read(): void { this.child.stdout.resume(); }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void { this.child.stdin.write(chunk, cb); }
  override _final(cb: () => void): void { this.child.stdin.end(); cb(); }
  override _destroy(err: Error | null, cb: (e: Error | null) => void): void { this.child.kill(); cb(err); }
  // http.Agent expects these socket methods.
  setKeepAlive(): this { return this; }
  setNoDelay(): this { return this; }
  setTimeout(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
}

// node:https (and tls) cost ~15 ms to load: only TLS endpoints pay for it.
const requireLazy = createRequire(import.meta.url);
let httpsModule: typeof https | undefined;
function httpsLazy(): typeof https {
  httpsModule ??= requireLazy('node:https') as typeof https;
  return httpsModule;
}

export class Transport {
  private readonly agent: http.Agent;
  private readonly protocol: 'http:' | 'https:';

  constructor(readonly endpoint: EngineEndpoint) {
    this.protocol = endpoint.tls ? 'https:' : 'http:';
    const tls = endpoint.tls;
    this.agent = tls
      ? new (httpsLazy().Agent)({ keepAlive: true, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify })
      : new http.Agent({ keepAlive: true });
  }

  private baseOptions(method: string, path: string, headers: Record<string, string>, agent: http.Agent | false): http.RequestOptions & https.RequestOptions {
    const ep = this.endpoint;
    const o: http.RequestOptions & https.RequestOptions = { method, path, headers: { 'User-Agent': 'berth-cli', ...headers } };
    if (ep.protocol === 'unix') {
      o.socketPath = ep.socketPath;
      o.host = 'localhost';
      // No TLS here: an empty server name spares the agent's net.isIP (its first call compiles a regex, ~6 ms).
      o.servername = '';
      o.agent = agent;
    } else if (ep.protocol === 'ssh') {
      o.host = 'localhost';
      // No agent: node then uses createConnection (agent:false would make a fresh TCP agent).
      o.agent = undefined;
      o.createConnection = () => this.sshConnection() as unknown as net.Socket;
    } else {
      o.host = ep.hostname;
      o.port = ep.port;
      o.agent = agent;
      if (ep.tls && agent === false) {
        o.ca = ep.tls.ca; o.cert = ep.tls.cert; o.key = ep.tls.key; o.rejectUnauthorized = ep.tls.verify;
      }
    }
    return o;
  }

  private sshConnection(): Duplex {
    const target = this.endpoint.sshTarget ?? '';
    const m = /^(.*?)(?::(\d+))?$/.exec(target);
    const args = ['-T', '-o', 'BatchMode=yes'];
    if (m?.[2]) args.push('-p', m[2]);
    args.push('--', m?.[1] ?? target, 'berth', 'system', 'dial-stdio');
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    return new ProcessDuplex(child);
  }

  private connectionError(e: NodeJS.ErrnoException): Error {
    const host = this.endpoint.host;
    if (e.code === 'EACCES') {
      return new DaemonConnectionError(host, e,
        `permission denied while trying to connect to the Docker daemon socket at ${host}: ${e.message}`);
    }
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EHOSTUNREACH'
      || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT' || e.code === 'EPIPE') {
      return new DaemonConnectionError(host, e);
    }
    if (e.code && /^(ERR_TLS|ERR_SSL|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|CERT_)/.test(e.code) || /SSL|TLS|certificate/i.test(e.message)) {
      return new DaemonConnectionError(host, e, `error during connect: ${e.message}`);
    }
    return e;
  }

  /** Sends a request; resolves with the response once its head arrived; status >= 400 rejects with the daemon's error. */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers };
    let payload: Buffer | string | Readable | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    } else if (opts.rawBody !== undefined) {
      payload = opts.rawBody;
      headers['Content-Type'] = opts.contentType ?? 'application/x-tar';
    }
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) headers['Content-Length'] = String(Buffer.byteLength(payload));
    const fullPath = path + encodeQuery(opts.query);
    return new Promise((resolve, reject) => {
      const mod = this.protocol === 'https:' ? httpsLazy() : http;
      const req = mod.request(this.baseOptions(method, fullPath, headers, this.agent), (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          readErrorBody(res).then((msg) => reject(daemonError(status, msg)), reject);
          return;
        }
        resolve(res);
      });
      req.on('error', (e) => reject(this.connectionError(e as NodeJS.ErrnoException)));
      if (opts.signal) {
        if (opts.signal.aborted) req.destroy(new Error('aborted'));
        opts.signal.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      }
      if (payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload)) req.end(payload);
      else {
        payload.on('error', (e) => req.destroy(e));
        payload.pipe(req);
      }
    });
  }

  /** POSTs with `Connection: Upgrade, Upgrade: tcp` and returns the raw connection after 101 (or 200 from old daemons). */
  hijack(method: string, path: string, opts: RequestOptions = {}): Promise<HijackedConnection> {
    const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp', ...opts.headers };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const fullPath = path + encodeQuery(opts.query);
    return new Promise((resolve, reject) => {
      const mod = this.protocol === 'https:' ? httpsLazy() : http;
      const req = mod.request(this.baseOptions(method, fullPath, headers, false));
      req.on('upgrade', (res, socket, head) => {
        resolve({ socket, head, headers: res.headers });
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          readErrorBody(res).then((msg) => reject(daemonError(status, msg)), reject);
          return;
        }
        // Old daemons answer 200 and then stream on the same connection.
        resolve({ socket: res.socket as Duplex, head: Buffer.alloc(0), headers: res.headers });
      });
      req.on('error', (e) => reject(this.connectionError(e as NodeJS.ErrnoException)));
      req.end(payload);
    });
  }

  close(): void { this.agent.destroy(); }
}

/** Reads an error response: `{"message": "..."}` as the Engine API returns, or the plain text. */
export async function readErrorBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  try {
    const obj = JSON.parse(text) as { message?: string };
    if (obj && typeof obj.message === 'string') return obj.message;
  } catch { /* not JSON */ }
  return text || `${res.statusCode} ${res.statusMessage ?? ''}`.trim();
}

export async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function readJson<T>(res: http.IncomingMessage): Promise<T> {
  const buf = await readBody(res);
  if (buf.length === 0) return undefined as T;
  return JSON.parse(buf.toString('utf8')) as T;
}
