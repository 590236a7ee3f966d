/**
 * Operating the Hub: TLS (the registry and web interface over HTTPS, Secure session cookies,
 * an https token realm), state surviving a restart, and the admin commands' refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getToken, pushImage, registryGet, spawnHub, WebClient } from './hub-harness.js';

const alice = { user: 'alice', password: 'alice-password-1' };
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => { b += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('over TLS: https realm, Secure session cookie', { skip: !hasOpenssl && 'openssl missing' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-hub-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const hub = await spawnHub(['--tls-cert', cert, '--tls-key', key]);
  try {
    hub.createUser(alice.user, alice.password);
    assert.match(hub.url, /^https:\/\//);
    const ca = readFileSync(cert);
    const v2 = await httpsGet(`${hub.url}/v2/`, ca);
    assert.equal(v2.status, 401);
    assert.equal(v2.headers['www-authenticate'], `Bearer realm="${hub.url}/token",service="berth-hub"`);
    const login = await httpsGet(`${hub.url}/login`, ca);
    const pre = (login.headers['set-cookie'] as string[]).find((c) => c.startsWith('hub_pre='))!;
    assert.match(pre, /; Secure/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(login.body)![1];
    const form = new URLSearchParams({ _csrf: csrf, username: alice.user, password: alice.password }).toString();
    const r = await httpsGet(`${hub.url}/login`, ca, { Cookie: pre.split(';')[0], 'Content-Type': 'application/x-www-form-urlencoded', Origin: hub.url }, 'POST', form);
    assert.equal(r.status, 303);
    const session = (r.headers['set-cookie'] as string[]).find((c) => c.startsWith('hub_session='))!;
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Lax/);
    assert.match(session, /; Secure/);
  } finally {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('state survives a restart; admin commands refuse bad input', async () => {
  const hub = await spawnHub([], { keepData: true });
  let second: Awaited<ReturnType<typeof spawnHub>> | undefined;
  try {
    hub.createUser(alice.user, alice.password);
    const img = await pushImage(hub, 'alice/durable', 'v1', alice);
    const web = new WebClient(hub);
    await web.login(alice.user, alice.password);
    await web.post('/r/alice/durable/-/description', { description: 'kept' }, { from: '/r/alice/durable/-/settings' });
    await web.post('/r/alice/durable/-/star', { star: '1' }, { from: '/r/alice/durable' });
    await hub.stop();
    second = await spawnHub([], { data: hub.data });
    const m = await registryGet(second, '/v2/alice/durable/manifests/v1', 'repository:alice/durable:pull', alice);
    assert.equal(m.status, 200);
    assert.equal(m.headers.get('docker-content-digest'), img.digest);
    const search = await (await fetch(`${second.url}/v1/search?q=durable`, { headers: { Authorization: `Basic ${Buffer.from('alice:alice-password-1').toString('base64')}` } })).json() as { results: { description: string; star_count: number }[] };
    assert.equal(search.results[0].description, 'kept');
    assert.equal(search.results[0].star_count, 1);
    // the session cookie from before the restart still works
    const w2 = new WebClient(second);
    for (const [k, v] of web.cookies) w2.cookies.set(k, v);
    assert.match((await w2.get('/settings/tokens')).body, /New token/);
    // admin commands: duplicates, short passwords, unknown repositories and bad visibility are refused
    assert.throws(() => second!.createUser('alice', 'another-password'));
    assert.throws(() => second!.createUser('carol', 'short'));
    assert.throws(() => second!.admin(['repo', 'visibility', 'alice/missing', 'public']));
    assert.throws(() => second!.admin(['repo', 'visibility', 'alice/durable', 'secret']));
    second.createUser('carol', 'carol-password', true);
    // an admin may pull anything
    assert.equal((await registryGet(second, '/v2/alice/durable/manifests/v1', 'repository:alice/durable:pull', { user: 'carol', password: 'carol-password' })).status, 200);
    void getToken;
  } finally {
    await second?.stop();
    rmSync(hub.data, { recursive: true, force: true });
  }
});
