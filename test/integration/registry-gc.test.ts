/**
 * berth-registry gc: removes blobs no manifest references, lists them on a dry run, keeps what
 * is young, and stays safe while the registry serves and pushes run. Stale uploads expire.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { distDir, errorCodes, pushBlob, pushImage, registryBin, sha256, spawnRegistry, type SpawnedRegistry } from './registry-harness.js';

const run = promisify(execFile);
let reg: SpawnedRegistry;
before(async () => { reg = await spawnRegistry(); });
after(async () => { await reg?.stop(); });

async function gc(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [registryBin, 'gc', '--storage', reg.storage, ...args], { env: { ...process.env, BERTH_DIST: distDir } });
  return stdout;
}

function blobFile(digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(reg.storage, 'blobs', alg, hex.slice(0, 2), hex);
}

function age(digest: string, seconds: number): void {
  const t = new Date(Date.now() - seconds * 1000);
  utimesSync(blobFile(digest), t, t);
}

test('gc removes unreferenced blobs only, after a dry run that changes nothing', async () => {
  const shared = randomBytes(1000);
  const a = await pushImage(reg.url, 'gc/a', '1', [shared, randomBytes(500)]);
  const b = await pushImage(reg.url, 'gc/b', '1', [shared, randomBytes(700)]);
  const orphan = await pushBlob(reg.url, 'gc/a', randomBytes(300));
  assert.equal((await fetch(`${reg.url}/v2/gc/b/manifests/${b.digest}`, { method: 'DELETE' })).status, 202);
  const garbage = [orphan, b.layers[1], b.config, b.digest].sort();
  const kept = [a.digest, a.config, ...a.layers];

  // Everything is young: the default grace period keeps it all.
  const young = await gc();
  assert.match(young, /0 blobs removed/);
  for (const d of garbage) assert.ok(existsSync(blobFile(d)), d);

  const dry = await gc('--dry-run', '--grace-period', '0');
  const listed = [...dry.matchAll(/would remove (sha256:[a-f0-9]{64})/g)].map((m) => m[1]).sort();
  assert.deepEqual(listed, garbage);
  for (const d of garbage) assert.ok(existsSync(blobFile(d)), `dry run kept ${d}`);

  const real = await gc('--grace-period', '0');
  assert.deepEqual([...real.matchAll(/removed (sha256:[a-f0-9]{64})/g)].map((m) => m[1]).sort(), garbage);
  for (const d of garbage) assert.ok(!existsSync(blobFile(d)), `removed ${d}`);
  for (const d of kept) assert.ok(existsSync(blobFile(d)), `kept ${d}`);
  // image a still pulls completely, shared layer included
  const g = await fetch(`${reg.url}/v2/gc/a/manifests/1`);
  assert.equal(g.headers.get('docker-content-digest'), a.digest);
  await g.arrayBuffer();
  for (const d of [a.config, ...a.layers]) {
    const r = await fetch(`${reg.url}/v2/gc/a/blobs/${d}`);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), d);
  }
  assert.equal((await fetch(`${reg.url}/v2/gc/b/blobs/${b.layers[1]}`, { method: 'HEAD' })).status, 404);
  // gc left nothing in tmp
  assert.deepEqual(readdirSync(join(reg.storage, 'tmp')), []);
});

test('gc while pushes run: a manifest is either refused or complete, never dangling', async () => {
  // Old, unreferenced blobs that pushes will name in manifests while gc tries to sweep them.
  const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const config = await pushBlob(reg.url, 'gc/race', cfg);
  const layers: { digest: string; size: number }[] = [];
  for (let i = 0; i < 150; i++) {
    const data = randomBytes(200 + i);
    layers.push({ digest: await pushBlob(reg.url, 'gc/race', data), size: data.length });
  }
  for (const l of layers) age(l.digest, 7200);
  age(config, 7200);

  const pushes = (async () => {
    // give the gc process time to start, so its sweep overlaps the pushes
    await new Promise((r) => setTimeout(r, 250));
    const results: { tag: string; status: number; codes: string[] }[] = [];
    for (let i = 0; i < layers.length; i++) {
      const m = JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: cfg.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layers[i] }],
      });
      const r = await fetch(`${reg.url}/v2/gc/race/manifests/t${i}`, { method: 'PUT', body: m, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
      results.push({ tag: `t${i}`, status: r.status, codes: r.status === 201 ? [] : await errorCodes(r) });
    }
    return results;
  })();
  const sweeps = (async () => { for (let i = 0; i < 2; i++) await gc('--grace-period', '60'); })();
  const [results] = await Promise.all([pushes, sweeps]);
  if (process.env.BERTH_DEBUG) console.log(results.map((r) => r.status).join(" "), reg.stderr());

  for (const r of results) {
    if (r.status !== 201) { assert.deepEqual(r.codes, ['MANIFEST_BLOB_UNKNOWN'], r.tag); continue; }
    const man = await (await fetch(`${reg.url}/v2/gc/race/manifests/${r.tag}`)).json() as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [man.config.digest, ...man.layers.map((l) => l.digest)]) {
      assert.equal((await fetch(`${reg.url}/v2/gc/race/blobs/${d}`, { method: 'HEAD' })).status, 200, `${r.tag} references ${d}, which must exist`);
    }
  }
  // and a gc after the pushes keeps everything the accepted manifests reference
  await gc('--grace-period', '0');
  for (const r of results.filter((x) => x.status === 201)) {
    const g = await fetch(`${reg.url}/v2/gc/race/manifests/${r.tag}`);
    const man = await g.json() as { layers: { digest: string }[] };
    assert.equal((await fetch(`${reg.url}/v2/gc/race/blobs/${man.layers[0].digest}`, { method: 'HEAD' })).status, 200);
  }
});

test('gc --delete-untagged removes manifests no tag reaches, keeping index children and referrers', async () => {
  const x = await pushImage(reg.url, 'gc/untag', 'latest', [randomBytes(400)]);
  const y = await pushImage(reg.url, 'gc/untag', 'latest', [randomBytes(400)]); // x is now untagged
  const child = await pushImage(reg.url, 'gc/untag', 'child-tmp', [randomBytes(300)]);
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child.digest, size: child.manifest.length }] });
  assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/multi`, { method: 'PUT', body: index, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } })).status, 201);
  assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/child-tmp`, { method: 'DELETE' })).status, 202); // child reachable only via the index
  const cfg = Buffer.from('{}');
  const cd = await pushBlob(reg.url, 'gc/untag', cfg);
  const sig = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.example.sig', digest: cd, size: 2 }, layers: [],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: y.digest, size: y.manifest.length } });
  assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/${sha256(sig)}`, { method: 'PUT', body: sig, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })).status, 201);

  assert.doesNotMatch(await gc('--delete-untagged', '--dry-run'), /would delete manifest/, 'young manifests are kept by the grace period');
  const dry = await gc('--delete-untagged', '--dry-run', '--grace-period', '0');
  assert.deepEqual([...dry.matchAll(/would delete manifest (\S+)/g)].map((m) => m[1]), [`gc/untag@${x.digest}`]);
  assert.ok(dry.includes(`would remove ${x.layers[0]}`));
  assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/${x.digest}`, { method: 'HEAD' })).status, 200, 'dry run deletes nothing');

  const real = await gc('--delete-untagged', '--grace-period', '0');
  assert.ok(real.includes(`deleted manifest gc/untag@${x.digest}`));
  assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/${x.digest}`, { method: 'HEAD' })).status, 404);
  assert.ok(!existsSync(blobFile(x.layers[0])));
  for (const d of [y.digest, child.digest, sha256(sig)]) {
    assert.equal((await fetch(`${reg.url}/v2/gc/untag/manifests/${d}`, { method: 'HEAD' })).status, 200, d);
  }
  for (const d of [...y.layers, ...child.layers, cd]) assert.ok(existsSync(blobFile(d)), d);
});

test('stale uploads expire, in the server and in gc', async () => {
  const s = await fetch(`${reg.url}/v2/gc/up/blobs/uploads/`, { method: 'POST' });
  const id = s.headers.get('docker-upload-uuid')!;
  const old = new Date(Date.now() - 3 * 86400_000);
  utimesSync(join(reg.storage, 'uploads', id, 'info.json'), old, old);
  const out = await gc();
  assert.match(out, /1 stale uploads removed/);
  assert.equal(existsSync(join(reg.storage, 'uploads', id)), false);

  const quick = await spawnRegistry(['--upload-expiry', '1']);
  try {
    const u = await fetch(`${quick.url}/v2/gc/up/blobs/uploads/`, { method: 'POST' });
    const loc = u.headers.get('location')!;
    assert.equal((await fetch(loc)).status, 204);
    const end = Date.now() + 10_000;
    let status = 204;
    while (status !== 404 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await fetch(loc)).status;
    }
    assert.equal(status, 404, 'an idle upload expires');
  } finally {
    await quick.stop();
  }
});
