import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseListen } from '../../src/registry/index.js';

test('listen addresses', () => {
  assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseListen(':5000'), { host: '0.0.0.0', port: 5000 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListen('5000'));
  assert.throws(() => parseListen('x:99999'));
});

test("berth's config format, with paths relative to the file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-reg-cfg-'));
  try {
    const f = join(dir, 'registry.yaml');
    writeFileSync(f, 'listen: 127.0.0.1:5001\nstorage: data\ntls: { certificate: c.pem, key: k.pem }\nauth:\n  htpasswd: { path: users }\n');
    const c = loadConfig(f);
    assert.equal(c.listen, '127.0.0.1:5001');
    assert.equal(c.storage, join(dir, 'data'));
    assert.equal(c.tls?.certificate, join(dir, 'c.pem'));
    assert.equal(c.auth?.htpasswd?.path, join(dir, 'users'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("docker-registry's config.yml is understood, so berth-registry can stand in for it", () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-reg-cfg-'));
  try {
    const f = join(dir, 'config.yml');
    writeFileSync(f, [
      'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', '    rootdirectory: /var/lib/registry',
      '  delete:', '    enabled: true', '  cache:', '    blobdescriptor: inmemory', 'http:', '  addr: 127.0.0.1:5002',
      'auth:', '  htpasswd:', '    realm: basic-realm', '    path: /etc/registry/htpasswd', '',
    ].join('\n'));
    const c = loadConfig(f);
    assert.equal(c.listen, '127.0.0.1:5002');
    assert.equal(c.storage, '/var/lib/registry');
    assert.equal(c.delete?.enabled, true);
    assert.deepEqual(c.auth?.htpasswd, { realm: 'basic-realm', path: '/etc/registry/htpasswd' });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
