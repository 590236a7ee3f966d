/**
 * login / push / pull / logout through bin/berth against a real registry (Debian's docker-registry
 * with htpasswd auth on loopback) and a real engine (berthd via the shared harness, or
 * BERTH_TEST_DOCKER_HOST). Credentials land in config.json exactly where the docker CLI keeps them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { startBerthd, type Berthd } from './helpers/berthd.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const distName = basename(fileURLToPath(new URL('../..', import.meta.url)));
const BERTH = join(repo, 'bin', 'berth');
let host = process.env.BERTH_TEST_DOCKER_HOST ?? '';
let daemon: Berthd | undefined;
let registry: ChildProcess | undefined;
let dir = '';
let port = 0;
let skipReason: string | undefined;
const IMAGE = `berth-cli-reg/busybox:${process.pid}`;

interface Result { code: number; stdout: string; stderr: string }
function berth(args: string[], input = ''): Result {
  const r = spawnSync(process.execPath, [BERTH, ...args], {
    input, encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, DOCKER_HOST: host, BERTH_DIST: distName, DOCKER_CONTEXT: '', DOCKER_CONFIG: join(dir, 'config') },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return p;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cli-reg-'));
  if (spawnSync('sh', ['-c', 'command -v docker-registry']).status !== 0) { skipReason = 'docker-registry not installed'; return; }
  port = await freePort();
  writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('s3cret', 10)}\n`);
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`,
    'http:', `  addr: 127.0.0.1:${port}`, 'auth:', '  htpasswd:', '    realm: test', `    path: ${join(dir, 'htpasswd')}`, '',
  ].join('\n'));
  registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status, () => 0);
    if (status === 401) break;
    if (Date.now() > deadline) { skipReason = 'registry did not start'; return; }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!host) {
    if (!existsSync(join(repo, distName, 'src', 'daemon', 'main.js'))) { skipReason = 'berthd not built'; return; }
    try { daemon = await startBerthd(); } catch (e) { skipReason = `berthd did not come up: ${(e as Error).message.slice(-300)}`; return; }
    host = daemon.host;
  }
  const rootfs = join(dir, 'bb.tar');
  const mk = spawnSync('bash', [join(repo, '..', 'shared', 'tools', 'make-busybox-rootfs.sh'), rootfs], { encoding: 'utf8' });
  if (mk.status !== 0) { skipReason = `busybox rootfs: ${mk.stderr}`; return; }
  const imp = berth(['import', '-c', 'CMD ["sh"]', rootfs, IMAGE]);
  if (imp.code !== 0) skipReason = `import failed: ${imp.stderr}`;
});

after(async () => {
  if (host && !skipReason) {
    berth(['rmi', '-f', IMAGE, `127.0.0.1:${port}/bb:1`]);
  }
  if (daemon) await daemon.cleanup();
  if (registry && registry.exitCode === null) {
    const done = new Promise((r) => registry!.once('exit', r));
    registry.kill('SIGTERM');
    await done;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('login, push, pull and logout against an authenticating registry', (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  const ref = `127.0.0.1:${port}/bb:1`;
  assert.equal(berth(['tag', IMAGE, ref]).code, 0);
  const anonymous = berth(['push', ref]);
  if (/page not found/.test(anonymous.stderr)) { t.skip(`push: ${anonymous.stderr.trim()}`); return; }
  assert.equal(anonymous.code, 1);
  assert.match(anonymous.stdout, new RegExp(`^The push refers to repository \\[127\\.0\\.0\\.1:${port}/bb\\]`));

  const wrong = berth(['login', '-u', 'alice', '--password-stdin', `127.0.0.1:${port}`], 'nope\n');
  if (/page not found/.test(wrong.stderr)) { t.skip(`login: ${wrong.stderr.trim()}`); return; }
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^Error response from daemon: /);
  assert.equal(existsSync(join(dir, 'config', 'config.json')), false);

  const ok = berth(['login', '-u', 'alice', '--password-stdin', `127.0.0.1:${port}`], 's3cret\n');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'Login Succeeded\n');
  const cfg = JSON.parse(readFileSync(join(dir, 'config', 'config.json'), 'utf8'));
  assert.deepEqual(cfg.auths[`127.0.0.1:${port}`], { auth: Buffer.from('alice:s3cret').toString('base64') });

  const pushed = berth(['push', ref]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stdout, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
  assert.doesNotMatch(pushed.stdout, /Pushing/); // progress updates are not printed off a terminal

  assert.equal(berth(['rmi', ref]).code, 0);
  const pulled = berth(['pull', ref]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, /Status: Downloaded newer image for /);
  assert.ok(pulled.stdout.endsWith(`\n${ref}\n`));
  assert.ok(JSON.parse(berth(['image', 'inspect', '-f', '{{json .RepoTags}}', ref]).stdout).includes(ref));

  assert.equal(berth(['logout', `127.0.0.1:${port}`]).stdout, `Removing login credentials for 127.0.0.1:${port}\n`);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config', 'config.json'), 'utf8')).auths, {});
});
