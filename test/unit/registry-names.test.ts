import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isValidRepositoryName, isValidTag, parseDigest, parseReference, validateRepositoryName, RegistryError,
} from '../../src/registry/index.js';

test('repository names follow the distribution grammar', () => {
  for (const ok of ['busybox', 'library/busybox', 'team/app', 'a/b/c/d', 'my-app', 'my--app', 'my_app', 'my__app', 'my.app', 'a1/b2.c3', '0']) {
    assert.equal(isValidRepositoryName(ok), true, ok);
  }
  for (const bad of ['', 'UPPER', 'a/', '/a', 'a//b', '..', '../etc', 'a/../b', 'a/./b', '.a', 'a.', '-a', 'a-', '_a', 'a___b', 'a b',
    'a:b', 'a%2fb', 'a\0b', 'a\\b', 'x'.repeat(256), 'a/_manifests']) {
    assert.equal(isValidRepositoryName(bad), false, JSON.stringify(bad));
  }
  assert.throws(() => validateRepositoryName('../../etc'), (e: unknown) => e instanceof RegistryError && e.code === 'NAME_INVALID' && e.status === 400);
});

test('tags are at most 128 characters and cannot start with a dot or dash', () => {
  assert.equal(isValidTag('latest'), true);
  assert.equal(isValidTag('v1.2.3-rc_1'), true);
  assert.equal(isValidTag('_x'), true);
  assert.equal(isValidTag('x'.repeat(128)), true);
  assert.equal(isValidTag('x'.repeat(129)), false);
  assert.equal(isValidTag('.hidden'), false);
  assert.equal(isValidTag('..'), false);
  assert.equal(isValidTag('-x'), false);
  assert.equal(isValidTag('a/b'), false);
  assert.equal(isValidTag(''), false);
});

test('digests are sha256 or sha512 with lower-case hex of the right length', () => {
  const h64 = 'a'.repeat(64);
  assert.deepEqual(parseDigest(`sha256:${h64}`), { algorithm: 'sha256', hex: h64, digest: `sha256:${h64}` });
  assert.ok(parseDigest(`sha512:${'0'.repeat(128)}`));
  for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha256:${'a'.repeat(65)}`, `md5:${'a'.repeat(32)}`,
    'sha256:../../etc/passwd', `sha256:${h64}/..`, `:${h64}`, h64, `sha256:${'g'.repeat(64)}`, `constructor:${h64}`, `toString:${h64}`]) {
    assert.equal(parseDigest(bad), undefined, bad);
  }
});

test('a manifest reference is a tag or a digest, nothing else', () => {
  assert.deepEqual(parseReference('latest'), { kind: 'tag', tag: 'latest' });
  const r = parseReference(`sha256:${'b'.repeat(64)}`);
  assert.equal(r.kind, 'digest');
  assert.throws(() => parseReference('sha256:zz'), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
  assert.throws(() => parseReference('..'), (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_INVALID');
});
