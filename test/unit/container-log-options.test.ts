/** The file logger's options as dockerd reads them: limits, and the attributes `docker logs --details` shows. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logAttributes, logLimits } from '../../src/container/log-options.js';

test('--details attributes: the named and matching labels and environment variables, sorted, k=v joined by commas', () => {
  const labels = { lab: 'val', 'com.example.a': '1', 'com.example.b': '2', other: 'x' };
  const env = ['EV=1', 'PATH=/bin', 'EMPTY=', 'BARE'];
  assert.equal(logAttributes({ Config: { labels: 'lab,missing', env: 'EV,BARE' } }, labels, env), 'EV=1,lab=val');
  assert.equal(logAttributes({ Config: { 'labels-regex': '^com\\.example\\.', 'env-regex': '^EMP' } }, labels, env), 'EMPTY=,com.example.a=1,com.example.b=2');
  assert.equal(logAttributes({ Config: {} }, labels, env), '');
  assert.equal(logAttributes(undefined, null, null), '');
  assert.equal(logAttributes({ Config: { 'labels-regex': '(' } }, labels, env), '', 'a pattern that does not compile matches nothing');
});

test('log drivers: file drivers and none are taken; others are refused with a clear message', () => {
  assert.equal(logLimits({ Type: 'none' }).explicit, false);
  assert.deepEqual(logLimits({ Type: 'json-file', Config: { 'max-size': '1k', 'max-file': '3' } }), { maxSize: 1000, maxFile: 3, explicit: true });
  assert.throws(() => logLimits({ Type: 'journald' }), /log driver "journald" is not supported by berth/);
  assert.throws(() => logLimits({ Type: 'nosuch' }), /error looking up logging plugin nosuch: plugin "nosuch" not found/);
});
