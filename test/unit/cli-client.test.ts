import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, ConflictError } from '../../src/errors/index.js';
import { DaemonConnectionError, EngineClient, encodeFrame, encodeQuery, isDaemonError, parseHost, resolveEndpoint } from '../../src/client/index.js';

test('host parsing follows the docker CLI', () => {
  assert.deepEqual(parseHost('unix:///run/x.sock'), { host: 'unix:///run/x.sock', protocol: 'unix', socketPath: '/run/x.sock' });
  assert.equal(parseHost('tcp://1.2.3.4').port, 2375);
  assert.equal(parseHost('tcp://1.2.3.4', true).port, 2376);
  assert.equal(parseHost('tcp://[::1]:99').hostname, '::1');
  assert.throws(() => parseHost('tcp://a:b'), /invalid port/);
  assert.throws(() => parseHost('foo://x'), /Invalid bind address format/);
  assert.equal(resolveEndpoint({}, { DOCKER_HOST: 'unix:///tmp/a.sock' }).socketPath, '/tmp/a.sock');
  assert.equal(resolveEndpoint({}, {}).host, 'unix:///run/berth.sock');
  assert.throws(() => resolveEndpoint({ host: 'tcp://127.0.0.1:1', tlsVerify: true }, { DOCKER_CERT_PATH: '/nonexistent' }), /could not read CA certificate/);
});

test('query encoding: booleans as 1, filters as JSON, lists repeated', () => {
  assert.equal(encodeQuery({ all: true, limit: 2, filters: { status: ['exited'] }, names: ['a', 'b'], skip: undefined }),
    '?all=1&limit=2&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D&names=a&names=b');
});

test('negotiation, typed daemon errors, logs and hijack over a real unix socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-client-'));
  const sock = join(dir, 's.sock');
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/_ping') { res.setHeader('API-Version', '1.41'); res.end('OK'); return; }
    if (req.url === '/v1.41/containers/nope/json') { res.statusCode = 404; res.setHeader('Content-Type', 'application/json'); res.end('{"message":"No such container: nope"}'); return; }
    if (req.url?.startsWith('/v1.41/containers/create')) { res.statusCode = 409; res.end('{"message":"name in use"}'); return; }
    if (req.url === '/v1.41/version') { res.setHeader('Content-Type', 'application/json'); res.end('{"Version":"x","ApiVersion":"1.41"}'); return; }
    if (req.url?.startsWith('/v1.41/containers/c1/logs')) { res.end(Buffer.concat([encodeFrame(1, 'out\n'), encodeFrame(2, 'err\n')])); return; }
    res.statusCode = 500; res.end('{"message":"unexpected"}');
  });
  server.on('upgrade', (req, socket) => {
    seen.push(`UPGRADE ${req.url} ${req.headers.upgrade} ${req.headers.connection}`);
    socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(Buffer.from(d.toString().toUpperCase())));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });

  const client = new EngineClient({ host: `unix://${sock}`, env: {} });
  t.after(() => client.close());
  assert.equal(await client.apiVersion(), '1.41');
  assert.equal((await client.version()).Version, 'x');
  await assert.rejects(client.inspectContainer('nope'), (e: unknown) => e instanceof NotFoundError && e.message === 'No such container: nope' && isDaemonError(e) && e.status === 404);
  await assert.rejects(client.createContainer({ Image: 'x' }, { name: 'a' }), ConflictError);
  const logs = await client.containerLogs('c1', { follow: true, tail: 5 });
  const chunks: Buffer[] = [];
  for await (const c of logs) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).length, 8 + 4 + 8 + 4);
  assert.ok(seen.includes('GET /v1.41/containers/c1/logs?follow=1&stdout=1&stderr=1&tail=5'));

  const conn = await client.attachContainer('c1', { stdin: true });
  assert.equal(conn.headers['content-type'], 'application/vnd.docker.raw-stream');
  const echoed = new Promise<string>((resolve) => { let s = ''; conn.socket.on('data', (d: Buffer) => { s += d; }); conn.socket.on('end', () => resolve(s)); });
  conn.socket.end('hello');
  assert.equal(await echoed, 'HELLO');
  assert.ok(seen.some((s) => s.startsWith('UPGRADE /v1.41/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1 tcp Upgrade')));
});

test('a missing socket is a DaemonConnectionError with docker\'s message', async () => {
  const client = new EngineClient({ host: 'unix:///nonexistent/berth.sock', env: {} });
  await assert.rejects(client.ping(), (e: unknown) => e instanceof DaemonConnectionError
    && e.message === 'Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?');
});
