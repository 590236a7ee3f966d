import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { covers, parseScope, formatScope, signToken, verifyToken, type TokenClaims, type TokenKey } from '../../src/registry/index.js';

const now = Math.floor(Date.now() / 1000);
const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
  iss: 'issuer', sub: 'alice', aud: 'registry', exp: now + 300, nbf: now - 1, iat: now,
  access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }], ...over,
});
const expect = { issuer: 'issuer', service: 'registry' };

test('HS256 tokens verify, and tampering, expiry, wrong audience or issuer fail', () => {
  const key: TokenKey = { alg: 'HS256', secret: 's3cret' };
  const t = signToken(claims(), key);
  assert.equal(verifyToken(t, key, expect)?.sub, 'alice');
  assert.equal(verifyToken(t, { alg: 'HS256', secret: 'other' }, expect), undefined);
  const [h, p, s] = t.split('.');
  const forged = Buffer.from(JSON.stringify({ ...claims(), sub: 'mallory' })).toString('base64url');
  assert.equal(verifyToken(`${h}.${forged}.${s}`, key, expect), undefined);
  assert.equal(verifyToken(`${h}.${p}`, key, expect), undefined);
  assert.equal(verifyToken(signToken(claims({ exp: now - 3600 }), key), key, expect), undefined);
  assert.equal(verifyToken(signToken(claims({ nbf: now + 3600 }), key), key, expect), undefined);
  assert.equal(verifyToken(signToken(claims({ aud: 'elsewhere' }), key), key, expect), undefined);
  assert.equal(verifyToken(signToken(claims({ iss: 'someone' }), key), key, expect), undefined);
});

test('ES256 tokens verify with the public key; the token cannot pick another algorithm', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer: TokenKey = { alg: 'ES256', privateKey };
  const verifier: TokenKey = { alg: 'ES256', publicKey };
  const t = signToken(claims(), signer);
  assert.deepEqual(verifyToken(t, verifier, expect)?.access, claims().access);
  // An HS256 token "signed" with the public key's PEM must not pass an ES256 verifier.
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.equal(verifyToken(signToken(claims(), { alg: 'HS256', secret: pem }), verifier, expect), undefined);
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${t.split('.')[1]}.`;
  assert.equal(verifyToken(none, verifier, expect), undefined);
});

test('scopes parse and granted access covers requests action by action', () => {
  assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.equal(parseScope('nonsense'), undefined);
  assert.equal(formatScope({ type: 'repository', name: 'a/b', actions: ['pull'] }), 'repository:a/b:pull');
  const granted = [{ type: 'repository', name: 'team/app', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }];
  assert.equal(covers(granted, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]), true);
  assert.equal(covers(granted, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]), false);
  assert.equal(covers(granted, [{ type: 'repository', name: 'team/other', actions: ['pull'] }]), false);
  assert.equal(covers(granted, [{ type: 'registry', name: 'catalog', actions: ['*'] }]), true);
  assert.equal(covers(granted, []), true);
});
