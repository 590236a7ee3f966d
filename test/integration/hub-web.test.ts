/**
 * The Hub's web interface over HTTP, as an attacker would poke at it: session cookie flags,
 * CSRF on every state-changing form, login rate limiting (web and token endpoint), HTML and
 * Markdown injection in descriptions, and private repositories' pages answering like missing ones.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { basic, pushImage, spawnHub, WebClient, type SpawnedHub } from './hub-harness.js';

const alice = { user: 'alice', password: 'alice-password-1' };
let hub: SpawnedHub;

before(async () => {
  hub = await spawnHub(['--allow-signup']);
  hub.createUser(alice.user, alice.password);
  hub.createUser('mallory', 'mallory-password');
  hub.createUser('victim', 'victim-password');
});
after(async () => { await hub?.stop(); });

test('the session cookie is HttpOnly and SameSite; pages carry a strict CSP', async () => {
  const web = new WebClient(hub);
  const r = await web.post('/login', { username: alice.user, password: alice.password }, { from: '/login' });
  assert.equal(r.status, 303);
  const session = web.lastSetCookies.find((c) => c.startsWith('hub_session='));
  assert.ok(session, 'a session cookie');
  assert.match(session, /; HttpOnly/);
  assert.match(session, /; SameSite=(Lax|Strict)/);
  assert.match(session, /; Path=\//);
  assert.doesNotMatch(session, /Secure/, 'not Secure over plain HTTP (it would never be sent back)');
  const home = await web.get('/');
  assert.match(home.body, />alice</);
  const csp = home.headers.get('content-security-policy')!;
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(home.headers.get('x-content-type-options'), 'nosniff');
  // signing out ends the session on the server, not only in the browser
  const sid = web.cookies.get('hub_session')!;
  await web.post('/logout', {}, { from: '/' });
  const replay = await fetch(`${hub.url}/settings/tokens`, { headers: { Cookie: `hub_session=${sid}` }, redirect: 'manual' });
  assert.equal(replay.status, 303);
  assert.match(replay.headers.get('location')!, /^\/login/);
});

test('every state-changing form refuses a missing, wrong or cross-site CSRF token', async () => {
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  await pushImage(hub, 'alice/csrf', 'v1', alice);
  const other = new WebClient(hub);
  await other.login('mallory', 'mallory-password');
  const mallorysToken = WebClient.csrf((await other.get('/settings/tokens')).body);
  const forms: [string, Record<string, string>][] = [
    ['/new', { namespace: 'alice', name: 'x', visibility: 'public' }],
    ['/settings/tokens', { name: 'x', scope: 'delete' }],
    ['/settings/tokens/delete', { id: '1' }],
    ['/orgs', { name: 'someorg' }],
    ['/r/alice/csrf/-/visibility', { visibility: 'public' }],
    ['/r/alice/csrf/-/description', { description: 'x' }],
    ['/r/alice/csrf/-/delete-tag', { tag: 'v1' }],
    ['/r/alice/csrf/-/collaborators', { user: 'mallory', role: 'owner' }],
    ['/r/alice/csrf/-/webhooks', { url: 'http://127.0.0.1:9/x' }],
    ['/r/alice/csrf/-/star', { star: '1' }],
    ['/logout', {}],
  ];
  for (const [path, fields] of forms) {
    for (const csrf of [false, 'forged', mallorysToken] as const) {
      const r = await web.post(path, fields, { csrf });
      assert.equal(r.status, 403, `${path} with ${csrf === false ? 'no' : csrf === 'forged' ? 'a forged' : "another user's"} token`);
    }
  }
  // the right token from a foreign origin is refused too
  const good = WebClient.csrf((await web.get('/r/alice/csrf/-/settings')).body);
  assert.equal((await web.post('/r/alice/csrf/-/visibility', { visibility: 'public' }, { csrf: good, origin: 'http://evil.example' })).status, 403);
  // nothing changed; the real form works
  const page = await web.get('/r/alice/csrf/-/settings');
  assert.match(page.body, /id="visibility">private</);
  assert.equal((await web.post('/r/alice/csrf/-/visibility', { visibility: 'public' }, { csrf: good, origin: hub.url })).status, 303);
  assert.match((await web.get('/r/alice/csrf/-/settings')).body, /id="visibility">public</);
  // the sign-in form is protected as well (login CSRF)
  const anon = new WebClient(hub);
  assert.equal((await anon.post('/login', { username: alice.user, password: alice.password }, { csrf: false })).status, 403);
});

test('HTML and Markdown injection in a description is neutralised', async () => {
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  await web.post('/new', { namespace: 'alice', name: 'inject', visibility: 'public' }, { from: '/new' });
  const evil = [
    '# Title <img src=x onerror=alert(1)>',
    '<script>alert("x")</script>',
    '[click](javascript:alert(1)) [data](data:text/html,<script>alert(1)</script>) [ok](https://example.com/a?b=1&c="2")',
    '**bold** `<b>code</b>` "><svg onload=alert(1)>',
    '```', '</code></pre><script>alert(2)</script>', '```',
  ].join('\n\n');
  assert.equal((await web.post('/r/alice/inject/-/description', { description: evil }, { from: '/r/alice/inject/-/settings' })).status, 303);
  const page = (await new WebClient(hub).get('/r/alice/inject')).body;
  const overview = page.slice(page.indexOf('<h2 class="mt0">Overview</h2>'));
  assert.doesNotMatch(overview, /<script/i);
  assert.doesNotMatch(overview, /<img/i);
  assert.doesNotMatch(overview, /<svg/i);
  assert.doesNotMatch(overview, /href="(javascript|data):/i);
  assert.match(overview, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(overview, /<strong>bold<\/strong>/);
  assert.match(overview, /<code>&lt;b&gt;code&lt;\/b&gt;<\/code>/);
  assert.match(overview, /<a href="https:\/\/example.com\/a\?b=1&amp;c=&quot;2&quot;" rel="nofollow noopener noreferrer">ok<\/a>/);
  assert.match(overview, /<h2>Title &lt;img/);
  // the same text in other places (repository list, search) is escaped too
  const search = (await new WebClient(hub).get('/search?q=inject')).body;
  assert.doesNotMatch(search, /<img src=x/);
  // a search query is reflected escaped
  const q = (await new WebClient(hub).get('/search?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E')).body;
  assert.doesNotMatch(q, /<script>alert/);
});

test('a private repository\'s pages answer anonymous and other users exactly like a missing repository', async () => {
  await pushImage(hub, 'alice/hidden', 'v1', alice);
  for (const who of [undefined, 'mallory']) {
    const web = new WebClient(hub);
    if (who) await web.login(who, `${who}-password`);
    for (const sub of ['', '/-/settings']) {
      const a = await web.get(`/r/alice/hidden${sub}`);
      const b = await web.get(`/r/alice/no-such-repo${sub}`);
      assert.equal(a.status, 404);
      assert.equal(a.body.replace(/name="_csrf" value="[^"]+"/g, ''), b.body.replace(/name="_csrf" value="[^"]+"/g, ''), `${who ?? 'anonymous'} ${sub}`);
    }
    const ns = await web.get('/u/alice');
    assert.doesNotMatch(ns.body, /alice\/hidden/);
    assert.doesNotMatch((await web.get('/search?q=hidden')).body, /alice\/hidden/);
    assert.doesNotMatch((await web.get('/')).body, /alice\/hidden/);
    // posting to it is a 404 as well, never a 403 that would confirm it exists
    const csrf = WebClient.csrf((await web.get('/')).body.includes('_csrf') ? (await web.get('/')).body : (await web.get('/login')).body);
    const r = await web.post('/r/alice/hidden/-/star', { star: '1' }, { csrf });
    assert.equal(r.status, 404);
  }
  const owner = new WebClient(hub);
  await owner.login(alice.user, alice.password);
  const page = await owner.get('/r/alice/hidden');
  assert.equal(page.status, 200);
  assert.match(page.body, /docker pull 127\.0\.0\.1:\d+\/alice\/hidden:v1/);
  assert.match(page.body, /linux\/amd64/);
});

test('sign-in is rate limited, on the web form and on the token endpoint, even for the right password', async () => {
  const web = new WebClient(hub);
  for (let i = 0; i < 5; i++) {
    const r = await web.post('/login', { username: 'victim', password: `wrong-${i}` }, { from: '/login' });
    assert.equal(r.status, 401);
  }
  const locked = await web.post('/login', { username: 'victim', password: 'victim-password' }, { from: '/login' });
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
  assert.match(locked.body, /Too many failed sign-in attempts/);
  const token = await fetch(`${hub.url}/token?service=berth-hub`, { headers: { Authorization: basic('victim', 'victim-password') } });
  assert.equal(token.status, 429);
  // other accounts are not locked out by it
  const ok = await fetch(`${hub.url}/token?service=berth-hub`, { headers: { Authorization: basic(alice.user, alice.password) } });
  assert.equal(ok.status, 200);
});

test('sign-up (when the operator allows it) creates an account and its namespace', async () => {
  const web = new WebClient(hub);
  const taken = await web.post('/signup', { username: 'alice', password: 'whatever-123' }, { from: '/signup' });
  assert.equal(taken.status, 409);
  const weak = await web.post('/signup', { username: 'newbie', password: 'short' }, { from: '/signup' });
  assert.equal(weak.status, 400);
  const bad = await web.post('/signup', { username: '<b>x</b>', password: 'long-enough-1' }, { from: '/signup' });
  assert.equal(bad.status, 400);
  const r = await web.post('/signup', { username: 'newbie', password: 'long-enough-1' }, { from: '/signup' });
  assert.equal(r.status, 303);
  assert.match((await web.get('/')).body, />newbie</);
  await pushImage(hub, 'newbie/first', 'v1', { user: 'newbie', password: 'long-enough-1' });
});

test('organisations: owners manage members; members push per their role', async () => {
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  assert.equal((await web.post('/orgs', { name: 'team' }, { from: '/orgs' })).status, 303);
  assert.equal((await web.post('/orgs/team/members', { user: 'mallory', role: 'read' }, { from: '/orgs/team' })).status, 303);
  await pushImage(hub, 'team/app', 'v1', alice);
  const mallory = { user: 'mallory', password: 'mallory-password' };
  await assert.rejects(pushImage(hub, 'team/app', 'v2', mallory), (e: { status?: number }) => e.status === 401);
  await web.post('/orgs/team/members', { user: 'mallory', role: 'write' }, { from: '/orgs/team' });
  await pushImage(hub, 'team/app', 'v2', mallory);
  const members = await web.get('/orgs/team');
  assert.match(members.body, /<td>mallory<\/td><td>write<\/td>/);
  // a non-owner cannot manage members
  const m = new WebClient(hub);
  await m.login('mallory', 'mallory-password');
  assert.equal((await m.post('/orgs/team/members', { user: 'mallory', role: 'owner' }, { from: '/orgs/team' })).status, 404);
});

test('tags are deleted from the repository page by owners only', async () => {
  await pushImage(hub, 'alice/tagged', 'keep', alice);
  await pushImage(hub, 'alice/tagged', 'drop', alice);
  const owner = new WebClient(hub);
  await owner.login(alice.user, alice.password);
  await owner.post('/r/alice/tagged/-/collaborators', { user: 'mallory', role: 'write' }, { from: '/r/alice/tagged/-/settings' });
  const writer = new WebClient(hub);
  await writer.login('mallory', 'mallory-password');
  const seen = await writer.get('/r/alice/tagged');
  assert.equal(seen.status, 200);
  assert.doesNotMatch(seen.body, /delete-tag/, 'no delete buttons for a writer');
  assert.equal((await writer.post('/r/alice/tagged/-/delete-tag', { tag: 'drop' }, { from: '/r/alice/tagged' })).status, 403);
  assert.equal((await writer.get('/r/alice/tagged/-/settings')).status, 404, 'settings are for owners');
  const page = await owner.get('/r/alice/tagged');
  assert.match(page.body, /action="\/r\/alice\/tagged\/-\/delete-tag"/);
  const r = await owner.post('/r/alice/tagged/-/delete-tag', { tag: 'drop' }, { from: '/r/alice/tagged' });
  assert.equal(r.status, 303);
  const after = await owner.get('/r/alice/tagged');
  assert.match(after.body, /<strong>keep<\/strong>/);
  assert.doesNotMatch(after.body, /<strong>drop<\/strong>/);
  assert.equal((await owner.post('/r/alice/tagged/-/delete-tag', { tag: 'drop' }, { from: '/r/alice/tagged' })).status, 404);
});
