/**
 * The CLI side of remote daemons: mutual TLS over TCP (-H tcp:// --tlsverify, DOCKER_TLS_VERIFY +
 * DOCKER_CERT_PATH) and contexts shared with the real docker CLI. The daemon end is a small
 * Engine API responder behind a real TLS listener with throwaway certificates made by openssl.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { EngineClient } from '../../src/client/index.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const distName = basename(fileURLToPath(new URL('../..', import.meta.url)));
const BERTH = join(repo, 'bin', 'berth');
let dir = '';
let server: https.Server;
let port = 0;
let skipReason: string | undefined;
const requests: string[] = [];

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function makeCa(name: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`]);
}
function makeCert(ca: string, name: string, ext: string): void {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '2', '-extfile', `${name}.ext`]);
}

interface Result { code: number; stdout: string; stderr: string; error?: Error }

/** Runs a program without blocking the event loop (the TLS server lives in this process). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.stdout.on('data', (d) => { stdout += d; }); c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', (error) => { clearTimeout(timer); resolve({ code: -1, stdout, stderr, error }); });
    c.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

function berth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return run(process.execPath, [BERTH, ...args],
    { ...process.env, BERTH_DIST: distName, DOCKER_HOST: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '', DOCKER_CONTEXT: '', DOCKER_CONFIG: join(dir, 'config'), ...env });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cli-tls-'));
  try {
    makeCa('ca'); makeCa('other-ca');
    makeCert('ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    makeCert('ca', 'client', 'extendedKeyUsage=clientAuth\n');
    makeCert('other-ca', 'rogue', 'extendedKeyUsage=clientAuth\n');
  } catch (e) { skipReason = (e as Error).message; return; }
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  copyFileSync(join(dir, 'ca.pem'), join(certDir, 'ca.pem'));
  copyFileSync(join(dir, 'client-cert.pem'), join(certDir, 'cert.pem'));
  copyFileSync(join(dir, 'client-key.pem'), join(certDir, 'key.pem'));
  server = https.createServer({
    ca: readFileSync(join(dir, 'ca.pem')), cert: readFileSync(join(dir, 'server-cert.pem')), key: readFileSync(join(dir, 'server-key.pem')),
    requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = (req.url ?? '').replace(/^\/v[\d.]+/, '');
    res.setHeader('API-Version', '1.41'); res.setHeader('OSType', 'linux'); res.setHeader('Content-Type', 'application/json');
    if (url === '/_ping') { res.end(req.method === 'HEAD' ? undefined : 'OK'); return; }
    if (url.startsWith('/containers/json')) {
      res.end(JSON.stringify([{ Id: 'a'.repeat(64), Names: ['/remote1'], Image: 'busybox', ImageID: 'sha256:x', Command: 'sh', Created: Math.floor(Date.now() / 1000), Ports: [], Labels: {}, State: 'running', Status: 'Up 2 seconds' }]));
      return;
    }
    res.statusCode = 404; res.end('{"message":"page not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  if (server) await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('mutual TLS: flags and environment, refused without or with a foreign certificate', async (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  const host = `tcp://127.0.0.1:${port}`;
  const withFlags = await berth(['-H', host, '--tlsverify', '--tlscacert', join(dir, 'ca.pem'), '--tlscert', join(dir, 'client-cert.pem'), '--tlskey', join(dir, 'client-key.pem'), 'ps', '--format', '{{.Names}} {{.Status}}']);
  assert.equal(withFlags.stderr, '');
  assert.equal(withFlags.stdout, 'remote1 Up 2 seconds\n');
  const withEnv = await berth(['ps', '-q'], { DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(dir, 'certs') });
  assert.equal(withEnv.stdout, 'aaaaaaaaaaaa\n');
  // No client certificate: the server refuses during the handshake.
  await assert.rejects(new EngineClient({ host, tlsVerify: true, tlsCaCert: join(dir, 'ca.pem'), env: { DOCKER_CERT_PATH: join(dir, 'nothing-here') } }).ping(),
    (e: Error) => e.name === 'DaemonConnectionError');
  const good = new EngineClient({ host, tlsVerify: true, tlsCaCert: join(dir, 'ca.pem'), tlsCert: join(dir, 'client-cert.pem'), tlsKey: join(dir, 'client-key.pem'), env: {} });
  assert.equal(await good.apiVersion(), '1.41');
  good.close();
  const noCert = await berth(['-H', host, '--tlsverify', '--tlscacert', join(dir, 'ca.pem'), 'ps'], { DOCKER_CERT_PATH: join(dir, 'nothing-here') });
  assert.equal(noCert.code, 1);
  assert.match(noCert.stderr, /error during connect|Cannot connect/);
  const rogue = await berth(['-H', host, '--tlsverify', '--tlscacert', join(dir, 'ca.pem'), '--tlscert', join(dir, 'rogue-cert.pem'), '--tlskey', join(dir, 'rogue-key.pem'), 'ps']);
  assert.equal(rogue.code, 1);
  assert.match(rogue.stderr, /error during connect|Cannot connect/);
  // The server's certificate is checked too: a client trusting another CA refuses it.
  const wrongCa = await berth(['-H', host, '--tlsverify', '--tlscacert', join(dir, 'other-ca.pem'), '--tlscert', join(dir, 'client-cert.pem'), '--tlskey', join(dir, 'client-key.pem'), 'ps']);
  assert.equal(wrongCa.code, 1);
  assert.match(wrongCa.stderr, /certificate/);
  const missing = await berth(['-H', host, '--tlsverify', '--tlscacert', join(dir, 'no-such-ca.pem'), 'ps']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /could not read CA certificate ".*no-such-ca\.pem"/);
  const malformed = await berth(['-H', 'tcp://127.0.0.1:notaport', 'ps']);
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /^Failed to initialize: unable to resolve docker endpoint: invalid port/);
});

test('contexts are shared with the docker CLI in both directions', async (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  const host = `tcp://127.0.0.1:${port}`;
  const tlsSpec = `host=${host},ca=${join(dir, 'ca.pem')},cert=${join(dir, 'client-cert.pem')},key=${join(dir, 'client-key.pem')}`;
  const created = await berth(['context', 'create', 'berthctx', '--description', 'made by berth', '--docker', tlsSpec]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, 'berthctx\n');
  assert.equal((await berth(['--context', 'berthctx', 'ps', '--format', '{{.Names}}'])).stdout, 'remote1\n');
  const env = { ...process.env, DOCKER_CONFIG: join(dir, 'config'), DOCKER_HOST: '', DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' };
  const docker = await run('docker', ['--context', 'berthctx', 'ps', '--format', '{{.Names}}'], env);
  if (docker.error) { t.diagnostic(`docker CLI not available: ${docker.error.message}`); return; }
  assert.equal(docker.stderr, '');
  assert.equal(docker.stdout, 'remote1\n');
  const dc = await run('docker', ['context', 'create', 'dockerctx', '--docker', tlsSpec], env);
  assert.equal(dc.code, 0, dc.stderr);
  assert.equal((await berth(['--context', 'dockerctx', 'ps', '-q'])).stdout, 'aaaaaaaaaaaa\n');
  assert.equal((await berth(['ps', '-q'], { DOCKER_CONTEXT: 'dockerctx' })).stdout, 'aaaaaaaaaaaa\n');
  const ls = await berth(['context', 'ls', '--format', '{{.Name}} {{.DockerEndpoint}}']);
  assert.equal(ls.stdout, `default unix:///run/berth.sock\nberthctx ${host}\ndockerctx ${host}\n`);
  // With DOCKER_HOST set, both CLIs warn that it overrides the active context.
  const overridden = await berth(['context', 'ls', '-q'], { DOCKER_HOST: host });
  assert.equal(overridden.stderr, spawnSync('docker', ['context', 'ls', '-q'], { encoding: 'utf8', env: { ...env, DOCKER_HOST: host } }).stderr);
  assert.match(overridden.stderr, /^Warning: DOCKER_HOST environment variable overrides the active context/);
  assert.equal((await berth(['context', 'use', 'berthctx'])).code, 0);
  assert.equal(spawnSync('docker', ['context', 'show'], { encoding: 'utf8', env }).stdout, 'berthctx\n');
  assert.equal((await berth(['ps', '-q'])).stdout, 'aaaaaaaaaaaa\n');
  assert.equal((await berth(['context', 'use', 'default'])).code, 0);
  const insp = JSON.parse((await berth(['context', 'inspect', 'dockerctx'])).stdout);
  assert.equal(insp[0].Endpoints.docker.Host, host);
  assert.equal((await berth(['context', 'rm', 'dockerctx', 'berthctx'])).stdout, 'dockerctx\nberthctx\n');
  assert.equal(spawnSync('docker', ['context', 'ls', '-q'], { encoding: 'utf8', env }).stdout, 'default\n');
  assert.ok(requests.some((r) => r.startsWith('GET /v1.41/containers/json')));
});
