/**
 * `berth system dial-stdio` and the ssh:// transport built on it. `ssh` is replaced by a shim on
 * PATH that runs the remote command locally, so the whole path (client → ssh → dial-stdio →
 * daemon socket) is exercised without an ssh server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineClient } from '../../src/client/index.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const distName = basename(fileURLToPath(new URL('../..', import.meta.url)));
const BERTH = join(repo, 'bin', 'berth');
let dir = '';
let sock = '';
let server: http.Server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cli-dial-'));
  sock = join(dir, 'engine.sock');
  server = http.createServer((req, res) => {
    res.setHeader('API-Version', '1.41');
    if (req.url === '/_ping') { res.end('OK'); return; }
    if (req.url === '/v1.41/version') { res.setHeader('Content-Type', 'application/json'); res.end('{"Version":"stub","ApiVersion":"1.41"}'); return; }
    if (req.url?.startsWith('/v1.41/containers/json')) { res.setHeader('Content-Type', 'application/json'); res.end('[]'); return; }
    res.statusCode = 404; res.end('{"message":"nope"}');
  });
  await new Promise<void>((r) => server.listen(sock, r));
  // The shim logs its arguments and runs the remote command (everything after the destination) here.
  const shim = join(dir, 'ssh');
  writeFileSync(shim, `#!/bin/sh
echo "$@" >> ${join(dir, 'ssh-args.log')}
while [ "$1" != "--" ]; do shift; done
shift; shift
cmd=$1; shift
[ "$cmd" = berth ] || exit 127
exec "${process.execPath}" "${BERTH}" "$@"
`);
  chmodSync(shim, 0o755);
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('dial-stdio proxies raw HTTP between stdio and the daemon socket', async () => {
  const child = spawn(process.execPath, [BERTH, '-H', `unix://${sock}`, 'system', 'dial-stdio'], {
    env: { ...process.env, BERTH_DIST: distName },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stdin.write('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /\r\n\r\nOK$/);
});

test('ssh:// hosts run `berth system dial-stdio` on the remote side', async () => {
  const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, BERTH_DIST: distName, DOCKER_HOST: `unix://${sock}` };
  const saved = process.env.PATH;
  process.env.PATH = env.PATH;
  process.env.BERTH_DIST = distName;
  const prevHost = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = `unix://${sock}`;
  try {
    const client = new EngineClient({ host: 'ssh://deploy@example.invalid:2222', env: {} });
    assert.equal((await client.version()).Version, 'stub');
    client.close();
  } finally {
    process.env.PATH = saved;
    if (prevHost === undefined) delete process.env.DOCKER_HOST; else process.env.DOCKER_HOST = prevHost;
  }
  const log = readFileSync(join(dir, 'ssh-args.log'), 'utf8');
  assert.match(log, /-p 2222 -- deploy@example\.invalid berth system dial-stdio/);
  // And through the CLI itself.
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    const c = spawn(process.execPath, [BERTH, '-H', 'ssh://deploy@example.invalid', 'ps', '-q'], { env });
    let out = ''; c.stdout.on('data', (d) => { out += d; }); c.stderr.on('data', (d) => { out += d; });
    c.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out, '');
});
