/**
 * A pull verifies everything it downloads: a small misbehaving registry (an HTTP server in this
 * test, on loopback) serves blobs and manifests that do not match their digests. berthd must
 * refuse them with dockerd's messages and keep nothing of them; two concurrent pulls of one image
 * from berth's registry both succeed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxRootfs, importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry, type SpawnedRegistry } from './registry-harness.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

interface Fake { server: Server; address: string; blobs: Map<string, Buffer>; manifests: Map<string, Buffer>; cutOnce: Map<string, number> }

async function fakeRegistry(): Promise<Fake> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const cutOnce = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{}'); return; }
    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url);
    if (m && manifests.has(m[2])) {
      const body = manifests.get(m[2])!;
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url);
    if (m && blobs.has(m[2])) {
      const body = blobs.get(m[2])!;
      if ((cutOnce.get(m[2]) ?? 0) > 0) {
        // Half the blob, then the connection drops (a flaky network or a registry restart).
        cutOnce.set(m[2], cutOnce.get(m[2])! - 1);
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, blobs, manifests, cutOnce };
}

function manifestFor(config: Buffer, layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
  }));
}

function lines(body: string): any[] { return body.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l)); }

describe('distribution: pulls verify what they download', () => {
  let fake: Fake;
  let d: Berthd;
  let layer: Buffer;
  let diffId: string;

  before(async () => {
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      fakeRegistry().then((x) => { fake = x; }),
      startBerthd().then((x) => { d = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const tar = readFileSync(busyboxRootfs());
    diffId = sha(tar);
    layer = gzipSync(tar);
  });
  after(async () => {
    await d?.cleanup();
    await new Promise((r) => fake?.server.close(r));
  });

  const contentFiles = () => {
    const root = join(d.dataRoot, 'content', 'sha256');
    try { return readdirSync(root).flatMap((h) => readdirSync(join(root, h))); } catch { return []; }
  };

  test('a layer blob that does not match its digest is refused and not kept', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const claimed = sha(Buffer.from('something else entirely'));
    fake.blobs.set(sha(config), config);
    fake.blobs.set(claimed, layer);   // served under a digest it does not have
    fake.manifests.set('bad-layer', manifestFor(config, [{ digest: claimed, size: layer.length }]));
    const before = contentFiles().length;
    const r = await d.api('POST', `/v1.45/images/create?fromImage=${fake.address}/evil/img&tag=bad-layer`);
    assert.equal(r.status, 200);
    const last = lines(r.body).at(-1);
    assert.equal(last.error, `filesystem layer verification failed for digest ${claimed}`);
    assert.equal(contentFiles().length, before, 'no tar of the refused layer is kept');
    assert.equal(d.docker(['images', '-q']).stdout.trim(), '');
  });

  test('a config that does not match the manifest is refused before anything streams', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const other = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    fake.blobs.set(sha(config), other);
    fake.blobs.set(sha(layer), layer);
    fake.manifests.set('bad-config', manifestFor(config, [{ digest: sha(layer), size: layer.length }]));
    const r = await d.api('POST', `/v1.45/images/create?fromImage=${fake.address}/evil/img&tag=bad-config`);
    const msgs = lines(r.body);
    assert.match(msgs.at(-1).error ?? msgs.at(-1).message, new RegExp(`verification failed for digest ${sha(config)}`));
  });

  test('a layer whose content does not match the config\'s DiffID is refused', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(Buffer.from('not the tar'))] } }));
    fake.blobs.set(sha(config), config);
    fake.blobs.set(sha(layer), layer);
    fake.manifests.set('bad-diffid', manifestFor(config, [{ digest: sha(layer), size: layer.length }]));
    const r = await d.api('POST', `/v1.45/images/create?fromImage=${fake.address}/evil/img&tag=bad-diffid`);
    const last = lines(r.body).at(-1);
    assert.match(last.error, /diff ID|does not match|digest mismatch/);
    assert.equal(d.docker(['images', '-q']).stdout.trim(), '');
  });

  test('pulling by a digest the manifest does not have is refused', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    fake.blobs.set(sha(config), config);
    const wrong = sha(Buffer.from('another manifest'));
    fake.manifests.set(wrong, manifestFor(config, [{ digest: sha(layer), size: layer.length }]));
    const r = await d.api('POST', `/v1.45/images/create?fromImage=${fake.address}/evil/img&tag=${wrong}`);
    assert.equal(r.status, 400);
    assert.match(r.json.message, new RegExp(`manifest verification failed for digest ${wrong}`));
  });

  test('downloads cut off half-way are retried', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] }, comment: 'cut' }));
    fake.blobs.set(sha(config), config);
    fake.blobs.set(sha(layer), layer);
    fake.cutOnce.set(sha(layer), 2);   // the streamed attempt and the first retry are cut
    fake.manifests.set('flaky', manifestFor(config, [{ digest: sha(layer), size: layer.length }]));
    const r = await d.api('POST', `/v1.45/images/create?fromImage=${fake.address}/evil/img&tag=flaky`);
    const msgs = lines(r.body);
    assert.equal(msgs.at(-1).status, `Status: Downloaded newer image for ${fake.address}/evil/img:flaky`, r.body);
    assert.ok(msgs.some((m) => /^Retrying in 1 second$/.test(m.status)), r.body);
    assert.equal(fake.cutOnce.get(sha(layer)), 0);
    assert.equal(d.docker(['inspect', '-f', '{{.Id}}', `${fake.address}/evil/img:flaky`]).stdout.trim(), sha(config));
  });

  test('the honest image from the same server pulls fine', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    fake.blobs.set(sha(config), config);
    fake.blobs.set(sha(layer), layer);
    fake.manifests.set('good', manifestFor(config, [{ digest: sha(layer), size: layer.length }]));
    const r = await d.dockerAsync(['pull', `${fake.address}/evil/img:good`]);
    assert.equal(r.status, 0, r.stderr);
    const run = await d.dockerAsync(['run', '--rm', `${fake.address}/evil/img:good`, 'echo', 'ok']);
    assert.equal(run.stdout, 'ok\n', run.stderr);
  });
});

describe('distribution: concurrent pulls of one image', () => {
  let reg: SpawnedRegistry;
  let d1: Berthd;
  let d2: Berthd;

  before(async () => {
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      spawnRegistry().then((x) => { reg = x; }),
      startBerthd().then((x) => { d1 = x; }),
      startBerthd().then((x) => { d2 = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    importBusybox(d1);
  });
  after(async () => { await Promise.all([d1?.cleanup(), d2?.cleanup(), reg?.stop()]); });

  test('two pulls at once both succeed with one image', async () => {
    const ref = `${reg.address}/c/app:1`;
    assert.equal(d1.docker(['tag', 'busybox', ref]).status, 0);
    assert.equal((await d1.dockerAsync(['push', ref])).status, 0);
    const [a, b] = await Promise.all([d2.dockerAsync(['pull', ref]), d2.dockerAsync(['pull', ref])]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(d2.docker(['images', '-q']).stdout.trim().split('\n').length, 1);
    const all = await d2.dockerAsync(['pull', '-a', `${reg.address}/c/app`]);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /Image is up to date for .*c\/app/);
  });
});

describe('distribution: pushes survive a cut connection', () => {
  let d: Berthd;
  let server: Server;
  let address: string;
  const blobs = new Map<string, Buffer>();
  let patches = 0;
  let cuts = 1;

  before(async () => {
    // A minimal registry whose first layer upload is cut off half-way.
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => { res.writeHead(status, { 'Content-Type': 'application/json', ...headers }); res.end(JSON.stringify(body)); };
      if (url.pathname === '/v2/') return json(200, {});
      let m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]+)$/.exec(url.pathname);
      if (m && req.method === 'HEAD') { res.writeHead(blobs.has(m[2]) ? 200 : 404, { 'Content-Length': blobs.get(m[2])?.length ?? 0 }); res.end(); return; }
      if (/^\/v2\/(.+)\/blobs\/uploads\/$/.test(url.pathname) && req.method === 'POST') {
        req.resume();
        return json(202, {}, { Location: `/v2/up/blobs/uploads/${Math.random().toString(36).slice(2)}`, 'Content-Length': '2' });
      }
      m = /^\/v2\/up\/blobs\/uploads\/(\w+)$/.exec(url.pathname);
      if (m && req.method === 'PATCH') {
        patches++;
        const chunks: Buffer[] = [];
        let got = 0;
        req.on('data', (c: Buffer) => {
          chunks.push(c);
          got += c.length;
          if (cuts > 0 && got > 100_000) { cuts--; req.socket.destroy(); }
        });
        req.on('end', () => { (server as any)[m![1]] = Buffer.concat(chunks); json(202, {}, { Location: url.pathname }); });
        return;
      }
      if (m && req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const data = Buffer.concat([(server as any)[m![1]] ?? Buffer.alloc(0), ...chunks]);
          const digest = url.searchParams.get('digest')!;
          if (sha(data) !== digest) return json(400, { errors: [{ code: 'DIGEST_INVALID', message: 'digest did not match' }] });
          blobs.set(digest, data);
          json(201, {}, { Location: `/v2/x/blobs/${digest}`, 'Docker-Content-Digest': digest });
        });
        return;
      }
      if (/^\/v2\/(.+)\/manifests\/[^/]+$/.test(url.pathname) && req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => json(201, {}, { 'Docker-Content-Digest': sha(Buffer.concat(chunks)) }));
        return;
      }
      json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    d = await startBerthd();
    importBusybox(d);
  });
  after(async () => {
    await d?.cleanup();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  test('the layer upload starts over and the push completes', async () => {
    assert.equal(d.docker(['tag', 'busybox', `${address}/up/app:1`]).status, 0);
    const r = await d.api('POST', `/v1.45/images/${address}/up/app/push?tag=1`, undefined, { 'X-Registry-Auth': 'e30=' });
    const msgs = lines(r.body);
    assert.ok(msgs.some((m) => m.status === 'Retrying in 1 second'), r.body);
    assert.match(msgs.at(-2).status, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/, r.body);
    assert.equal(patches, 2);
    const diffId = sha(readFileSync(busyboxRootfs()));
    const layerBlob = [...blobs.values()].find((b) => b[0] === 0x1f);
    assert.ok(layerBlob, 'a gzip layer blob arrived');
    const { gunzipSync } = await import('node:zlib');
    assert.equal(sha(gunzipSync(layerBlob)), diffId);
  });
});
