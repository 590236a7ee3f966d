/** Serving a registry-style handler over HTTP or HTTPS: shared by berth-registry and berth-hub. */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export async function listenHttp(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: { host: string; port?: number; tls?: { cert: string | Buffer; key: string | Buffer } }): Promise<{ server: Server; port: number; hostPart: string }> {
  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) as unknown as Server
    : createHttpServer(handler);
  // Large uploads can take long: no overall request timeout; idle keep-alive connections are reaped.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return { server, port, hostPart: opts.host.includes(':') ? `[${opts.host}]` : opts.host };
}
