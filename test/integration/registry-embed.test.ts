/**
 * The registry as a library, as the Hub will use it: startRegistry in-process with a custom
 * Authorizer, and a token endpoint whose grant policy decides per user and repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import {
  parseBasicAuth, startRegistry, type Access, type AuthDecision, type Authorizer, type GrantPolicy, type RegistryEvent,
} from '../../src/registry/index.js';
import { errorCodes, pushBlob, pushImage, tempDir } from './registry-harness.js';

const basic = (u: string, p: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

test('a custom Authorizer: anonymous pull, DENIED for pushes outside your namespace', async () => {
  const seen: Access[][] = [];
  const authorizer: Authorizer = {
    async authorize(req: IncomingMessage, access: Access[]): Promise<AuthDecision> {
      seen.push(access);
      const creds = parseBasicAuth(req.headers.authorization);
      const writes = access.some((a) => a.actions.some((x) => x !== 'pull'));
      if (!writes) return { ok: true };
      if (!creds || creds.password !== 'pw') return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'log in to push', challenge: 'Basic realm="hub"' };
      if (access.every((a) => a.type === 'repository' && a.name.startsWith(`${creds.user}/`))) return { ok: true, subject: creds.user };
      return { ok: false, status: 403, code: 'DENIED', message: 'requested access to the resource is denied' };
    },
  };
  const storageDir = tempDir();
  const events: RegistryEvent[] = [];
  const reg = await startRegistry({ storageDir, authorizer, onEvent: (e) => events.push(e) });
  try {
    const img = await pushImage(reg.url, 'alice/app', '1', [Buffer.from('layer')], basic('alice', 'pw'));
    assert.deepEqual(events, [{ action: 'push', repository: 'alice/app', digest: img.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', tag: '1', actor: 'alice' }]);
    const anonPull = await fetch(`${reg.url}/v2/alice/app/manifests/1`);
    assert.equal(anonPull.headers.get('docker-content-digest'), img.digest);
    await anonPull.arrayBuffer();
    const anonPush = await fetch(`${reg.url}/v2/alice/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(anonPush.status, 401);
    assert.equal(anonPush.headers.get('www-authenticate'), 'Basic realm="hub"');
    await anonPush.arrayBuffer();
    const foreign = await fetch(`${reg.url}/v2/alice/app/blobs/uploads/`, { method: 'POST', headers: basic('bob', 'pw') });
    assert.equal(foreign.status, 403);
    assert.deepEqual(await errorCodes(foreign), ['DENIED']);
    const del = await fetch(`${reg.url}/v2/alice/app/manifests/1`, { method: 'DELETE', headers: basic('bob', 'pw') });
    assert.equal(del.status, 403);
    await del.arrayBuffer();
    assert.ok(seen.some((a) => a.length === 1 && a[0].name === 'alice/app' && a[0].actions.includes('delete')));
    assert.equal((await fetch(`${reg.url}/v2/alice/app/manifests/1`, { method: 'DELETE', headers: basic('alice', 'pw') })).status, 202);
    assert.deepEqual(events.at(-1), { action: 'delete', repository: 'alice/app', digest: img.digest, tag: '1', actor: 'alice' });
    // mounting needs pull on the source too: bob may mount alice's public blob into his namespace
    const mount = await fetch(`${reg.url}/v2/bob/copy/blobs/uploads/?mount=${img.layers[0]}&from=alice/app`, { method: 'POST', headers: basic('bob', 'pw') });
    assert.equal(mount.status, 201);
  } finally {
    await reg.close();
    rmSync(storageDir, { recursive: true, force: true });
  }
});

test('an in-process token realm with a grant policy per user and repository', async () => {
  const users: Record<string, string> = { alice: 'a-pass', guest: 'g-pass' };
  const policy: GrantPolicy = (user, requested) => requested
    .filter((a) => a.type === 'repository')
    .map((a) => ({ ...a, actions: a.actions.filter((x) => x === 'pull' || user === 'alice') }));
  const storageDir = tempDir();
  const reg = await startRegistry({
    storageDir,
    token: {
      service: 'hub', issuer: 'hub-test', key: { alg: 'HS256', secret: 'k' },
      issue: { checkPassword: async (u, p) => users[u] === p, policy, ttlSec: 60 },
    },
  });
  try {
    const token = async (user: string, scope: string): Promise<string> => {
      const r = await fetch(`${reg.url}/token?service=hub&scope=${encodeURIComponent(scope)}`, { headers: basic(user, users[user]) });
      assert.equal(r.status, 200);
      return ((await r.json()) as { token: string }).token;
    };
    const alice = await token('alice', 'repository:lib/app:pull,push');
    await pushBlob(reg.url, 'lib/app', Buffer.from('from alice'), { Authorization: `Bearer ${alice}` });
    const guest = await token('guest', 'repository:lib/app:pull,push');
    const r = await fetch(`${reg.url}/v2/lib/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${guest}` } });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    await r.arrayBuffer();
    const tags = await fetch(`${reg.url}/v2/lib/app/tags/list`, { headers: { Authorization: `Bearer ${guest}` } });
    assert.equal(tags.status, 200, 'guest may pull');
    await tags.arrayBuffer();
  } finally {
    await reg.close();
    rmSync(storageDir, { recursive: true, force: true });
  }
});
