/**
 * docker login / push / pull through berthd against berth's registry with credentials: Basic
 * (htpasswd file with a bcrypt entry) and Docker's bearer-token flow (token endpoint served by
 * the registry). Good and bad passwords, pulls without credentials, pulls after login.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry, tempDir, type SpawnedRegistry } from './registry-harness.js';

function htpasswd(dir: string): string {
  const file = join(dir, 'users.htpasswd');
  writeFileSync(file, `alice:${bcrypt.hashSync('s3cret-pass', 5)}\n`);
  return file;
}

for (const mode of ['basic', 'token'] as const) {
  describe(`distribution: login, push and pull with ${mode} auth`, () => {
    let reg: SpawnedRegistry;
    let d1: Berthd;
    let d2: Berthd;
    let confDir: string;
    let imageId: string;

    before(async () => {
      confDir = tempDir('berth-dist-auth-');
      const users = htpasswd(confDir);
      let args: string[];
      if (mode === 'basic') args = ['--htpasswd', users];
      else {
        const cfg = join(confDir, 'config.yaml');
        writeFileSync(cfg, [
          'listen: 127.0.0.1:0',
          'auth:',
          `  htpasswd: { path: ${users} }`,
          '  token:',
          '    service: berth-test',
          '    issuer: berth-test',
          '    alg: HS256',
          '    secret: "a-test-secret-of-enough-length-0123456789"',
          '    issue: { path: /token, ttl: 300 }',
        ].join('\n') + '\n');
        args = ['--config', cfg];
      }
      // Settle every start before failing, so after() stops whatever did start.
      const started = await Promise.allSettled([
        spawnRegistry(args).then((x) => { reg = x; }),
        startBerthd().then((x) => { d1 = x; }),
        startBerthd().then((x) => { d2 = x; }),
      ]);
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      imageId = importBusybox(d1);
    });
    after(async () => {
      await Promise.all([d1?.cleanup(), d2?.cleanup(), reg?.stop()]);
      const { rmSync } = await import('node:fs');
      if (confDir) rmSync(confDir, { recursive: true, force: true });
    });

    test('docker login with a bad password fails, with a good one succeeds', async () => {
      const bad = await d1.dockerAsync(['login', reg.address, '-u', 'alice', '--password-stdin'], { input: 'wrong-pass\n' });
      assert.equal(bad.status, 1);
      if (mode === 'basic') assert.match(bad.stderr, new RegExp(`Error response from daemon: login attempt to http://${reg.address}/v2/ failed with status: 401 Unauthorized`));
      else assert.match(bad.stderr, /Error response from daemon: .*unauthorized/);
      const good = await d1.dockerAsync(['login', reg.address, '-u', 'alice', '--password-stdin'], { input: 's3cret-pass\n' });
      assert.equal(good.status, 0, good.stderr);
      assert.match(good.stdout, /Login Succeeded/);
    });

    test('push with the stored credentials, pull needs them', async () => {
      const ref = `${reg.address}/private/app:1`;
      assert.equal(d1.docker(['tag', 'busybox', ref]).status, 0);
      const push = await d1.dockerAsync(['push', ref]);
      assert.equal(push.status, 0, push.stderr);
      assert.match(push.stdout, /1: digest: sha256:/);

      const anon = await d2.dockerAsync(['pull', ref]);
      assert.equal(anon.status, 1);
      if (mode === 'basic') assert.match(anon.stderr, /no basic auth credentials/);
      else assert.match(anon.stderr, /pull access denied for .*private\/app|unauthorized/);

      const login = await d2.dockerAsync(['login', reg.address, '-u', 'alice', '--password-stdin'], { input: 's3cret-pass\n' });
      assert.equal(login.status, 0, login.stderr);
      const pull = await d2.dockerAsync(['pull', ref]);
      assert.equal(pull.status, 0, pull.stderr);
      assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', ref]).stdout.trim(), imageId);
    });
  });
}
