/**
 * Authentication: Basic against an htpasswd file of bcrypt entries, and Docker's bearer-token
 * flow with the registry's own token endpoint (HS256 and ES256), driven by fetch and skopeo.
 */
import { test, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { errorCodes, pushBlob, spawnRegistry, tempDir } from './registry-harness.js';
import { signToken, VerifiedTokens, type TokenKey } from '../../src/registry/index.js';

const hasSkopeo = spawnSync('skopeo', ['--version']).status === 0;
const work = tempDir('berth-reg-auth-');
after(() => rmSync(work, { recursive: true, force: true }));

/**
 * A bcrypt htpasswd line made by a tool other than the registry's own library where one exists:
 * Apache's htpasswd -B, else libxcrypt through Python's crypt module, else bcryptjs.
 */
function htpasswdLine(user: string, password: string): string {
  const h = spawnSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' });
  if (h.status === 0) return h.stdout.trim();
  const py = spawnSync('python3', ['-W', 'ignore', '-c',
    'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<5)))', password], { encoding: 'utf8' });
  if (py.status === 0 && py.stdout.startsWith('$2')) return `${user}:${py.stdout.trim()}`;
  return `${user}:${bcrypt.hashSync(password, 5)}`;
}

const basic = (u: string, p: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

function writeUsers(): string {
  const file = join(work, 'users.htpasswd');
  writeFileSync(file, `# users\n${htpasswdLine('alice', 'wonderland')}\n${htpasswdLine('bob', 'builder')}\n`);
  return file;
}

test('htpasswd: 401 with a Basic challenge until a good password is given', async () => {
  const reg = await spawnRegistry(['--htpasswd', writeUsers()]);
  try {
    const none = await fetch(`${reg.url}/v2/`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"$/);
    assert.deepEqual(await errorCodes(none), ['UNAUTHORIZED']);
    const bad = await fetch(`${reg.url}/v2/`, { headers: basic('alice', 'wrong') });
    assert.equal(bad.status, 401);
    await bad.arrayBuffer();
    const nobody = await fetch(`${reg.url}/v2/`, { headers: basic('mallory', 'wonderland') });
    assert.equal(nobody.status, 401);
    await nobody.arrayBuffer();
    const good = await fetch(`${reg.url}/v2/`, { headers: basic('alice', 'wonderland') });
    assert.equal(good.status, 200);
    await good.arrayBuffer();
    const anonPush = await fetch(`${reg.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(anonPush.status, 401);
    await anonPush.arrayBuffer();
    const d = await pushBlob(reg.url, 'team/app', Buffer.from('secret layer'), basic('bob', 'builder'));
    assert.equal((await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { method: 'HEAD' })).status, 401);
    assert.equal((await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { method: 'HEAD', headers: basic('alice', 'wonderland') })).status, 200);

    if (hasSkopeo) {
      const layout = join(work, 'layout');
      execFileSync('mkdir', ['-p', layout]);
      // a minimal OCI layout to copy: reuse what the registry holds via skopeo itself is not possible
      // without an image, so push one with fetch and let skopeo pull it with and without credentials.
      const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
      const cd = await pushBlob(reg.url, 'team/app', cfg, basic('bob', 'builder'));
      const m = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: cfg.length }, layers: [] });
      assert.equal((await fetch(`${reg.url}/v2/team/app/manifests/1`, { method: 'PUT', body: m, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...basic('bob', 'builder') } })).status, 201);
      const ok = spawnSync('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', 'alice:wonderland', `docker://${reg.address}/team/app:1`, `oci:${layout}:x`], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      const denied = spawnSync('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', 'alice:nope', `docker://${reg.address}/team/app:1`, `oci:${layout}:y`], { encoding: 'utf8' });
      assert.notEqual(denied.status, 0);
      assert.match(denied.stderr, /401|unauthorized|authentication/i);
    }
  } finally {
    await reg.stop();
  }
});

async function tokenFlow(config: string): Promise<void> {
  const reg = await spawnRegistry(['--config', config, '--listen', '127.0.0.1:0']);
  try {
    const c = await fetch(`${reg.url}/v2/`);
    assert.equal(c.status, 401);
    const challenge = c.headers.get('www-authenticate') ?? '';
    await c.arrayBuffer();
    const m = /^Bearer realm="([^"]+)",service="([^"]+)"/.exec(challenge);
    assert.ok(m, challenge);
    const [, realm, service] = m;
    assert.equal(realm, `${reg.url}/token`);

    const scoped = await fetch(`${reg.url}/v2/team/app/tags/list`);
    assert.match(scoped.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull"/);
    await scoped.arrayBuffer();

    const token = async (scope: string, creds?: [string, string]): Promise<Response> =>
      fetch(`${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { headers: creds ? basic(...creds) : {} });
    const badCreds = await token('repository:team/app:pull', ['alice', 'nope']);
    assert.equal(badCreds.status, 401);
    await badCreds.arrayBuffer();

    const pullTok = ((await (await token('repository:team/app:pull', ['alice', 'wonderland'])).json()) as { token: string; access_token: string; expires_in: number }).token;
    const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });
    assert.equal((await fetch(`${reg.url}/v2/`, { headers: bearer(pullTok) })).status, 200);
    const list = await fetch(`${reg.url}/v2/team/app/tags/list`, { headers: bearer(pullTok) });
    assert.deepEqual(await errorCodes(list), ['NAME_UNKNOWN'], 'authorized, and the repository does not exist yet');
    const push = await fetch(`${reg.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: bearer(pullTok) });
    assert.equal(push.status, 401);
    assert.match(push.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    await push.arrayBuffer();
    const other = await fetch(`${reg.url}/v2/team/other/tags/list`, { headers: bearer(pullTok) });
    assert.equal(other.status, 401);
    await other.arrayBuffer();
    const tampered = pullTok.slice(0, -4) + (pullTok.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal((await fetch(`${reg.url}/v2/`, { headers: bearer(tampered) })).status, 401);

    // anonymous tokens grant nothing
    const anon = ((await (await token('repository:team/app:pull')).json()) as { token: string }).token;
    assert.equal((await fetch(`${reg.url}/v2/team/app/tags/list`, { headers: bearer(anon) })).status, 401);

    const pushTok = ((await (await token('repository:team/app:pull,push', ['bob', 'builder'])).json()) as { token: string }).token;
    await pushBlob(reg.url, 'team/app', Buffer.from('token pushed'), bearer(pushTok));

    if (hasSkopeo) {
      const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
      const cd = await pushBlob(reg.url, 'team/app', cfg, bearer(pushTok));
      const man = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: cfg.length }, layers: [] });
      assert.equal((await fetch(`${reg.url}/v2/team/app/manifests/1`, { method: 'PUT', body: man, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...bearer(pushTok) } })).status, 201);
      // skopeo follows the challenge to the token endpoint by itself, then copies within the registry
      const r = spawnSync('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false',
        '--src-creds', 'alice:wonderland', '--dest-creds', 'bob:builder',
        `docker://${reg.address}/team/app:1`, `docker://${reg.address}/team/copy:1`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const t = ((await (await token('repository:team/copy:pull', ['alice', 'wonderland'])).json()) as { token: string }).token;
      assert.equal((await fetch(`${reg.url}/v2/team/copy/manifests/1`, { method: 'HEAD', headers: bearer(t) })).status, 200);
    }
  } finally {
    await reg.stop();
  }
}

test('token auth (HS256): challenge, token endpoint, scopes enforced per repository and action', async () => {
  const users = writeUsers();
  const config = join(work, 'hs256.yaml');
  writeFileSync(config, [
    'auth:',
    `  htpasswd: { path: ${users} }`,
    '  token:',
    '    service: berth-registry',
    '    issuer: berth-test',
    '    alg: HS256',
    '    secret: "a shared secret for tests"',
    '    issue: { path: /token, ttl: 120 }',
    '',
  ].join('\n'));
  await tokenFlow(config);
});

test('token auth (ES256): tokens signed with an EC key made by openssl', async () => {
  const users = writeUsers();
  const key = join(work, 'es256.pem');
  const pub = join(work, 'es256.pub');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', pub], { stdio: 'ignore' });
  const config = join(work, 'es256.yaml');
  writeFileSync(config, [
    'auth:',
    '  htpasswd: { path: users.htpasswd }',
    '  token:',
    '    service: berth-registry',
    '    issuer: berth-test',
    '    alg: ES256',
    '    privateKey: es256.pem',
    '    publicKey: es256.pub',
    '    issue: {}',
    '',
  ].join('\n'));
  void users;
  await tokenFlow(config);
});

test('remembered tokens: a token verified once still expires, and a tampered copy is checked afresh', () => {
  mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
  try {
    const key: TokenKey = { alg: 'HS256', secret: 'token-secret' };
    const t0 = Math.floor(Date.now() / 1000);
    const token = signToken({ iss: 'iss', sub: 'alice', aud: 'reg', exp: t0 + 60, nbf: t0 - 1, iat: t0, access: [] }, key);
    const tokens = new VerifiedTokens(key, { issuer: 'iss', service: 'reg', leewaySec: 5 });
    assert.equal(tokens.verify(token)?.sub, 'alice');
    assert.equal(tokens.verify(token)?.sub, 'alice', 'again, from memory');
    const [h, , sig] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: 'iss', sub: 'mallory', aud: 'reg', exp: t0 + 60, access: [] })).toString('base64url');
    assert.equal(tokens.verify(`${h}.${forged}.${sig}`), undefined);
    mock.timers.tick(64_000);
    assert.equal(tokens.verify(token)?.sub, 'alice', 'within the leeway');
    mock.timers.tick(2_000);
    assert.equal(tokens.verify(token), undefined, 'expired, although remembered');
    const late = signToken({ iss: 'iss', sub: 'bob', aud: 'reg', exp: t0 + 600, nbf: t0 + 3600, iat: t0, access: [] }, key);
    assert.equal(tokens.verify(late), undefined, 'not yet valid');
  } finally {
    mock.timers.reset();
  }
});
