/**
 * What a pull keeps, seen from outside: an image whose layers were gzipped at level 9 by another tool is pulled
 * from berth's registry; berthd keeps the blobs as downloaded and no uncompressed copy of the layer tars. A push to
 * a second registry then sends those very blobs (same digests, not a re-compression), and docker save gives the
 * exact layer tars (their sha256 are the DiffIDs) that docker load takes back to the same image ID.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startBerthd, type Berthd } from './helpers/berthd.js';
import { pushBlob, sha256, spawnRegistry, type SpawnedRegistry } from './registry-harness.js';
import { makeTar } from './layer-helpers.js';

const GZIP_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

describe('distribution: a pull keeps the blobs, not a second copy of the tars', () => {
  let src: SpawnedRegistry;
  let dst: SpawnedRegistry;
  let d: Berthd;
  let tmp: string;
  const tars: Buffer[] = [];
  const blobs: Buffer[] = [];
  let imageId: string;
  let ref: string;

  before(async () => {
    const started = await Promise.allSettled([
      spawnRegistry().then((x) => { src = x; }),
      spawnRegistry().then((x) => { dst = x; }),
      startBerthd().then((x) => { d = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    tmp = mkdtempSync(join(tmpdir(), 'berth-single-pass-'));
    tars.push(await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/motd', data: 'base layer\n' }, { name: 'data/big', data: Buffer.alloc(3 << 20, 'abc') }]));
    tars.push(await makeTar([{ name: 'etc/motd', data: 'top layer\n' }, { name: 'data/.wh.big', data: '' }, { name: 'app/run', data: 'x'.repeat(2 << 20), mode: 0o755 }]));
    for (const t of tars) blobs.push(gzipSync(t, { level: 9 }));
    for (const b of blobs) await pushBlob(src.url, 'up/app', Buffer.from(b));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/app/run'] }, rootfs: { type: 'layers', diff_ids: tars.map(sha256) } }));
    imageId = await pushBlob(src.url, 'up/app', config);
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: imageId, size: config.length },
      layers: blobs.map((b) => ({ mediaType: GZIP_LAYER, digest: sha256(b), size: b.length })),
    });
    const r = await fetch(`${src.url}/v2/up/app/manifests/1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(r.status, 201, await r.text());
    ref = `${src.address}/up/app:1`;
  });
  after(async () => {
    await Promise.all([d?.cleanup(), src?.stop(), dst?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('pull stores each layer once: unpacked, with its blob as downloaded; the content store holds no layer tar', async () => {
    const r = await d.dockerAsync(['pull', ref]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.Id}}', ref]).stdout.trim(), imageId);
    const content = join(d.dataRoot, 'content', 'sha256');
    const stored = readdirSync(content).flatMap((h) => readdirSync(join(content, h)).map((f) => `sha256:${f}`));
    for (const t of tars) assert.ok(!stored.includes(sha256(t)), 'no uncompressed layer tar in the content store');
    const layersRoot = join(d.dataRoot, 'layers');
    const dirs = readdirSync(layersRoot);
    assert.equal(dirs.filter((n) => n.startsWith('tmp-')).length, 0, 'no staging dir left');
    const kept = dirs.map((n) => readFileSync(join(layersRoot, n, 'blob')));
    for (const b of blobs) assert.ok(kept.some((k) => k.equals(b)), 'the blob is kept byte for byte');
  });

  test('push to another registry sends the pulled blobs as they are (same digests)', async () => {
    const other = `${dst.address}/copy/app:1`;
    assert.equal(d.docker(['tag', ref, other]).status, 0);
    const r = await d.dockerAsync(['push', other]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const res = await fetch(`${dst.url}/v2/copy/app/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    const manifest = await res.json() as { config: { digest: string }; layers: { digest: string; size: number }[] };
    assert.equal(manifest.config.digest, imageId);
    assert.deepEqual(manifest.layers.map((l) => l.digest), blobs.map(sha256));
    assert.deepEqual(manifest.layers.map((l) => l.size), blobs.map((b) => b.length));
    assert.equal(d.docker(['rmi', other]).status, 0);
  });

  test('docker save gives the exact layer tars, and docker load takes them back to the same image ID', async () => {
    const archive = join(tmp, 'image.tar');
    const s = d.docker(['save', '-o', archive, ref]);
    assert.equal(s.status, 0, s.stderr);
    const out = join(tmp, 'x');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xf', archive, '-C', out]);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const layerFiles = manifest[0]!.Layers.map((l) => readFileSync(join(out, l)));
    assert.deepEqual(layerFiles.map(sha256), tars.map(sha256));
    assert.equal(d.docker(['rmi', ref]).status, 0);
    const l = d.docker(['load', '-i', archive]);
    assert.equal(l.status, 0, l.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.Id}}', ref]).stdout.trim(), imageId);
  });
});
