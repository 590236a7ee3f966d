/**
 * Answers shaped by the API version the client asked for, as dockerd shapes them: clients pinned to
 * an older version (docker-compose 1.29 asks for 1.38, docker-py can pin any) read fields that later
 * versions dropped. And defaults a client may leave out come back filled in.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

describe('API versions', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  test('image inspect has VirtualSize before 1.44, and Container, ContainerConfig at every version (docker-compose 1.29 reads them)', async () => {
    assert.equal(d.docker(['run', '--name', 'img-src', 'busybox', 'touch', '/made']).status, 0);
    assert.equal(d.docker(['commit', 'img-src', 'committed']).status, 0);
    const containerId = d.docker(['inspect', '-f', '{{.Id}}', 'img-src']).stdout.trim();
    const v138 = (await apiCall(d.socket, 'GET', '/v1.38/images/committed/json')).json;
    assert.equal(v138.Container, containerId);
    assert.ok('Volumes' in v138.ContainerConfig);
    assert.deepEqual(v138.ContainerConfig.Cmd, ['touch', '/made']);
    assert.equal(v138.VirtualSize, v138.Size);
    const imported = (await apiCall(d.socket, 'GET', '/v1.41/images/busybox/json')).json;
    assert.equal(imported.Container, '');
    assert.equal(imported.ContainerConfig.Cmd, null, 'an imported image has an empty container config');
    for (const path of ['/v1.44/images/committed/json', '/v1.45/images/committed/json', '/images/committed/json']) {
      const now = (await apiCall(d.socket, 'GET', path)).json;
      assert.ok(!('VirtualSize' in now), path);
      assert.deepEqual([now.Container, now.ContainerConfig], [v138.Container, v138.ContainerConfig], path);
    }
    assert.equal(d.docker(['rm', 'img-src']).status, 0);
    assert.equal(d.docker(['rmi', 'committed']).status, 0);
  });

  test('an image without references is listed as <none>:<none> before 1.43', async () => {
    importBusybox(d, 'fresh:1');   // a second import: another image
    assert.equal(d.docker(['tag', 'busybox', 'fresh:1']).status, 0);   // its only tag moves away: it is left dangling
    const dangling = d.docker(['images', '-q', '--no-trunc', '--filter', 'dangling=true']).stdout.trim().split('\n');
    assert.equal(dangling.length, 1);
    const old = (await apiCall(d.socket, 'GET', '/v1.42/images/json')).json.find((i: any) => i.Id === dangling[0]);
    assert.deepEqual([old.RepoTags, old.RepoDigests], [['<none>:<none>'], ['<none>@<none>']]);
    const now = (await apiCall(d.socket, 'GET', '/v1.43/images/json')).json.find((i: any) => i.Id === dangling[0]);
    assert.deepEqual([now.RepoTags, now.RepoDigests], [[], []]);
    assert.equal(d.docker(['rmi', dangling[0], 'fresh:1']).status, 0);
  });

  test('a restart policy sent without MaximumRetryCount comes back with it', async () => {
    const created = await apiCall(d.socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'always' } } }));
    assert.equal(created.status, 201, created.body);
    const c = (await apiCall(d.socket, 'GET', `/v1.41/containers/${created.json.Id}/json`)).json;
    assert.deepEqual(c.HostConfig.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
    const plain = await apiCall(d.socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    assert.deepEqual((await apiCall(d.socket, 'GET', `/v1.41/containers/${plain.json.Id}/json`)).json.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    for (const id of [created.json.Id, plain.json.Id]) assert.equal(d.docker(['rm', id]).status, 0);
  });
});
