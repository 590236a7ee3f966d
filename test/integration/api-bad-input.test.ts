/**
 * Bad request bodies over the socket: containers/create, networks/create, connect, disconnect and
 * volumes/create answer 400 with dockerd's messages for fields of the wrong JSON type (and port
 * specifications, host IPs, ulimit names at create), and bodies nested 100,000 levels deep; nothing
 * is saved, no container directory is left, and the docker CLI still lists what the daemon has.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';
import {
  badCreateBodies, badNetworkConnectBodies, badNetworkCreateBodies, badNetworkDisconnectBodies, badVolumeCreateBodies, dockerCliCreateBody, type BadBody,
} from '../fixtures/requests/request-bodies.js';

describe('bad input to the Engine API', () => {
  let d: Berthd;
  // Containers' directories (not the spares the daemon makes ahead for the next creates).
  const containerDirs = () => (existsSync(join(d.dataRoot, 'containers')) ? readdirSync(join(d.dataRoot, 'containers')) : []).filter((n) => !n.startsWith('.spare-'));

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
  });
  after(async () => { await d?.cleanup(); });

  async function refused(path: string, c: BadBody): Promise<void> {
    const r = await d.api('POST', path, JSON.stringify(c.body));
    assert.equal(r.status, 400, `${c.what}: ${r.status} ${r.body}`);
    assert.equal(r.json?.message, c.message, c.what);
  }

  test('containers/create refuses each bad body with a 400 and dockerd message, and makes nothing', async () => {
    for (const c of badCreateBodies) await refused('/containers/create', c);
    assert.deepEqual(containerDirs(), []);
    const ps = d.docker(['ps', '-a', '--format', '{{.ID}}']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.equal(ps.stdout.trim(), '');
  });

  test('a create body nested 100,000 levels deep is a 400, leaves no directory, and the daemon keeps serving', async () => {
    const deep = `{"Image":"busybox","HostConfig":{"X":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const r = await d.api('POST', '/containers/create', deep);
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json?.message, 'invalid JSON: exceeded max depth');
    assert.deepEqual(containerDirs(), []);
    assert.equal((await d.api('GET', '/_ping')).status, 200);
  });

  test('what the docker CLI sends is still created, and ps and inspect read it', async () => {
    const r = await d.api('POST', '/containers/create?name=fromcli', JSON.stringify({ ...dockerCliCreateBody, HostConfig: { ...dockerCliCreateBody.HostConfig, NetworkMode: 'bridge' } }));
    assert.equal(r.status, 201, r.body);
    const s = await d.api('POST', '/containers/create?name=strcmd', JSON.stringify({ Image: 'busybox', Cmd: 'true', Labels: null, Unknown: { a: [1] } }));
    assert.equal(s.status, 201, s.body);
    const ps = d.docker(['ps', '-a', '--format', '{{.Names}} {{.Ports}}']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /fromcli/);
    assert.match(ps.stdout, /strcmd/);
    const inspect = d.docker(['inspect', '-f', '{{json .Config.Labels}} {{json .HostConfig.Ulimits}}', 'fromcli']);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.equal(inspect.stdout.trim(), '{"x":"y"} [{"Name":"nofile","Hard":20,"Soft":10}]');
    assert.deepEqual(containerDirs().sort(), [r.json.Id, s.json.Id].sort());
    assert.equal(d.docker(['rm', 'fromcli', 'strcmd']).status, 0);
  });

  test('networks/create, connect and disconnect refuse bad bodies with a 400, and network ls still works', async () => {
    for (const c of badNetworkCreateBodies) await refused('/networks/create', c);
    for (const c of badNetworkConnectBodies) await refused('/networks/bridge/connect', c);
    for (const c of badNetworkDisconnectBodies) await refused('/networks/bridge/disconnect', c);
    const ls = d.docker(['network', 'ls', '--format', '{{.Name}}']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['bridge', 'host', 'none']);
  });

  test('volumes/create refuses bad bodies with a 400, makes no volume, and volume ls still works', async () => {
    for (const c of badVolumeCreateBodies) await refused('/volumes/create', c);
    const ls = d.docker(['volume', 'ls', '-q']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.equal(ls.stdout.trim(), '');
  });
});
