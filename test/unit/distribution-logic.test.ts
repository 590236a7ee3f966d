/** Pure pieces of the distribution client: credentials, challenges, host rules, references, progress texts, platforms. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAuthHeader, parseChallenges, registryHost, isInsecure, normaliseRegistryName, humanSize, progressBar,
  selectPlatform, parsePlatform, parseManifest, dockerManifest, pullReference, familiarString,
} from '../../src/distribution/index.js';

test('X-Registry-Auth: base64url JSON, config.json auth field, garbage means no credentials', () => {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.deepEqual(decodeAuthHeader(enc({ username: 'alice', password: 'p?>~', serveraddress: '127.0.0.1:5000' })),
    { username: 'alice', password: 'p?>~', auth: undefined, serveraddress: '127.0.0.1:5000', identitytoken: undefined, registrytoken: undefined });
  const a = decodeAuthHeader(enc({ auth: Buffer.from('bob:x:y').toString('base64') }));
  assert.equal(a.username, 'bob');
  assert.equal(a.password, 'x:y');
  assert.deepEqual(decodeAuthHeader('%%%not-base64'), {});
  assert.deepEqual(decodeAuthHeader(undefined), {});
  assert.deepEqual(decodeAuthHeader(Buffer.from('{}').toString('base64')).username, undefined);
});

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
  assert.deepEqual(parseChallenges(undefined), []);
});

test('registry hosts: Docker Hub, loopback is insecure, --insecure-registry by name or CIDR', () => {
  assert.deepEqual(registryHost('docker.io'), { name: 'docker.io', apiHost: 'registry-1.docker.io', insecure: false });
  assert.equal(normaliseRegistryName('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normaliseRegistryName('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  assert.equal(normaliseRegistryName(''), 'docker.io');
  assert.equal(isInsecure('127.0.0.1:5000', []), true);
  assert.equal(isInsecure('127.3.2.1', []), true);
  assert.equal(isInsecure('localhost:5000', []), true);
  assert.equal(isInsecure('[::1]:5000', []), true);
  assert.equal(isInsecure('registry.example.com', []), false);
  assert.equal(isInsecure('10.1.2.3:5000', []), false);
  assert.equal(isInsecure('10.1.2.3:5000', ['10.0.0.0/8']), true);
  assert.equal(isInsecure('reg.lan:5000', ['reg.lan:5000']), true);
  assert.equal(isInsecure('reg.lan:5001', ['reg.lan:5000']), false);
  assert.equal(isInsecure('reg.lan:5001', ['reg.lan']), true);
});

test('fromImage + tag as dockerd reads them', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  assert.deepEqual(pullReference('127.0.0.1:5000/team/app', '1').ref, { domain: '127.0.0.1:5000', path: 'team/app', tag: '1', digest: undefined });
  assert.equal(pullReference('docker.io/library/busybox', d).ref.digest, d);
  assert.equal(pullReference('busybox', '').allTags, true);
  assert.equal(familiarString(pullReference('docker.io/library/busybox', 'latest').ref), 'busybox:latest');
  assert.equal(familiarString(pullReference('127.0.0.1:5000/x', d).ref), `127.0.0.1:5000/x@${d}`);
  assert.throws(() => pullReference('UPPER/case', '1'), /invalid reference format/);
});

test('progress texts as docker-units and jsonmessage print them', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(32500), '32.5kB');
  assert.equal(humanSize(1234567), '1.235MB');
  assert.equal(humanSize(52428800), '52.43MB');
  assert.equal(progressBar(0, 0), '');
  assert.equal(progressBar(50, 100), `[=========================>                         ]      50B/100B`);
  assert.equal(progressBar(100, 100), `[==================================================>]     100B/100B`);
});

test('platform selection from an index skips attestations and other platforms', () => {
  const m = (digit: string, platform: object) => ({ mediaType: 'x', digest: 'sha256:' + digit.repeat(64), size: 1, platform });
  const list = [m('1', { os: 'linux', architecture: 'arm64', variant: 'v8' }), m('2', { os: 'unknown', architecture: 'unknown' }), m('3', { os: 'linux', architecture: 'amd64' })];
  assert.equal(selectPlatform(list, parsePlatform(undefined)).digest, 'sha256:' + '3'.repeat(64));
  assert.equal(selectPlatform(list, parsePlatform('linux/arm64')).digest, 'sha256:' + '1'.repeat(64));
  assert.throws(() => selectPlatform(list, parsePlatform('linux/s390x')), /no matching manifest for linux\/s390x in the manifest list entries/);
});

test('manifests: schema 2 written like dockerd, schema 1 refused', () => {
  const cfg = { digest: 'sha256:' + 'c'.repeat(64), size: 10 };
  const bytes = dockerManifest(cfg, [{ digest: 'sha256:' + 'd'.repeat(64), size: 20 }]);
  assert.ok(bytes.toString().startsWith('{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.v2+json"'));
  const parsed = parseManifest(bytes, undefined, 'x');
  assert.equal(parsed.kind, 'image');
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), undefined, 'old/image'), /schema 1 support has been removed/);
});

test('layer streams are gunzipped when they are gzip, passed through otherwise, however they arrive', async () => {
  const { PassThrough } = await import('node:stream');
  const { gzipSync } = await import('node:zlib');
  const { randomBytes } = await import('node:crypto');
  const { decompressed: gunzipped } = await import('../../src/layer/unpack.js');
  for (const size of [100, 20_000, 2_000_000]) {
    for (const gz of [true, false]) {
      const data = randomBytes(size);
      const body = gz ? gzipSync(data) : data;
      // Everything at once and already ended (a tiny layer), or in pieces over time.
      for (const slow of [false, true]) {
        const src = new PassThrough();
        if (!slow) src.end(body);
        else void (async () => { for (let o = 0; o < body.length; o += 65536) { src.write(body.subarray(o, o + 65536)); await new Promise((r) => setImmediate(r)); } src.end(); })();
        const chunks: Buffer[] = [];
        for await (const c of await gunzipped(src)) chunks.push(c as Buffer);
        assert.ok(Buffer.concat(chunks).equals(data), `size ${size} gzip ${gz} slow ${slow}`);
      }
    }
  }
  const zstd = new PassThrough();
  zstd.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
  await assert.rejects(gunzipped(zstd), /zstd-compressed layers are not supported/);
});

test('compression is told by its magic bytes, and a tar whose first name starts "BZh" is still a tar', async () => {
  const { compressionOf } = await import('../../src/layer/unpack.js');
  const { gzipSync } = await import('node:zlib');
  assert.equal(compressionOf(gzipSync(Buffer.from('x'))), 'gzip');
  assert.equal(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), 'zstd');
  assert.equal(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4])), 'xz');
  assert.equal(compressionOf(Buffer.from('BZh91AY&SY\x00\x00', 'latin1')), 'bzip2');
  const tarHead = Buffer.alloc(512);
  tarHead.write('BZhello.txt');
  tarHead.write('ustar', 257);
  assert.equal(compressionOf(tarHead), undefined);
  assert.equal(compressionOf(Buffer.alloc(0)), undefined);
});
