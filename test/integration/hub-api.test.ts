/**
 * berth Hub over real HTTP: Docker's token flow, private repositories answering exactly like
 * missing ones (manifests, tags, blobs by digest, catalog, search), collaborators, access-token
 * scopes, expired and tampered tokens, name validation, webhooks and a real client (skopeo).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { spawnSync, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { signToken } from '../../src/registry/index.js';
import { basic, getToken, pushImage, registryGet, spawnHub, tokenAccess, WebClient, type SpawnedHub } from './hub-harness.js';

const alice = { user: 'alice', password: 'alice-password-1' };
const bob = { user: 'bob', password: 'bob-password-12' };
let hub: SpawnedHub;

before(async () => {
  hub = await spawnHub(['--webhook-retry-delay', '50']);
  hub.createUser(alice.user, alice.password);
  hub.createUser(bob.user, bob.password);
});
after(async () => { await hub?.stop(); });

/** An error answer with the repository name taken out, to compare two answers. */
function shape(r: { status: number; body: string; headers: Headers }, name: string): string {
  const www = (r.headers.get('www-authenticate') ?? '').split(name).join('NAME');
  return `${r.status} ${www} ${r.body.split(name).join('NAME')}`;
}

test('the token flow: /v2/ challenges, the token endpoint signs what was granted', async () => {
  const r = await fetch(`${hub.url}/v2/`);
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), `Bearer realm="${hub.url}/token",service="berth-hub"`);
  const anon = await getToken(hub, []);
  assert.equal((await fetch(`${hub.url}/v2/`, { headers: { Authorization: `Bearer ${anon}` } })).status, 200);
  const bad = await fetch(`${hub.url}/token?service=berth-hub`, { headers: { Authorization: basic('alice', 'wrong-password') } });
  assert.equal(bad.status, 401);
  const t = await getToken(hub, ['repository:alice/app:pull,push'], alice);
  assert.deepEqual(tokenAccess(t), [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
  const claims = JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()) as { exp: number; iat: number; sub: string };
  assert.equal(claims.sub, 'alice');
  assert.ok(claims.exp - claims.iat <= 300, 'short-lived');
  // nobody else's namespace: bob asks for push on alice/app and gets nothing
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:alice/app:pull,push'], bob)), []);
});

test('a private repository answers anonymous users and other users exactly like a missing one', async () => {
  const img = await pushImage(hub, 'alice/secret', 'v1', alice);
  // Alice sees it
  const own = await registryGet(hub, '/v2/alice/secret/manifests/v1', 'repository:alice/secret:pull', alice);
  assert.equal(own.status, 200);
  for (const who of [undefined, bob]) {
    const probes: [string, string][] = [
      ['/v2/NAME/manifests/v1', 'pull'], ['/v2/NAME/tags/list', 'pull'], [`/v2/NAME/blobs/${img.layerDigest}`, 'pull'],
      [`/v2/NAME/manifests/${img.digest}`, 'pull'],
    ];
    for (const [p, action] of probes) {
      const priv = await registryGet(hub, p.replace('NAME', 'alice/secret'), `repository:alice/secret:${action}`, who);
      const none = await registryGet(hub, p.replace('NAME', 'alice/nothing-here'), `repository:alice/nothing-here:${action}`, who);
      assert.equal(priv.status, 401, `${p} as ${who?.user ?? 'anonymous'}`);
      assert.equal(shape(priv, 'alice/secret'), shape(none, 'alice/nothing-here'), `${p} as ${who?.user ?? 'anonymous'}`);
      assert.ok(!priv.body.includes(img.digest.slice(7, 20)));
    }
    // catalog and search do not list it
    const cat = await registryGet(hub, '/v2/_catalog', 'registry:catalog:*', who);
    assert.equal(cat.status, 200);
    assert.ok(!(JSON.parse(cat.body) as { repositories: string[] }).repositories.includes('alice/secret'));
    const s = await fetch(`${hub.url}/v1/search?q=secret`, { headers: who ? { Authorization: basic(who.user, who.password) } : {} });
    assert.equal((await s.json() as { num_results: number }).num_results, 0);
  }
  // a second user cannot push into it either: the same refusal as for a missing repository elsewhere
  await assert.rejects(pushImage(hub, 'alice/secret', 'evil', bob), (e: { status?: number }) => e.status === 401);
  await assert.rejects(pushImage(hub, 'alice/other', 'evil', bob), (e: { status?: number }) => e.status === 401);
  // ... and the owner's catalog lists it
  const mine = await registryGet(hub, '/v2/_catalog', 'registry:catalog:*', alice);
  assert.ok((JSON.parse(mine.body) as { repositories: string[] }).repositories.includes('alice/secret'));
});

test('after the owner adds a reader, their pull works and their push is still refused', async () => {
  await pushImage(hub, 'alice/shared', 'v1', alice);
  const before = await registryGet(hub, '/v2/alice/shared/manifests/v1', 'repository:alice/shared:pull', bob);
  assert.equal(before.status, 401);
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  const add = await web.post('/r/alice/shared/-/collaborators', { user: 'bob', role: 'read' }, { from: '/r/alice/shared/-/settings' });
  assert.equal(add.status, 303);
  const pulled = await registryGet(hub, '/v2/alice/shared/manifests/v1', 'repository:alice/shared:pull', bob);
  assert.equal(pulled.status, 200);
  const t = await getToken(hub, ['repository:alice/shared:pull,push'], bob);
  assert.deepEqual(tokenAccess(t), [{ type: 'repository', name: 'alice/shared', actions: ['pull'] }]);
  await assert.rejects(pushImage(hub, 'alice/shared', 'v2', bob), (e: { status?: number }) => e.status === 401);
  // removing bob takes effect at once, even for the token he already holds
  await web.post('/r/alice/shared/-/collaborators/remove', { user: 'bob' }, { from: '/r/alice/shared/-/settings' });
  const again = await fetch(`${hub.url}/v2/alice/shared/manifests/v1`, { headers: { Authorization: `Bearer ${await getToken(hub, ['repository:alice/shared:pull'], bob)}` } });
  assert.equal(again.status, 401);
  const old = await fetch(`${hub.url}/v2/alice/shared/manifests/v1`, { headers: { Authorization: `Bearer ${t}` } });
  assert.equal(old.status, 401, 'a token issued before the removal no longer works');
});

test('search finds public repositories only; visibility switches from the admin command while the Hub runs', async () => {
  await pushImage(hub, 'alice/searchable-public', 'v1', alice);
  await pushImage(hub, 'alice/searchable-private', 'v1', alice);
  hub.admin(['repo', 'visibility', 'alice/searchable-public', 'public']);
  const anon = await (await fetch(`${hub.url}/v1/search?q=searchable&n=10`)).json() as Record<string, unknown> & { results: { name: string }[] };
  assert.deepEqual(anon.results.map((r) => r.name), ['alice/searchable-public']);
  assert.deepEqual(Object.keys(anon).sort(), ['num_pages', 'num_results', 'page', 'page_size', 'query', 'results']);
  const r0 = anon.results[0] as Record<string, unknown>;
  for (const k of ['name', 'description', 'star_count', 'pull_count', 'is_official', 'is_automated']) assert.ok(k in r0, k);
  // the owner sees both
  const own = await (await fetch(`${hub.url}/v1/search?q=searchable`, { headers: { Authorization: basic(alice.user, alice.password) } })).json() as { results: { name: string }[] };
  assert.deepEqual(own.results.map((r) => r.name).sort(), ['alice/searchable-private', 'alice/searchable-public']);
  // anonymous pull of the public one works (and counts)
  const pulled = await registryGet(hub, '/v2/alice/searchable-public/manifests/v1', 'repository:alice/searchable-public:pull');
  assert.equal(pulled.status, 200);
  const again = await (await fetch(`${hub.url}/v1/search?q=searchable-public`)).json() as { results: { pull_count: number }[] };
  assert.equal(again.results[0].pull_count, 1);
  // paging
  const p2 = await (await fetch(`${hub.url}/v1/search?q=searchable&n=1&page=2`, { headers: { Authorization: basic(alice.user, alice.password) } })).json() as { page: number; num_pages: number; results: unknown[] };
  assert.equal(p2.page, 2);
  assert.equal(p2.num_pages, 2);
  assert.equal(p2.results.length, 1);
  // back to private: gone again for anonymous users
  hub.admin(['repo', 'visibility', 'alice/searchable-public', 'private']);
  assert.equal((await (await fetch(`${hub.url}/v1/search?q=searchable`)).json() as { num_results: number }).num_results, 0);
  assert.equal((await registryGet(hub, '/v2/alice/searchable-public/manifests/v1', 'repository:alice/searchable-public:pull')).status, 401);
});

test('access tokens work as passwords, limited to their scope; deleting tags needs delete scope', async () => {
  await pushImage(hub, 'alice/scoped', 'v1', alice);
  await pushImage(hub, 'alice/scoped', 'v2', alice);
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  const secrets: Record<string, string> = {};
  for (const scope of ['read', 'read-write', 'delete']) {
    const r = await web.post('/settings/tokens', { name: `t-${scope}`, scope }, { from: '/settings/tokens' });
    assert.equal(r.status, 200);
    secrets[scope] = /id="new-token">(bhp_[A-Za-z0-9_-]+)</.exec(r.body)![1];
  }
  const as = (scope: string) => ({ user: 'alice', password: secrets[scope] });
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:alice/scoped:pull,push,delete'], as('read')))[0].actions, ['pull']);
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:alice/scoped:pull,push,delete'], as('read-write')))[0].actions, ['pull', 'push']);
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:alice/scoped:pull,push,delete'], as('delete')))[0].actions, ['pull', 'push', 'delete']);
  await assert.rejects(pushImage(hub, 'alice/scoped', 'v3', as('read')), (e: { status?: number }) => e.status === 401);
  await pushImage(hub, 'alice/scoped', 'v3', as('read-write'));
  // a token is tied to its user
  await assert.rejects(getToken(hub, [], { user: 'bob', password: secrets.delete }), (e: { status?: number }) => e.status === 401);
  const delRw = await registryGet(hub, '/v2/alice/scoped/manifests/v1', 'repository:alice/scoped:delete', as('read-write'), 'DELETE');
  assert.equal(delRw.status, 401);
  const del = await registryGet(hub, '/v2/alice/scoped/manifests/v1', 'repository:alice/scoped:delete', as('delete'), 'DELETE');
  assert.equal(del.status, 202);
  const tags = await registryGet(hub, '/v2/alice/scoped/tags/list', 'repository:alice/scoped:pull', as('read'));
  assert.deepEqual((JSON.parse(tags.body) as { tags: string[] }).tags.sort(), ['v2', 'v3']);
  // revoked tokens stop working
  const page = await web.get('/settings/tokens');
  const id = /name="id" value="(\d+)"/.exec(page.body)![1];
  await web.post('/settings/tokens/delete', { id }, { from: '/settings/tokens' });
  const left = await web.get('/settings/tokens');
  assert.equal((left.body.match(/Revoke<\/button>/g) ?? []).length, 2);
});

test('expired, tampered and foreign tokens are refused', async () => {
  await pushImage(hub, 'alice/tokens', 'v1', alice);
  const db = new Database(join(hub.data, 'hub.db'), { readonly: true });
  const secret = Buffer.from((db.prepare("SELECT value FROM hub_settings WHERE key = 'token-key'").get() as { value: string }).value, 'base64');
  db.close();
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'berth-hub', sub: 'alice', aud: 'berth-hub', exp: now - 120, iat: now - 420, nbf: now - 420, access: [{ type: 'repository', name: 'alice/tokens', actions: ['pull'] }] };
  const get = (t: string) => fetch(`${hub.url}/v2/alice/tokens/manifests/v1`, { headers: { Authorization: `Bearer ${t}` } });
  const expired = await get(signToken(claims, { alg: 'HS256', secret }));
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get('www-authenticate')!, /error="invalid_token"/);
  assert.equal((await get(signToken({ ...claims, exp: now + 60 }, { alg: 'HS256', secret }))).status, 200, 'the same claims, unexpired, work');
  // tampered: bob's anonymous-ish token with the access list rewritten
  const real = await getToken(hub, ['repository:alice/tokens:pull'], bob);
  const [h, , s] = real.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'bob', exp: now + 60 })).toString('base64url')}.${s}`;
  assert.equal((await get(forged)).status, 401);
  assert.equal((await get(signToken({ ...claims, exp: now + 60 }, { alg: 'HS256', secret: 'not-the-key' }))).status, 401);
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, exp: now + 60 })).toString('base64url')}.`;
  assert.equal((await get(none)).status, 401);
  assert.equal((await get(signToken({ ...claims, exp: now + 60, aud: 'other-service' }, { alg: 'HS256', secret }))).status, 401);
});

test('bad input is answered and the Hub keeps running: broken escapes, non-object token parts, bad pagination, the token endpoint', async () => {
  const up = async () => assert.equal((await fetch(`${hub.url}/v2/`)).status, 401, 'the Hub still answers');
  // A broken %-escape in a manifest GET used to kill the process (the pull counter decoded it first).
  const broken = await fetch(`${hub.url}/v2/a%zz/manifests/latest`);
  assert.equal(broken.status, 400);
  assert.equal((await broken.json()).errors[0].code, 'NAME_INVALID');
  await up();
  // A token whose header or claims decode to JSON null is no token: 401, not a 500.
  for (const t of ['bnVsbA.e30.x', 'e30.bnVsbA.x']) {
    const r = await fetch(`${hub.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${t}` } });
    assert.equal(r.status, 401, t);
    assert.match(r.headers.get('www-authenticate')!, /error="invalid_token"/);
  }
  const anon = await getToken(hub, ['registry:catalog:*']);
  const catalog = (q: string) => fetch(`${hub.url}/v2/_catalog${q}`, { headers: { Authorization: `Bearer ${anon}` } });
  for (const q of ['?n=abc', '?n=-1', '?n=1.5']) assert.equal((await catalog(q)).status, 400, q);
  const zero = await catalog('?n=0');
  assert.equal(zero.status, 200);
  assert.deepEqual((await zero.json()).repositories, []);
  // The token endpoint: GET only (OAuth clients fall back to it on 405); unreadable Basic credentials are not anonymity.
  const post = await fetch(`${hub.url}/token?service=berth-hub`, { method: 'POST', body: 'grant_type=password' });
  assert.equal(post.status, 405);
  const malformed = await fetch(`${hub.url}/token?service=berth-hub`, { headers: { Authorization: 'Basic !!!' } });
  assert.equal(malformed.status, 400);
  await up();
  // An image config is what its pusher wrote: a history that is not text must not break the repository page.
  for (const [tag, history] of [['odd', [{ created_by: 12345 }, null, 'x']], ['odder', { not: 'a list' }]] as const) await pushImage(hub, 'alice/oddhistory', tag, alice, 'odd', history);
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  const page = await web.get('/r/alice/oddhistory');
  assert.equal(page.status, 200);
  assert.match(page.body, /odder/);
  await up();
});

test('repository names are validated against the distribution grammar', async () => {
  for (const bad of ['Alice/App', 'alice/.hidden', 'alice/a..b', 'alice/app-', 'alice//app', 'alice/a%2F..%2Fb']) {
    const r = await fetch(`${hub.url}/v2/${bad}/manifests/latest`, { headers: { Authorization: `Bearer ${await getToken(hub, [], alice)}` } });
    assert.ok([400, 404].includes(r.status), `${bad}: ${r.status}`);
    const body = await r.text();
    assert.match(body, /NAME_INVALID|NAME_UNKNOWN|UNSUPPORTED/, bad);
  }
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:alice/../bob/x:pull,push'], alice)), []);
  assert.deepEqual(tokenAccess(await getToken(hub, ['repository:toplevel:pull,push'], alice)), [], 'repositories live in a namespace');
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  const r = await web.post('/new', { namespace: 'alice', name: 'Bad Name!', visibility: 'public' }, { from: '/new' });
  assert.equal(r.status, 400);
  const ok = await web.post('/new', { namespace: 'alice', name: 'good-name', visibility: 'public' }, { from: '/new' });
  assert.equal(ok.status, 303);
  const elsewhere = await web.post('/new', { namespace: 'bob', name: 'mine', visibility: 'public' }, { from: '/new' });
  assert.equal(elsewhere.status, 403);
});

test('webhooks: a POST in Docker Hub\'s shape per push, retried with back-off, logged on the settings page', async () => {
  const got: { body: Record<string, unknown>; at: number }[] = [];
  let failFirst = 2;
  const receiver: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => { b += c.toString(); });
    req.on('end', () => {
      got.push({ body: JSON.parse(b) as Record<string, unknown>, at: Date.now() });
      res.writeHead(failFirst-- > 0 ? 500 : 200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const port = (receiver.address() as { port: number }).port;
    await pushImage(hub, 'alice/hooked', 'v1', alice);
    const web = new WebClient(hub);
    await web.login(alice.user, alice.password);
    const add = await web.post('/r/alice/hooked/-/webhooks', { name: 'ci', url: `http://127.0.0.1:${port}/hook` }, { from: '/r/alice/hooked/-/settings' });
    assert.equal(add.status, 303);
    await pushImage(hub, 'alice/hooked', 'v2', alice);
    const deadline = Date.now() + 10_000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 3, 'two failures, then delivered');
    assert.ok(got[2].at - got[1].at >= got[1].at - got[0].at - 5, 'back-off grows');
    const p = got[2].body as { push_data: { tag: string; pusher: string }; repository: { repo_name: string; namespace: string; name: string; is_private: boolean }; callback_url: string };
    assert.equal(p.push_data.tag, 'v2');
    assert.equal(p.push_data.pusher, 'alice');
    assert.equal(p.repository.repo_name, 'alice/hooked');
    assert.equal(p.repository.namespace, 'alice');
    assert.equal(p.repository.name, 'hooked');
    assert.equal(p.repository.is_private, true);
    assert.match(p.callback_url, /^http:\/\//);
    const settings = await web.get('/r/alice/hooked/-/settings');
    assert.match(settings.body, /id="deliveries"/);
    assert.equal((settings.body.match(/>retrying</g) ?? []).length, 2);
    assert.equal((settings.body.match(/>ok</g) ?? []).length, 1);
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

const hasSkopeo = spawnSync('skopeo', ['--version']).status === 0;
test('skopeo (a real client) logs in through the token flow, pushes and pulls; anonymous pull of a private image fails like a missing one', { skip: !hasSkopeo && 'skopeo not installed' }, async () => {
  const layout = join(hub.data, 'oci-src');
  const src = await pushImage(hub, 'alice/skopeo-src', 'v1', alice);
  const sk = (...args: string[]): { status: number | null; stderr: string; stdout: string } => {
    const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  };
  const c = `--src-creds=${alice.user}:${alice.password}`;
  let r = sk('copy', '--src-tls-verify=false', c, `docker://${hub.address}/alice/skopeo-src:v1`, `oci:${layout}:v1`);
  assert.equal(r.status, 0, r.stderr);
  r = sk('copy', '--dest-tls-verify=false', `--dest-creds=${alice.user}:${alice.password}`, `oci:${layout}:v1`, `docker://${hub.address}/alice/skopeo-dst:v1`);
  assert.equal(r.status, 0, r.stderr);
  const inspect = sk('inspect', '--raw', '--tls-verify=false', `--creds=${alice.user}:${alice.password}`, `docker://${hub.address}/alice/skopeo-dst:v1`);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.ok(src.digest.startsWith('sha256:'));
  const anonPriv = sk('inspect', '--raw', '--tls-verify=false', `docker://${hub.address}/alice/skopeo-dst:v1`);
  const anonNone = sk('inspect', '--raw', '--tls-verify=false', `docker://${hub.address}/alice/does-not-exist:v1`);
  assert.notEqual(anonPriv.status, 0);
  assert.equal(anonPriv.stderr.split('skopeo-dst').join('X').replace(/time="[^"]+"/g, ''), anonNone.stderr.split('does-not-exist').join('X').replace(/time="[^"]+"/g, ''));
  void execFileSync;
});
