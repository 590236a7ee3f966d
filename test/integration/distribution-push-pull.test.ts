/**
 * Pull and push through berthd with the real docker CLI against berth's registry (its own process
 * on a free loopback port): push, re-push without uploading again, cross-repository mount, pull
 * into a second empty berthd (same image ID, the container runs), pull by digest, up-to-date
 * pulls, Docker's errors for unknown repositories and tags, and search.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry, type SpawnedRegistry } from './registry-harness.js';

describe('distribution: push and pull with berth registry', () => {
  let reg: SpawnedRegistry;
  let d1: Berthd;
  let d2: Berthd;
  let imageId: string;
  let ref: string;
  let pushedDigest: string;

  before(async () => {
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      spawnRegistry(['--access-log']).then((x) => { reg = x; }),
      startBerthd().then((x) => { d1 = x; }),
      startBerthd().then((x) => { d2 = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    imageId = importBusybox(d1);
    ref = `${reg.address}/team/app:1`;
  });
  after(async () => {
    await Promise.all([d1?.cleanup(), d2?.cleanup(), reg?.stop()]);
  });

  test('docker tag + docker push uploads the layer, config and manifest', async () => {
    assert.equal(d1.docker(['tag', 'busybox', ref]).status, 0);
    const r = await d1.dockerAsync(['push', ref]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`The push refers to repository \\[${reg.address}/team/app\\]`));
    assert.match(r.stdout, /: Pushed/);
    const m = /1: digest: (sha256:[a-f0-9]{64}) size: (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    pushedDigest = m[1];
    // The registry serves the manifest we were told about.
    const res = await fetch(`${reg.url}/v2/team/app/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), pushedDigest);
    const manifest = await res.json() as { config: { digest: string }; layers: unknown[] };
    assert.equal(manifest.config.digest, imageId);
    assert.equal(manifest.layers.length, 1);
    const digests = d1.docker(['inspect', '-f', '{{json .RepoDigests}}', ref]).stdout;
    assert.ok(digests.includes(`${reg.address}/team/app@${pushedDigest}`), digests);
  });

  test('a re-push uploads no layer again', async () => {
    const before = (reg.stderr().match(/PATCH /g) ?? []).length;
    const r = await d1.dockerAsync(['push', ref]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: Layer already exists/);
    assert.doesNotMatch(r.stdout, /: Pushed/);
    assert.ok(r.stdout.includes(`1: digest: ${pushedDigest}`), r.stdout);
    assert.equal((reg.stderr().match(/PATCH /g) ?? []).length, before, 'no blob upload on re-push');
  });

  test('pushing to another repository of the same registry mounts the layer', async () => {
    const other = `${reg.address}/other/app:2`;
    assert.equal(d1.docker(['tag', 'busybox', other]).status, 0);
    const r = await d1.dockerAsync(['push', other]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: Mounted from team\/app/);
    // A repository named on `docker images` lists its own tags and digests, not the image's others.
    const listed = d1.docker(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}', `${reg.address}/other/app`]).stdout.trim().split('\n');
    assert.equal(listed.length, 1, listed.join('\n'));
    assert.match(listed[0], new RegExp(`^${reg.address}/other/app 2 sha256:[0-9a-f]{64}$`));
    const team = d1.docker(['images', '--digests', '--format', '{{.Repository}} {{.Digest}}', '--filter', `reference=${reg.address}/team/*`]).stdout.trim();
    assert.equal(team, `${reg.address}/team/app ${pushedDigest}`);
  });

  test('docker pull into an empty berthd gives the same image ID, and it runs', async () => {
    const r = await d2.dockerAsync(['pull', ref]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1: Pulling from team\/app/);
    assert.match(r.stdout, /Pull complete/);
    assert.ok(r.stdout.includes(`Digest: ${pushedDigest}`), r.stdout);
    assert.ok(r.stdout.includes(`Status: Downloaded newer image for ${ref}`), r.stdout);
    assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', ref]).stdout.trim(), imageId);
    const digests = d2.docker(['inspect', '-f', '{{json .RepoDigests}}', ref]).stdout;
    assert.ok(digests.includes(`${reg.address}/team/app@${pushedDigest}`), digests);
    const run = await d2.dockerAsync(['run', '--rm', ref, 'sh', '-c', 'echo pulled and running']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'pulled and running\n');
  });

  test('pulling again says the image is up to date', async () => {
    const r = await d2.dockerAsync(['pull', ref]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`Status: Image is up to date for ${ref}`), r.stdout);
    assert.doesNotMatch(r.stdout, /Pull complete/);
  });

  test('pull by digest', async () => {
    assert.equal(d2.docker(['rmi', ref]).status, 0);
    const byDigest = `${reg.address}/team/app@${pushedDigest}`;
    const r = await d2.dockerAsync(['pull', byDigest]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`Status: Downloaded newer image for ${byDigest}`), r.stdout);
    assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', byDigest]).stdout.trim(), imageId);
  });

  test('the API streams dockerd\'s progress messages', async () => {
    const name = `${reg.address}/other/app`;
    assert.equal(d2.docker(['rmi', `${reg.address}/team/app@${pushedDigest}`]).status, 0);
    const res = await d2.api('POST', `/v1.45/images/create?fromImage=${encodeURIComponent(name)}&tag=2`);
    assert.equal(res.status, 200);
    const msgs = res.body.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(msgs[0], { status: 'Pulling from other/app', id: '2' });
    const id = msgs[1].id;
    assert.match(id, /^[a-f0-9]{12}$/);
    assert.deepEqual(msgs[1], { status: 'Pulling fs layer', progressDetail: {}, id });
    const statuses = msgs.filter((m) => m.id === id).map((m) => m.status);
    const order = ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete'];
    assert.deepEqual([...new Set(statuses)], order, res.body);
    const dl = msgs.find((m) => m.status === 'Downloading');
    assert.ok(dl.progressDetail.total > 0 && dl.progressDetail.current <= dl.progressDetail.total, JSON.stringify(dl));
    assert.match(dl.progress, /^\[=*> *\] +[\d.]+[kMG]?B\/[\d.]+[kMG]?B/);
    assert.equal(msgs.at(-2).status, `Digest: ${pushedDigest}`);
    assert.equal(msgs.at(-1).status, `Status: Downloaded newer image for ${name}:2`);
  });

  test('pull of an unknown repository or tag gives Docker\'s errors', async () => {
    const r = await d2.dockerAsync(['pull', `${reg.address}/nope/nothing:1`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`Error response from daemon: repository ${reg.address}/nope/nothing not found: name unknown`));
    const t = await d2.dockerAsync(['pull', `${reg.address}/team/app:nosuchtag`]);
    assert.equal(t.status, 1);
    assert.match(t.stderr, new RegExp(`Error response from daemon: manifest for ${reg.address}/team/app:nosuchtag not found: manifest unknown`));
    const api = await d2.api('POST', `/v1.45/images/create?fromImage=${encodeURIComponent(`${reg.address}/nope/nothing`)}&tag=1`);
    assert.equal(api.status, 404);
  });

  test('push of an image that does not exist locally fails like dockerd', async () => {
    const r = await d1.dockerAsync(['push', `${reg.address}/team/missing:1`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tag does not exist: .*team\/missing:1/);
  });

  test('docker search asks the registry', async () => {
    const r = await d1.dockerAsync(['search', '--format', '{{.Name}}', `${reg.address}/app`]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['other/app', 'team/app']);
    const bad = await d1.dockerAsync(['search', '--filter', 'nonsense=1', `${reg.address}/app`]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid filter 'nonsense'/);
  });
});
