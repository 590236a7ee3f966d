/**
 * A registry on loopback serving HTTPS with a self-signed certificate: berthd talks TLS to it
 * (loopback is an insecure registry: TLS first, certificate not verified, as dockerd), pushes and
 * pulls through it with Basic auth, and `docker login` works over TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry, tempDir, type SpawnedRegistry } from './registry-harness.js';

describe('distribution: TLS registry on loopback', () => {
  let reg: SpawnedRegistry;
  let d: Berthd;
  let dir: string;

  before(async () => {
    dir = tempDir('berth-dist-tls-');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(join(dir, 'users'), `tls-user:${bcrypt.hashSync('tls-pass', 5)}\n`);
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      spawnRegistry(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--htpasswd', join(dir, 'users')]).then((x) => { reg = x; }),
      startBerthd().then((x) => { d = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    importBusybox(d);
  });
  after(async () => {
    await Promise.all([d?.cleanup(), reg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('login, push and pull over HTTPS', async () => {
    assert.match(reg.url, /^https:/);
    const login = await d.dockerAsync(['login', reg.address, '-u', 'tls-user', '--password-stdin'], { input: 'tls-pass\n' });
    assert.equal(login.status, 0, login.stderr);
    const ref = `${reg.address}/secure/app:1`;
    assert.equal(d.docker(['tag', 'busybox', ref]).status, 0);
    const push = await d.dockerAsync(['push', ref]);
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stdout, /1: digest: sha256:/);
    assert.equal(d.docker(['rmi', ref]).status, 0);
    const pull = await d.dockerAsync(['pull', ref]);
    assert.equal(pull.status, 0, pull.stderr);
    assert.match(pull.stdout, /Status: Image is up to date|Status: Downloaded newer image/);
  });
});
