import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContextStore, endpointFromEnvironment, selectedContext } from '../../src/client/index.js';
import { NotFoundError } from '../../src/errors/index.js';

test('contexts are stored in the docker CLI layout and selected with its precedence', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new ContextStore(dir);
  store.save({ Name: 'remote', Metadata: { Description: 'd' }, Endpoints: { docker: { Host: 'tcp://10.0.0.1:2376', SkipTLSVerify: false } } },
    { ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') });
  const id = createHash('sha256').update('remote').digest('hex');
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'contexts', 'meta', id, 'meta.json'), 'utf8')).Endpoints.docker, { Host: 'tcp://10.0.0.1:2376', SkipTLSVerify: false });
  assert.equal(readFileSync(join(dir, 'contexts', 'tls', id, 'docker', 'key.pem'), 'utf8'), 'KEY');

  const env = { DOCKER_CONFIG: dir };
  assert.equal(selectedContext({}, env), 'default');
  store.setCurrent('remote');
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).currentContext, 'remote');
  assert.equal(selectedContext({}, env), 'remote');
  // An explicit host or DOCKER_HOST means the default context, unless a context is named explicitly.
  assert.equal(selectedContext({ host: 'unix:///x.sock' }, env), 'default');
  assert.equal(selectedContext({}, { ...env, DOCKER_HOST: 'unix:///x.sock' }), 'default');
  assert.equal(selectedContext({}, { ...env, DOCKER_HOST: 'unix:///x.sock', DOCKER_CONTEXT: 'remote' }), 'remote');
  assert.equal(selectedContext({ context: 'other' }, { ...env, DOCKER_CONTEXT: 'remote' }), 'other');

  const ep = endpointFromEnvironment({}, env);
  assert.equal(ep.host, 'tcp://10.0.0.1:2376');
  assert.equal(ep.tls?.verify, true);
  assert.equal(ep.tls?.cert?.toString(), 'CERT');
  assert.throws(() => endpointFromEnvironment({ context: 'nope' }, env), NotFoundError);

  store.setCurrent('default');
  assert.equal(store.current(), undefined);
  store.remove('remote');
  assert.equal(existsSync(join(dir, 'contexts', 'meta', id)), false);
  assert.deepEqual(store.list(), []);
});
