import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubStore, type User } from '../../src/hub/db.js';
import { allowedActions, grant, LoginLimiter } from '../../src/hub/access.js';
import { hashPassword, verifyPassword } from '../../src/hub/passwords.js';

let dir: string;
let store: HubStore;
let ann: User; let ben: User; let root: User;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-hub-unit-'));
  store = new HubStore(join(dir, 'hub.db'));
  ann = await store.createUser('ann', 'ann-password');
  ben = await store.createUser('ben', 'ben-password');
  root = await store.createUser('root', 'root-password', true);
});
after(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });

test('scrypt password hashes verify only the right password and are salted', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^scrypt\$\d+\$8\$1\$/);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horsE', a), false);
  assert.equal(await verifyPassword('x', 'garbage'), false);
});

test('permissions: namespace owners, public pulls, collaborators, org roles, admins', () => {
  store.ensureRepo('ann/priv', 'private');
  store.ensureRepo('ann/pub', 'public');
  assert.deepEqual(allowedActions(store, ann, 'ann/priv').sort(), ['delete', 'pull', 'push']);
  assert.deepEqual(allowedActions(store, ann, 'ann/not-yet').sort(), ['delete', 'pull', 'push'], 'push creates');
  assert.deepEqual(allowedActions(store, undefined, 'ann/priv'), []);
  assert.deepEqual(allowedActions(store, ben, 'ann/priv'), []);
  assert.deepEqual(allowedActions(store, undefined, 'ann/pub'), ['pull']);
  assert.deepEqual(allowedActions(store, ben, 'ann/pub'), ['pull']);
  assert.deepEqual(allowedActions(store, root, 'ann/priv').sort(), ['delete', 'pull', 'push']);
  store.setCollaborator('ann/priv', 'ben', 'write');
  assert.deepEqual(allowedActions(store, ben, 'ann/priv').sort(), ['pull', 'push']);
  store.createOrg('crew', ann);
  store.setMember('crew', 'ben', 'read');
  assert.deepEqual(allowedActions(store, ben, 'crew/tool'), ['pull']);
  assert.deepEqual(allowedActions(store, ann, 'crew/tool').sort(), ['delete', 'pull', 'push']);
  assert.deepEqual(allowedActions(store, ann, 'Ann/Bad'), []);
  assert.deepEqual(allowedActions(store, ann, 'toplevel'), []);
});

test('grants are the intersection of permissions and the credential scope', () => {
  const req = [{ type: 'repository', name: 'ann/priv', actions: ['pull', 'push', 'delete'] }];
  assert.deepEqual(grant(store, ann, 'password', req)[0].actions, ['pull', 'push', 'delete']);
  assert.deepEqual(grant(store, ann, 'read', req)[0].actions, ['pull']);
  assert.deepEqual(grant(store, ann, 'read-write', req)[0].actions, ['pull', 'push']);
  assert.deepEqual(grant(store, undefined, undefined, req), []);
  assert.deepEqual(grant(store, undefined, undefined, [{ type: 'registry', name: 'catalog', actions: ['*'] }]), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
});

test('login limiter: locks a user name after N failures, an address after 4N', () => {
  const l = new LoginLimiter(3, 60_000);
  for (let i = 0; i < 3; i++) { assert.equal(l.retryAfter('1.1.1.1', 'u'), 0); l.failed('1.1.1.1', 'u'); }
  assert.ok(l.retryAfter('1.1.1.1', 'u') > 0);
  assert.ok(l.retryAfter('2.2.2.2', 'u') > 0, 'the user name is locked from anywhere');
  assert.equal(l.retryAfter('1.1.1.1', 'other'), 0);
  for (let i = 0; i < 9; i++) l.failed('1.1.1.1', `x${i}`);
  assert.ok(l.retryAfter('1.1.1.1', 'fresh') > 0, 'the address is locked after many names');
});

test('access tokens: only the hash is stored; revoked tokens stop working', () => {
  const { token, secret } = store.createToken(ann.id, 'ci', 'read');
  assert.match(secret, /^bhp_/);
  const row = store.db.prepare('SELECT hash FROM hub_tokens WHERE id = ?').get(token.id) as { hash: string };
  assert.notEqual(row.hash, secret);
  assert.equal(store.useToken(secret)?.user.name, 'ann');
  assert.equal(store.deleteToken(ben.id, token.id), false, 'not by another user');
  assert.equal(store.deleteToken(ann.id, token.id), true);
  assert.equal(store.useToken(secret), undefined);
});
