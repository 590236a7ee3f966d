import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDuration, parseBytes, parseDuration, parsePortShort, parseVolumeShort, shellSplit,
} from '../../src/compose/index.js';

test('ports short syntax expands to docker compose\'s long syntax', () => {
  assert.deepEqual(parsePortShort('3000'), [{ mode: 'ingress', target: 3000, protocol: 'tcp' }]);
  assert.deepEqual(parsePortShort(3000), [{ mode: 'ingress', target: 3000, protocol: 'tcp' }]);
  assert.deepEqual(parsePortShort('8000:80/udp'), [{ mode: 'ingress', target: 80, published: '8000', protocol: 'udp' }]);
  assert.deepEqual(parsePortShort('127.0.0.1:8001:8001'), [{ mode: 'ingress', host_ip: '127.0.0.1', target: 8001, published: '8001', protocol: 'tcp' }]);
  assert.deepEqual(parsePortShort('127.0.0.1::5000'), [{ mode: 'ingress', host_ip: '127.0.0.1', target: 5000, protocol: 'tcp' }]);
  assert.deepEqual(parsePortShort('[::1]:6001:6001'), [{ mode: 'ingress', host_ip: '::1', target: 6001, published: '6001', protocol: 'tcp' }]);
  assert.deepEqual(parsePortShort('3000-3001').map((p) => p.target), [3000, 3001]);
  assert.deepEqual(parsePortShort('9090-9091:8080-8081').map((p) => `${p.published}:${p.target}`), ['9090:8080', '9091:8081']);
  assert.deepEqual(parsePortShort('9090-9091:8080'), [{ mode: 'ingress', target: 8080, published: '9090-9091', protocol: 'tcp' }]);
  assert.throws(() => parsePortShort('abc'), /invalid container port "abc"/);
});

test('volumes short syntax: named, anonymous, relative and home binds, modes', () => {
  assert.deepEqual(parseVolumeShort('data:/data', '/proj'), { type: 'volume', source: 'data', target: '/data', volume: {} });
  assert.deepEqual(parseVolumeShort('/cache', '/proj'), { type: 'volume', target: '/cache', volume: {} });
  assert.deepEqual(parseVolumeShort('./src:/app:ro,z', '/proj'), {
    type: 'bind', source: '/proj/src', target: '/app', read_only: true, bind: { selinux: 'z', create_host_path: true },
  });
  assert.deepEqual(parseVolumeShort('../up:/up:rshared', '/proj/sub'), {
    type: 'bind', source: '/proj/up', target: '/up', bind: { propagation: 'rshared', create_host_path: true },
  });
  assert.equal(parseVolumeShort('~/x:/x', '/proj').source?.endsWith('/x'), true);
  assert.deepEqual(parseVolumeShort('data:/d:nocopy', '/p'), { type: 'volume', source: 'data', target: '/d', volume: { nocopy: true } });
  assert.throws(() => parseVolumeShort('a:b:c:d', '/p'), /invalid volume specification/);
});

test('durations parse to nanoseconds and print as Go durations', () => {
  assert.equal(parseDuration('1m30s'), 90e9);
  assert.equal(parseDuration('1.5s'), 1.5e9);
  assert.equal(parseDuration('300ms'), 300e6);
  assert.equal(parseDuration('2h'), 7200e9);
  assert.equal(parseDuration('10'), 10e9);
  assert.throws(() => parseDuration('10 parsecs'), /invalid duration/);
  assert.equal(formatDuration(90e9), '1m30s');
  assert.equal(formatDuration(60e9), '1m0s');
  assert.equal(formatDuration(3600e9), '1h0m0s');
  assert.equal(formatDuration(1.5e9), '1.5s');
  assert.equal(formatDuration(300e6), '300ms');
  assert.equal(formatDuration(0), '0s');
});

test('sizes parse to bytes with binary multiples', () => {
  assert.equal(parseBytes('512m'), 512 * 1024 * 1024);
  assert.equal(parseBytes('1gb'), 1024 ** 3);
  assert.equal(parseBytes('2GiB'), 2 * 1024 ** 3);
  assert.equal(parseBytes('100k'), 102400);
  assert.equal(parseBytes('1024'), 1024);
  assert.equal(parseBytes(4096), 4096);
  assert.throws(() => parseBytes('lots'), /invalid size/);
});

test('command strings split like a shell', () => {
  assert.deepEqual(shellSplit('sh -c "echo hello world"'), ['sh', '-c', 'echo hello world']);
  assert.deepEqual(shellSplit(`echo 'a b' c\\ d ""`), ['echo', 'a b', 'c d', '']);
  assert.throws(() => shellSplit('echo "open'), /unterminated/);
});
