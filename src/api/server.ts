/**
 * The Engine API HTTP server: version prefix handling, routing, the one place where typed
 * errors become Docker's `{"message": …}` responses, and hijacked (Upgrade: tcp) connections.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { InvalidParameterError, messageOf, statusOf } from '../errors/index.js';
import { readUpgradeBody, Router, type ApiRequest } from './router.js';

export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';

export interface ApiServerOptions {
  log?: (msg: string) => void;
  debug?: (msg: string) => void;
  /** Serve HTTPS; with `ca` and verifyClients, clients must present a certificate signed by it (mutual TLS). */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; verifyClients: boolean };
}

export function createApiServer(router: Router, opts: ApiServerOptions = {}): http.Server {
  // Headers up to 1 MiB, as Go's http.Server allows dockerd: long IDs and filters in the URL still get an answer.
  const base = { keepAlive: true, requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: 1 << 20 };
  const server: http.Server = opts.tls
    ? https.createServer({ ...base, cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.tls.verifyClients, rejectUnauthorized: opts.tls.verifyClients, minVersion: 'TLSv1.2' })
    : http.createServer(base);
  // dispatch answers every error itself; the catch is the last line of defence, so no request is ever left hanging.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => { dispatch(router, req, res, undefined, opts).catch((e) => sendError(res, e)); });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (head.length) socket.unshift(head);
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as any);
    dispatch(router, req, res, socket, opts).catch((e) => sendError(res, e));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
    const body = JSON.stringify({ message: `${text.toLowerCase()}: ${err.code ?? err.message}` }) + '\n';
    try { socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`); } catch { /* gone */ }
  });
  return server;
}

function splitVersion(path: string): { version?: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  return m ? { version: m[1], path: m[2] } : { path };
}

function cmpVersion(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return; }
  const text = body === undefined ? '' : JSON.stringify(body) + '\n';
  res.writeHead(status, { ...baseHeaders(), ...(text ? { 'Content-Type': 'application/json' } : {}), 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

function baseHeaders(): Record<string, string> {
  return { 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', 'Ostype': 'linux', 'Server': `berth/${API_VERSION} (linux)` };
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = statusOf(err);
  if (res.headersSent) {
    // Mid-stream: Docker reports errors inside JSON message streams; here we can only end.
    try { res.end(); } catch { /* gone */ }
    return;
  }
  sendJson(res, status, { message: messageOf(err) });
}

async function dispatch(router: Router, raw: IncomingMessage, res: ServerResponse, upgradeSocket: Duplex | undefined, opts: ApiServerOptions): Promise<void> {
  let url: URL;
  try { url = new URL(raw.url ?? '/', 'http://berth'); } catch { sendJson(res, 400, { message: `invalid request URI: ${String(raw.url).slice(0, 200)}` }); return; }
  const { version, path } = splitVersion(url.pathname);
  if (version && cmpVersion(version, MIN_API_VERSION) < 0) {
    sendJson(res, 400, { message: `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` });
    return;
  }
  if (version && cmpVersion(version, API_VERSION) > 0) {
    sendJson(res, 400, { message: `client version ${version} is too new. Maximum supported API version is ${API_VERSION}` });
    return;
  }
  let found: ReturnType<Router['match']>;
  try { found = router.match(raw.method ?? 'GET', path); } catch (err) { sendError(res, err); return; }
  if (!found || found === 'method') {
    sendJson(res, 404, { message: 'page not found' });
    return;
  }
  if (opts.debug && upgradeSocket) opts.debug(`${raw.method} ${raw.url} (upgrade)`);
  if (opts.debug) {
    const t0 = process.hrtime.bigint();
    res.once('finish', () => opts.debug!(`${raw.method} ${raw.url} ${res.statusCode} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)}ms`));
  }
  const req: ApiRequest = { method: raw.method ?? 'GET', path, params: found.params, query: url.searchParams, raw, upgradeSocket, apiVersion: version ?? API_VERSION };
  try {
    if (upgradeSocket) req.upgradeBody = await readUpgradeBody(upgradeSocket, Number(raw.headers['content-length'] ?? 0));
    for (const [k, v] of Object.entries(baseHeaders())) if (!res.headersSent) res.setHeader(k, v);
    const result = await found.handler(req, res);
    if (res.headersSent || res.writableEnded) return;
    if (result === undefined) { res.writeHead(204); res.end(); return; }
    sendJson(res, result.status ?? 200, result.body, result.headers);
  } catch (err) {
    if (statusOf(err) >= 500) opts.log?.(`${req.method} ${raw.url}: ${(err as Error)?.stack ?? messageOf(err)}`);
    sendError(res, err);
  }
}

/** A raw stream to a client: a hijacked socket (Upgrade: tcp) or, for clients that did not ask to upgrade, the response body. */
export interface RawStream { output: NodeJS.WritableStream; input: NodeJS.ReadableStream | null; end(): void; onClose(fn: () => void): void }

/** Switches a request to a raw stream as Docker does for attach/exec: 101 UPGRADED, or a plain 200 body for old clients. */
export function hijack(req: ApiRequest, res: ServerResponse, contentType: string): RawStream {
  const socket = req.upgradeSocket;
  if (socket) {
    const extra = Object.entries(baseHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`);
    socket.on('error', () => { /* client went away */ });
    // Nothing is read before the container's stdin is there to take it (and its end).
    socket.pause();
    // Clients half-close when their stdin ends (a TLS close_notify, or a TCP FIN); output keeps flowing.
    (socket as { allowHalfOpen?: boolean }).allowHalfOpen = true;
    return {
      output: socket, input: socket,
      end: () => { socket.end(); },
      onClose: (fn) => { socket.once('close', fn); },
    };
  }
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  return {
    output: res, input: req.raw,
    end: () => { res.end(); },
    onClose: (fn) => { res.once('close', fn); },
  };
}

const websockets = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });

/**
 * Switches an `Upgrade: websocket` request to a WebSocket carrying a raw stream, as dockerd's
 * attach/ws: output in frames (binary from API 1.28, text before), input frames' payloads as stdin.
 */
export async function upgradeToWebSocket(req: ApiRequest, binary: boolean): Promise<RawStream> {
  const socket = req.upgradeSocket;
  if (!socket || String(req.raw.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    throw new InvalidParameterError('websocket: the client is not using the websocket protocol');
  }
  const key = req.raw.headers['sec-websocket-key'];
  const version = req.raw.headers['sec-websocket-version'];
  if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(String(key)) || (version !== '8' && version !== '13')) {
    throw new InvalidParameterError('websocket: missing or bad Sec-WebSocket-Key or Sec-WebSocket-Version');
  }
  // ws answers a handshake it refuses itself and never calls back: a closed socket ends the wait.
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const gone = () => reject(new InvalidParameterError('websocket: the connection closed during the handshake'));
    socket.once('close', gone);
    websockets.handleUpgrade(req.raw, socket as Socket, Buffer.alloc(0), (done) => { socket.off('close', gone); resolve(done); });
  });
  const input = new PassThrough();
  ws.on('message', (data: Buffer) => { input.write(data); });
  ws.on('close', () => { input.end(); });
  ws.on('error', () => { ws.terminate(); });
  input.pause();   // as a hijacked socket: read once the process can take it
  // ws keeps frames in order (a close after them): a chunk is handed over at once.
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (ws.readyState === ws.OPEN) ws.send(chunk, { binary });
      done();
    },
  });
  return {
    output, input,
    end: () => { output.end(() => { if (ws.readyState === ws.OPEN) ws.close(1000); }); },
    onClose: (fn) => { if (ws.readyState === ws.CLOSED) fn(); else ws.once('close', fn); },
  };
}

/** Starts a streaming JSON response (newline-delimited JSON messages). */
export function startJsonStream(res: ServerResponse, status = 200): (msg: unknown) => void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  return (msg: unknown) => { if (!res.writableEnded) res.write(JSON.stringify(msg) + '\r\n'); };
}
