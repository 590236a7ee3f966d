import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentRange, parseRangeHeader } from '../../src/registry/index.js';

test('Range: bytes=a-b resolves against the blob size', () => {
  assert.deepEqual(parseRangeHeader('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRangeHeader('bytes=90-500', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRangeHeader('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRangeHeader('bytes=-1000', 100), { start: 0, end: 99 });
});

test('unsatisfiable and ignorable Range headers', () => {
  assert.equal(parseRangeHeader('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRangeHeader('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRangeHeader('bytes=0-0', 0), 'unsatisfiable');
  assert.equal(parseRangeHeader(undefined, 100), undefined);
  assert.equal(parseRangeHeader('bytes=5-1', 100), undefined);
  assert.equal(parseRangeHeader('items=0-1', 100), undefined);
  assert.equal(parseRangeHeader('bytes=0-1,5-6', 100), undefined); // multipart ranges: served whole
  assert.equal(parseRangeHeader('bytes=-', 100), undefined);
});

test('upload Content-Range in the spec form and the RFC form', () => {
  assert.deepEqual(parseContentRange('0-1023'), { start: 0, end: 1023 });
  assert.deepEqual(parseContentRange('bytes 1024-2047/*'), { start: 1024, end: 2047 });
  assert.deepEqual(parseContentRange('bytes 0-9/10'), { start: 0, end: 9 });
  for (const bad of ['', '10', '5-4', 'a-b', '-5', '0-', 'bytes */10', '0 - 5', '1-2-3']) {
    assert.equal(parseContentRange(bad), undefined, bad);
  }
});
