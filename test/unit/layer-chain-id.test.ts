import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chainIdOf, chainIdsOf, childChainId } from '../../src/layer/index.js';
import { cleanEntryName } from '../../src/layer/unpack.js';
import { InvalidParameterError } from '../../src/errors/index.js';

const d = (c: string) => 'sha256:' + c.repeat(64);
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');

test('the ChainID of one layer is its DiffID', () => {
  assert.equal(chainIdOf([d('a')]), d('a'));
});

test('the ChainID of a stack hashes "parent-chain diffid" level by level (OCI image spec)', () => {
  const c2 = sha(`${d('a')} ${d('b')}`);
  const c3 = sha(`${c2} ${d('c')}`);
  assert.equal(chainIdOf([d('a'), d('b')]), c2);
  assert.equal(chainIdOf([d('a'), d('b'), d('c')]), c3);
  assert.deepEqual(chainIdsOf([d('a'), d('b'), d('c')]), [d('a'), c2, c3]);
  assert.equal(childChainId(c2, d('c')), c3);
  assert.equal(childChainId(null, d('a')), d('a'));
});

test('order matters: swapped layers give a different ChainID', () => {
  assert.notEqual(chainIdOf([d('a'), d('b')]), chainIdOf([d('b'), d('a')]));
});

test('malformed digests and empty stacks are refused', () => {
  assert.throws(() => chainIdOf([]), InvalidParameterError);
  assert.throws(() => chainIdOf(['sha256:xyz']), InvalidParameterError);
  assert.throws(() => chainIdOf(['md5:' + 'a'.repeat(32)]), InvalidParameterError);
  assert.throws(() => chainIdOf([d('A')]), InvalidParameterError);
});

test('tar entry names are cleaned like Docker: absolute becomes relative, climbing above the root is refused', () => {
  assert.equal(cleanEntryName('./etc/passwd'), 'etc/passwd');
  assert.equal(cleanEntryName('/etc/passwd'), 'etc/passwd');
  assert.equal(cleanEntryName('//etc//passwd'), 'etc/passwd');
  assert.equal(cleanEntryName('bin/'), 'bin');
  assert.equal(cleanEntryName('a/b/../c'), 'a/c');
  assert.equal(cleanEntryName('./'), '');
  assert.equal(cleanEntryName('.'), '');
  assert.throws(() => cleanEntryName('../x'), InvalidParameterError);
  assert.throws(() => cleanEntryName('a/../../x'), InvalidParameterError);
  assert.throws(() => cleanEntryName('/../x'), InvalidParameterError);
  assert.throws(() => cleanEntryName('..'), InvalidParameterError);
});
