/**
 * End to end with the real docker CLI through berthd against berth Hub: login with a password and
 * with an access token, push to a private repository, anonymous and other-user pulls failing
 * exactly like a missing repository, a reader who can pull but not push, and `docker search`
 * finding public repositories only.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { spawnHub, WebClient, type SpawnedHub } from './hub-harness.js';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

const isRoot = process.getuid?.() === 0;
const hasDocker = spawnSync('docker', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (berthd)' : !hasDocker ? 'docker CLI missing' : false;
const alice = { user: 'alice', password: 'alice-password-1' };
const bob = { user: 'bob', password: 'bob-password-12' };
let hub: SpawnedHub;
let d: Berthd;

before(async () => {
  if (skip) return;
  hub = await spawnHub();
  hub.createUser(alice.user, alice.password);
  hub.createUser(bob.user, bob.password);
  d = await startBerthd();
  importBusybox(d, 'busybox:latest');
});
after(async () => {
  await d?.cleanup();
  await hub?.stop();
});

function docker(args: string[], input?: string): { status: number | null; out: string; err: string } {
  const r = d.docker(args, { input, timeout: 120_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
function ok(args: string[], input?: string): string {
  const r = docker(args, input);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}
const login = (who: { user: string; password: string }): string => ok(['login', hub.address, '-u', who.user, '--password-stdin'], who.password);

test('docker login, push to a private repository, pulls by others fail like a missing repository, a reader pulls but cannot push, search finds public only', { skip }, async (t) => {
  const H = hub.address;
  // a wrong password is refused
  const bad = docker(['login', H, '-u', 'alice', '--password-stdin'], 'wrong-password');
  assert.notEqual(bad.status, 0);
  assert.match(login(alice), /Login Succeeded/);
  ok(['tag', 'busybox:latest', `${H}/alice/box:1`]);
  ok(['push', `${H}/alice/box:1`]);
  ok(['tag', 'busybox:latest', `${H}/alice/pubbox:1`]);
  ok(['push', `${H}/alice/pubbox:1`]);
  hub.admin(['repo', 'visibility', 'alice/pubbox', 'public']);
  ok(['rmi', `${H}/alice/box:1`]);
  ok(['pull', `${H}/alice/box:1`]);
  ok(['rmi', `${H}/alice/box:1`]);
  ok(['logout', H]);

  // anonymous: the private repository fails exactly like one that does not exist
  const norm = (s: string, name: string): string => s.split(name).join('NAME');
  const anonPriv = docker(['pull', `${H}/alice/box:1`]);
  const anonNone = docker(['pull', `${H}/alice/nothing:1`]);
  assert.notEqual(anonPriv.status, 0);
  assert.equal(norm(anonPriv.err, 'alice/box'), norm(anonNone.err, 'alice/nothing'));
  t.diagnostic(`anonymous pull of a private repository: ${anonPriv.err.trim()}`);
  // the public one pulls anonymously
  ok(['pull', `${H}/alice/pubbox:1`]);

  // a second user without access: the same
  login(bob);
  const bobPriv = docker(['pull', `${H}/alice/box:1`]);
  const bobNone = docker(['pull', `${H}/alice/nothing:1`]);
  assert.notEqual(bobPriv.status, 0);
  assert.equal(norm(bobPriv.err, 'alice/box'), norm(bobNone.err, 'alice/nothing'));

  // the owner adds bob as a reader: pull works, push is refused
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  assert.equal((await web.post('/r/alice/box/-/collaborators', { user: 'bob', role: 'read' }, { from: '/r/alice/box/-/settings' })).status, 303);
  ok(['pull', `${H}/alice/box:1`]);
  ok(['tag', 'busybox:latest', `${H}/alice/box:bob`]);
  const push = docker(['push', `${H}/alice/box:bob`]);
  assert.notEqual(push.status, 0, 'a reader cannot push');
  t.diagnostic(`a reader's push: ${push.err.trim()}`);

  // docker search: public repositories only (bob is a reader of alice/box, so search anonymously)
  ok(['logout', H]);
  const search = ok(['search', `${H}/box`]);
  assert.match(search, /alice\/pubbox/);
  assert.doesNotMatch(search, /alice\/box\b/);

  // login with an access token, and push with it
  const page = await web.post('/settings/tokens', { name: 'docker', scope: 'read-write' }, { from: '/settings/tokens' });
  const secret = /id="new-token">(bhp_[A-Za-z0-9_-]+)</.exec(page.body)![1];
  assert.match(login({ user: 'alice', password: secret }), /Login Succeeded/);
  ok(['tag', 'busybox:latest', `${H}/alice/box:2`]);
  ok(['push', `${H}/alice/box:2`]);
  ok(['logout', H]);
});
