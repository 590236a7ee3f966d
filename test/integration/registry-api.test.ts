import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorCodes, pushBlob, pushImage, sha256, spawnRegistry, type SpawnedRegistry } from './registry-harness.js';

let reg: SpawnedRegistry;
let url: string;

before(async () => { reg = await spawnRegistry(['--max-blob-size', String(8 * 1024 * 1024)]); url = reg.url; });
after(async () => { await reg?.stop(); });

/** Every file in the blob store matches its digest, and no temp file is left: nothing half-written is visible. */
function assertStorageClean(): void {
  const blobs = join(reg.storage, 'blobs');
  for (const alg of readdirSync(blobs)) {
    for (const pre of readdirSync(join(blobs, alg))) {
      for (const hex of readdirSync(join(blobs, alg, pre))) {
        const actual = createHash(alg).update(readFileSync(join(blobs, alg, pre, hex))).digest('hex');
        assert.equal(actual, hex, `blob ${alg}:${hex} holds other bytes`);
      }
    }
  }
  assert.deepEqual(readdirSync(join(reg.storage, 'tmp')), []);
}

function blobStored(digest: string): boolean {
  const [alg, hex] = digest.split(':');
  return existsSync(join(reg.storage, 'blobs', alg, hex.slice(0, 2), hex));
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends a request whose body stops after `sent` of `declared` bytes, then cuts the connection. */
async function cutRequest(method: string, path: string, declared: number, sent: Buffer): Promise<void> {
  const u = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => {
      s.write(`${method} ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
      s.write(sent, () => setTimeout(() => { s.destroy(); resolve(); }, 50));
    });
    s.on('error', reject);
  });
}

test('GET /v2/ answers with the API version header', async () => {
  const r = await fetch(`${url}/v2/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
});

test('monolithic POST ?digest= stores a blob; GET and HEAD serve it with ranges', async () => {
  const data = randomBytes(100_000);
  const digest = sha256(data);
  const p = await fetch(`${url}/v2/blobs/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
  assert.equal(p.status, 201);
  assert.equal(p.headers.get('docker-content-digest'), digest);
  assert.match(p.headers.get('location')!, new RegExp(`/v2/blobs/mono/blobs/${digest}$`));

  const h = await fetch(`${url}/v2/blobs/mono/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('content-length'), '100000');
  assert.equal(h.headers.get('docker-content-digest'), digest);

  const g = await fetch(`${url}/v2/blobs/mono/blobs/${digest}`);
  assert.deepEqual(Buffer.from(await g.arrayBuffer()), data);
  const etag = g.headers.get('etag')!;
  assert.equal((await fetch(`${url}/v2/blobs/mono/blobs/${digest}`, { headers: { 'If-None-Match': etag } })).status, 304);

  const r = await fetch(`${url}/v2/blobs/mono/blobs/${digest}`, { headers: { Range: 'bytes=10-19' } });
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), 'bytes 10-19/100000');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), data.subarray(10, 20));
  const tail = await fetch(`${url}/v2/blobs/mono/blobs/${digest}`, { headers: { Range: 'bytes=-5' } });
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), data.subarray(99_995));
  const bad = await fetch(`${url}/v2/blobs/mono/blobs/${digest}`, { headers: { Range: 'bytes=200000-' } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get('content-range'), 'bytes */100000');
  assert.equal((await bad.json()).errors[0].code, 'RANGE_INVALID', 'the blob is known; the range is what is wrong');

  // Blobs are per repository: another repository does not see it until it mounts it.
  const other = await fetch(`${url}/v2/blobs/other/blobs/${digest}`);
  assert.equal(other.status, 404);
  assert.deepEqual(await errorCodes(other), ['BLOB_UNKNOWN']);
  const mount = await fetch(`${url}/v2/blobs/other/blobs/uploads/?mount=${digest}&from=blobs/mono`, { method: 'POST' });
  assert.equal(mount.status, 201);
  assert.equal(mount.headers.get('docker-content-digest'), digest);
  assert.equal((await fetch(`${url}/v2/blobs/other/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  // Mounting from a repository that lacks the blob starts an ordinary upload instead.
  const noMount = await fetch(`${url}/v2/blobs/third/blobs/uploads/?mount=${sha256('absent')}&from=blobs/mono`, { method: 'POST' });
  assert.equal(noMount.status, 202);
  assert.ok(noMount.headers.get('docker-upload-uuid'));
  assertStorageClean();
});

test('sha512 digests are verified and served too', async () => {
  const data = randomBytes(5000);
  const digest = `sha512:${createHash('sha512').update(data).digest('hex')}`;
  const p = await fetch(`${url}/v2/blobs/sha512/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
  assert.equal(p.status, 201);
  const g = await fetch(`${url}/v2/blobs/sha512/blobs/${digest}`);
  assert.equal(g.headers.get('docker-content-digest'), digest);
  assert.deepEqual(Buffer.from(await g.arrayBuffer()), data);
  const wrong = await fetch(`${url}/v2/blobs/sha512/blobs/uploads/?digest=sha512:${'0'.repeat(128)}`, { method: 'POST', body: data });
  assert.deepEqual(await errorCodes(wrong), ['DIGEST_INVALID']);
  assertStorageClean();
});

test('POST then PUT, and chunked PATCH uploads with Content-Range, status and cancel', async () => {
  const data = randomBytes(300_000);
  const digest = sha256(data);
  const start = await fetch(`${url}/v2/up/chunked/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  assert.equal(start.headers.get('range'), '0-0');
  const uuid = start.headers.get('docker-upload-uuid')!;
  let loc = start.headers.get('location')!;
  assert.ok(loc.endsWith(uuid));

  const p1 = await fetch(loc, { method: 'PATCH', body: data.subarray(0, 100_000), headers: { 'Content-Range': '0-99999', 'Content-Type': 'application/octet-stream' } });
  assert.equal(p1.status, 202);
  assert.equal(p1.headers.get('range'), '0-99999');
  loc = p1.headers.get('location')!;

  // out of order: 416 with the current state
  const ooo = await fetch(loc, { method: 'PATCH', body: data.subarray(150_000, 160_000), headers: { 'Content-Range': '150000-159999' } });
  assert.equal(ooo.status, 416);
  assert.equal(ooo.headers.get('range'), '0-99999');
  await ooo.arrayBuffer();
  // malformed Content-Range
  const mal = await fetch(loc, { method: 'PATCH', body: data.subarray(100_000, 110_000), headers: { 'Content-Range': 'bytes=lots' } });
  assert.equal(mal.status, 400);
  assert.deepEqual(await errorCodes(mal), ['BLOB_UPLOAD_INVALID']);
  // Content-Range that disagrees with the body length
  const len = await fetch(loc, { method: 'PATCH', body: data.subarray(100_000, 110_000), headers: { 'Content-Range': '100000-100009' } });
  assert.equal(len.status, 400);
  assert.deepEqual(await errorCodes(len), ['SIZE_INVALID']);

  const st = await fetch(loc);
  assert.equal(st.status, 204);
  assert.equal(st.headers.get('range'), '0-99999');
  assert.equal(st.headers.get('docker-upload-uuid'), uuid);

  // A PATCH without Content-Range appends (how the docker client streams layers).
  const p2 = await fetch(loc, { method: 'PATCH', body: data.subarray(100_000, 200_000) });
  assert.equal(p2.status, 202);
  assert.equal(p2.headers.get('range'), '0-199999');
  // The last chunk rides on the closing PUT.
  const put = await fetch(`${p2.headers.get('location')}?digest=${digest}`, {
    method: 'PUT', body: data.subarray(200_000), headers: { 'Content-Range': '200000-299999' },
  });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('docker-content-digest'), digest);
  const g = await fetch(`${url}/v2/up/chunked/blobs/${digest}`);
  assert.deepEqual(Buffer.from(await g.arrayBuffer()), data);
  assert.equal((await fetch(loc)).status, 404, 'the closed upload is gone');

  // POST then a monolithic PUT
  const s2 = await fetch(`${url}/v2/up/chunked/blobs/uploads/`, { method: 'POST' });
  const small = Buffer.from('post then put');
  const put2 = await fetch(`${s2.headers.get('location')}?digest=${sha256(small)}`, { method: 'PUT', body: small });
  assert.equal(put2.status, 201);

  // cancel
  const s3 = await fetch(`${url}/v2/up/chunked/blobs/uploads/`, { method: 'POST' });
  const l3 = s3.headers.get('location')!;
  await fetch(l3, { method: 'PATCH', body: Buffer.from('abc') });
  assert.equal((await fetch(l3, { method: 'DELETE' })).status, 204);
  const gone = await fetch(l3);
  assert.equal(gone.status, 404);
  assert.deepEqual(await errorCodes(gone), ['BLOB_UPLOAD_UNKNOWN']);
  // An upload is bound to its repository.
  const s4 = await fetch(`${url}/v2/up/chunked/blobs/uploads/`, { method: 'POST' });
  const foreign = await fetch(`${url}/v2/up/elsewhere/blobs/uploads/${s4.headers.get('docker-upload-uuid')}`);
  assert.deepEqual(await errorCodes(foreign), ['BLOB_UPLOAD_UNKNOWN']);
  const hijack = await fetch(`${url}/v2/up/elsewhere/blobs/uploads/${s4.headers.get('docker-upload-uuid')}?digest=${sha256('')}`, { method: 'PUT' });
  assert.deepEqual(await errorCodes(hijack), ['BLOB_UPLOAD_UNKNOWN']);
  assert.equal((await fetch(s4.headers.get('location')!, { method: 'DELETE' })).status, 204, 'the owner still has the upload');
  assertStorageClean();
});

test('a wrong digest is DIGEST_INVALID and leaves no blob and no upload', async () => {
  const data = Buffer.from('some content');
  const wrong = sha256('other content');
  const r = await fetch(`${url}/v2/bad/digest/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data });
  assert.equal(r.status, 400);
  assert.deepEqual(await errorCodes(r), ['DIGEST_INVALID']);
  assert.equal(blobStored(wrong), false);
  assert.equal(blobStored(sha256(data)), false);

  const s = await fetch(`${url}/v2/bad/digest/blobs/uploads/`, { method: 'POST' });
  const loc = s.headers.get('location')!;
  await fetch(loc, { method: 'PATCH', body: data });
  const put = await fetch(`${loc}?digest=${wrong}`, { method: 'PUT' });
  assert.deepEqual(await errorCodes(put), ['DIGEST_INVALID']);
  assert.equal((await fetch(loc)).status, 404, 'the failed upload is discarded');
  for (const bad of ['sha256:1234', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'A'.repeat(64), 'nodigest']) {
    const x = await fetch(`${url}/v2/bad/digest/blobs/uploads/?digest=${encodeURIComponent(bad)}`, { method: 'POST', body: data });
    assert.equal(x.status, 400, bad);
    assert.deepEqual(await errorCodes(x), ['DIGEST_INVALID'], bad);
  }
  const missing = await fetch(`${url}/v2/bad/digest/blobs/uploads/${(await fetch(`${url}/v2/bad/digest/blobs/uploads/`, { method: 'POST' })).headers.get('docker-upload-uuid')}`, { method: 'PUT' });
  assert.deepEqual(await errorCodes(missing), ['DIGEST_INVALID']);
  assertStorageClean();
});

test('oversized blobs and manifests are refused with SIZE_INVALID', async () => {
  const big = randomBytes(9 * 1024 * 1024);
  const r = await fetch(`${url}/v2/big/one/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: big });
  assert.equal(r.status, 413);
  assert.deepEqual(await errorCodes(r), ['SIZE_INVALID']);
  assert.equal(blobStored(sha256(big)), false);
  const m = await fetch(`${url}/v2/big/one/manifests/huge`, {
    method: 'PUT', body: Buffer.alloc(5 * 1024 * 1024, 32), headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(m.status, 413);
  assert.deepEqual(await errorCodes(m), ['SIZE_INVALID']);
  assertStorageClean();
});

test('a push cut half-way leaves nothing servable, and the retry succeeds', async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const digest = sha256(data);
  // Monolithic upload cut off: no blob, no upload left behind.
  const uploadsBefore = readdirSync(join(reg.storage, 'uploads')).sort().join();
  await cutRequest('POST', `/v2/cut/push/blobs/uploads/?digest=${digest}`, data.length, data.subarray(0, data.length / 2));
  await waitFor(() => readdirSync(join(reg.storage, 'uploads')).sort().join() === uploadsBefore, 'the cut upload to be discarded');
  assert.equal(blobStored(digest), false);
  assert.equal((await fetch(`${url}/v2/cut/push/blobs/${digest}`, { method: 'HEAD' })).status, 404);

  // Chunked upload whose second chunk is cut: the chunk is rolled back, the session survives.
  const s = await fetch(`${url}/v2/cut/push/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(s.headers.get('location')!);
  const half = data.length / 2;
  assert.equal((await fetch(loc, { method: 'PATCH', body: data.subarray(0, half), headers: { 'Content-Range': `0-${half - 1}` } })).status, 202);
  await cutRequest('PATCH', loc.pathname, half, data.subarray(half, half + 1000));
  await waitFor(async () => (await fetch(loc)).headers.get('range') === `0-${half - 1}`, 'the cut chunk to be rolled back');
  assert.equal(statSync(join(reg.storage, 'uploads', s.headers.get('docker-upload-uuid')!, 'data')).size, half);
  assert.equal(blobStored(digest), false);
  // retry the chunk and finish
  const p = await fetch(loc, { method: 'PATCH', body: data.subarray(half), headers: { 'Content-Range': `${half}-${data.length - 1}` } });
  assert.equal(p.status, 202);
  const put = await fetch(`${p.headers.get('location')}?digest=${digest}`, { method: 'PUT' });
  assert.equal(put.status, 201);
  // and a fresh monolithic retry of the same blob succeeds too
  assert.equal(await pushBlob(url, 'cut/push', data), digest);
  const g = await fetch(`${url}/v2/cut/push/blobs/${digest}`);
  assert.equal(createHash('sha256').update(Buffer.from(await g.arrayBuffer())).digest('hex'), digest.slice(7));
  assertStorageClean();
});

test('two clients pushing the same blob at once both succeed', async () => {
  const data = randomBytes(3 * 1024 * 1024);
  const digest = sha256(data);
  const push = async (repo: string): Promise<number> => {
    const s = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    let loc = s.headers.get('location')!;
    for (let off = 0; off < data.length; off += 512 * 1024) {
      const chunk = data.subarray(off, off + 512 * 1024);
      const p = await fetch(loc, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `${off}-${off + chunk.length - 1}` } });
      assert.equal(p.status, 202);
      loc = p.headers.get('location')!;
    }
    return (await fetch(`${loc}?digest=${digest}`, { method: 'PUT' })).status;
  };
  assert.deepEqual(await Promise.all([push('same/a'), push('same/b'), push('same/a')]), [201, 201, 201]);
  for (const repo of ['same/a', 'same/b']) {
    const h = await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(h.headers.get('content-length'), String(data.length));
  }
  assertStorageClean();
});

test('manifests: put by tag, get by tag and digest, refuse missing blobs, negotiate, delete tags', async () => {
  const img = await pushImage(url, 'man/app', 'v1', [Buffer.from('layer one'), Buffer.from('layer two')]);
  const g = await fetch(`${url}/v2/man/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(g.status, 200);
  assert.equal(g.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(g.headers.get('docker-content-digest'), img.digest);
  assert.deepEqual(Buffer.from(await g.arrayBuffer()), img.manifest, 'stored byte for byte');
  const h = await fetch(`${url}/v2/man/app/manifests/${img.digest}`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('content-length'), String(img.manifest.length));

  // a manifest naming a blob the repository lacks
  const missing = JSON.parse(img.manifest.toString());
  missing.layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('never pushed'), size: 12 });
  const r = await fetch(`${url}/v2/man/app/manifests/broken`, { method: 'PUT', body: JSON.stringify(missing), headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(r.status, 400);
  assert.deepEqual(await errorCodes(r), ['MANIFEST_BLOB_UNKNOWN']);
  assert.equal((await fetch(`${url}/v2/man/app/manifests/broken`)).status, 404);
  // blobs of another repository do not count
  const elsewhere = await fetch(`${url}/v2/man/other/manifests/v1`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.deepEqual(await errorCodes(elsewhere), ['MANIFEST_BLOB_UNKNOWN']);
  // digest in the URL must match the body
  const wrong = await fetch(`${url}/v2/man/app/manifests/${sha256('x')}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.deepEqual(await errorCodes(wrong), ['DIGEST_INVALID']);
  const invalid = await fetch(`${url}/v2/man/app/manifests/junk`, { method: 'PUT', body: '{"schemaVersion":2', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.deepEqual(await errorCodes(invalid), ['MANIFEST_INVALID']);

  // an index whose child is missing is refused; with the child present it is stored
  const idx = (children: string[]): string => JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: children.map((d) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: img.manifest.length, platform: { os: 'linux', architecture: 'amd64' } })),
  });
  const badIdx = await fetch(`${url}/v2/man/app/manifests/multi`, { method: 'PUT', body: idx([sha256('nope')]), headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
  assert.deepEqual(await errorCodes(badIdx), ['MANIFEST_BLOB_UNKNOWN']);
  const okIdx = await fetch(`${url}/v2/man/app/manifests/multi`, { method: 'PUT', body: idx([img.digest]), headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
  assert.equal(okIdx.status, 201);
  const asIndex = await fetch(`${url}/v2/man/app/manifests/multi`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(asIndex.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
  await asIndex.arrayBuffer();
  // a client that accepts only image manifests gets the linux/amd64 image
  const asImage = await fetch(`${url}/v2/man/app/manifests/multi`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(asImage.headers.get('docker-content-digest'), img.digest);
  await asImage.arrayBuffer();

  // push by digest with extra tags
  const byDigest = await fetch(`${url}/v2/man/app/manifests/${img.digest}?tag=v2&tag=latest`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(byDigest.status, 201);
  assert.match(byDigest.headers.get('oci-tag') ?? '', /v2.*latest/);

  const tags = async (q = ''): Promise<{ tags: string[]; link: string | null }> => {
    const t = await fetch(`${url}/v2/man/app/tags/list${q}`);
    return { tags: ((await t.json()) as { tags: string[] }).tags, link: t.headers.get('link') };
  };
  assert.deepEqual((await tags()).tags, ['latest', 'multi', 'v1', 'v2']);
  const p1 = await tags('?n=2');
  assert.deepEqual(p1.tags, ['latest', 'multi']);
  assert.equal(p1.link, '</v2/man/app/tags/list?n=2&last=multi>; rel="next"');
  const p2 = await tags('?n=2&last=multi');
  assert.deepEqual(p2.tags, ['v1', 'v2']);
  assert.equal(p2.link, null);
  assert.deepEqual((await tags('?n=0')).tags, []);
  const unknown = await fetch(`${url}/v2/man/nothing/tags/list`);
  assert.equal(unknown.status, 404);
  assert.deepEqual(await errorCodes(unknown), ['NAME_UNKNOWN']);

  // deleting one tag keeps the manifest and its other tags
  assert.equal((await fetch(`${url}/v2/man/app/manifests/v1`, { method: 'DELETE' })).status, 202);
  assert.equal((await fetch(`${url}/v2/man/app/manifests/v1`)).status, 404);
  assert.equal((await fetch(`${url}/v2/man/app/manifests/v2`, { method: 'HEAD' })).status, 200);
  assert.equal((await fetch(`${url}/v2/man/app/manifests/${img.digest}`, { method: 'HEAD' })).status, 200);
  assert.deepEqual((await tags()).tags, ['latest', 'multi', 'v2']);
  // deleting the manifest by digest removes the tags that point at it
  assert.equal((await fetch(`${url}/v2/man/app/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
  assert.deepEqual((await tags()).tags, ['multi']);
  const gone = await fetch(`${url}/v2/man/app/manifests/v2`);
  assert.deepEqual(await errorCodes(gone), ['MANIFEST_UNKNOWN']);
  // blob delete
  assert.equal((await fetch(`${url}/v2/man/app/blobs/${img.layers[0]}`, { method: 'DELETE' })).status, 202);
  assert.equal((await fetch(`${url}/v2/man/app/blobs/${img.layers[0]}`, { method: 'HEAD' })).status, 404);
  assert.equal((await fetch(`${url}/v2/man/app/blobs/${img.layers[0]}`, { method: 'DELETE' })).status, 404);
});

test('Docker schema 2 manifests and manifest lists', async () => {
  const layer = Buffer.from('docker layer');
  const cfg = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const ld = await pushBlob(url, 'docker/img', layer);
  const cd = await pushBlob(url, 'docker/img', cfg);
  const m = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cd, size: cfg.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: ld, size: layer.length }],
  });
  const put = await fetch(`${url}/v2/docker/img/manifests/1`, { method: 'PUT', body: m, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' } });
  assert.equal(put.status, 201);
  const list = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha256(m), size: Buffer.byteLength(m), platform: { architecture: 'amd64', os: 'linux' } }],
  });
  const putList = await fetch(`${url}/v2/docker/img/manifests/list`, { method: 'PUT', body: list, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.list.v2+json' } });
  assert.equal(putList.status, 201);
  const g = await fetch(`${url}/v2/docker/img/manifests/list`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.list.v2+json' } });
  assert.equal(g.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.list.v2+json');
  assert.equal(await g.text(), list);
  const mismatch = await fetch(`${url}/v2/docker/img/manifests/x`, { method: 'PUT', body: m, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.deepEqual(await errorCodes(mismatch), ['MANIFEST_INVALID']);
});

test('referrers API lists manifests whose subject names a digest', async () => {
  const img = await pushImage(url, 'ref/app', 'v1', [Buffer.from('base layer')]);
  const empty = Buffer.from('{}');
  const ed = await pushBlob(url, 'ref/app', empty);
  const sbom = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.sbom',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: ed, size: 2 }, layers: [],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.digest, size: img.manifest.length },
    annotations: { 'org.example': 'yes' },
  });
  const put = await fetch(`${url}/v2/ref/app/manifests/${sha256(sbom)}`, { method: 'PUT', body: sbom, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('oci-subject'), img.digest);
  // a referrer may be pushed before its subject exists
  const orphanSubject = sha256('not yet pushed');
  const sig = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.example.signature', digest: ed, size: 2 }, layers: [],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: orphanSubject, size: 10 },
  });
  assert.equal((await fetch(`${url}/v2/ref/app/manifests/${sha256(sig)}`, { method: 'PUT', body: sig, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })).status, 201);

  const r = await fetch(`${url}/v2/ref/app/referrers/${img.digest}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
  const idx = await r.json() as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
  assert.equal(idx.manifests.length, 1);
  assert.equal(idx.manifests[0].digest, sha256(sbom));
  assert.equal(idx.manifests[0].artifactType, 'application/vnd.example.sbom');
  assert.deepEqual(idx.manifests[0].annotations, { 'org.example': 'yes' });
  const o = await (await fetch(`${url}/v2/ref/app/referrers/${orphanSubject}`)).json() as { manifests: { artifactType: string }[] };
  assert.equal(o.manifests[0].artifactType, 'application/vnd.example.signature', 'artifactType falls back to the config media type');
  const filtered = await fetch(`${url}/v2/ref/app/referrers/${img.digest}?artifactType=application/vnd.other`);
  assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
  assert.deepEqual(((await filtered.json()) as { manifests: unknown[] }).manifests, []);
  const none = await fetch(`${url}/v2/ref/app/referrers/${sha256('nobody')}`);
  assert.equal(none.status, 200);
  await none.arrayBuffer();
  const bad = await fetch(`${url}/v2/ref/app/referrers/sha256:zzz`);
  assert.equal(bad.status, 400);
  await bad.arrayBuffer();
  // deleting the referrer removes it from the list
  await fetch(`${url}/v2/ref/app/manifests/${sha256(sbom)}`, { method: 'DELETE' });
  assert.deepEqual(((await (await fetch(`${url}/v2/ref/app/referrers/${img.digest}`)).json()) as { manifests: unknown[] }).manifests, []);
});

test('catalog paginates with n, last and a Link header; v1 search finds repositories', async () => {
  for (const r of ['cat/a', 'cat/b', 'cat/c']) await pushImage(url, r, 'x', [Buffer.from(r)]);
  const all = ((await (await fetch(`${url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
  assert.ok(['cat/a', 'cat/b', 'cat/c'].every((r) => all.includes(r)));
  assert.deepEqual([...all].sort(), all);
  const p = await fetch(`${url}/v2/_catalog?n=2&last=cat/a`);
  assert.deepEqual(((await p.json()) as { repositories: string[] }).repositories, ['cat/b', 'cat/c']);
  assert.match(p.headers.get('link') ?? '', /^<\/v2\/_catalog\?n=2&last=cat%2Fc>; rel="next"$/);
  const found = await (await fetch(`${url}/v1/search?q=cat/&n=2`)).json() as { num_results: number; results: { name: string }[] };
  assert.equal(found.num_results, 3);
  assert.deepEqual(found.results.map((r) => r.name), ['cat/a', 'cat/b']);
  const bad = await fetch(`${url}/v2/_catalog?n=-1`);
  assert.equal(bad.status, 400);
  await bad.arrayBuffer();
});

test('invalid names and path traversal attempts are refused and touch nothing outside storage', async () => {
  const cases: [string, string, string][] = [
    ['GET', '/v2/UPPER/tags/list', 'NAME_INVALID'],
    ['GET', '/v2/a..b/manifests/latest', 'NAME_INVALID'],
    ['GET', '/v2/../../etc/manifests/passwd', 'NAME_INVALID'],
    ['GET', '/v2/%2e%2e/%2e%2e/etc/manifests/latest', 'NAME_INVALID'],
    ['GET', '/v2/ok/..%2f..%2f..%2fetc/manifests/latest', 'NAME_INVALID'],
    ['POST', '/v2/a/_manifests/blobs/uploads/', 'NAME_INVALID'],
    ['GET', '/v2/ok/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd', 'DIGEST_INVALID'],
    ['GET', '/v2/ok/blobs/sha256%3A..%2F..%2Fpasswd', 'DIGEST_INVALID'],
    ['GET', '/v2/ok/manifests/..%2f..%2fx', 'MANIFEST_UNKNOWN'],
    ['GET', '/v2/ok/manifests/sha256:..%2f..', 'DIGEST_INVALID'],
    ['PATCH', '/v2/ok/blobs/uploads/..%2f..%2f..%2ftmp', 'BLOB_UPLOAD_UNKNOWN'],
    ['PUT', '/v2/ok/manifests/..', 'MANIFEST_INVALID'],
  ];
  for (const [method, path, code] of cases) {
    const u = new URL(url);
    // raw HTTP so nothing normalises the path on the way
    const body = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => {
        s.end(`${method} ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      });
      let out = '';
      s.on('data', (c) => { out += c.toString(); });
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    assert.match(body, /^HTTP\/1\.1 4\d\d /, `${method} ${path}`);
    assert.ok(body.includes(`"code":"${code}"`), `${method} ${path}: ${body.split('\r\n\r\n')[1]}`);
  }
  const names = await fetch(`${url}/v2/${'a'.repeat(300)}/tags/list`);
  assert.deepEqual(await errorCodes(names), ['NAME_INVALID']);
  // the storage root holds only what the registry made
  assert.deepEqual(readdirSync(reg.storage).sort(), ['blobs', 'repositories', 'tmp', 'uploads']);
  assert.ok(!existsSync(join(reg.storage, '..', 'etc')));
  assertStorageClean();
});
