import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaType, parseManifest, RegistryError } from '../../src/registry/index.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

test('an OCI image manifest yields its config and layers, and its subject', () => {
  const m = parseManifest(json({
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('a'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 3 }],
    subject: { mediaType: MediaType.ociManifest, digest: d('c'), size: 4 },
    annotations: { k: 'v' },
  }), MediaType.ociManifest);
  assert.deepEqual(m.blobs.map((b) => b.digest), [d('a'), d('b')]);
  assert.equal(m.subject?.digest, d('c'));
  assert.equal(m.configMediaType, 'application/vnd.oci.image.config.v1+json');
});

test('foreign layers with URLs are not required in the registry', () => {
  const m = parseManifest(json({
    schemaVersion: 2, mediaType: MediaType.dockerManifest,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('a'), size: 2 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: d('b'), size: 3, urls: ['https://example.invalid/x'] }],
  }), undefined);
  assert.deepEqual(m.blobs.map((b) => b.digest), [d('a')]);
});

test('an index without mediaType is recognised by its manifests field', () => {
  const m = parseManifest(json({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: d('e'), size: 9 }] }), 'application/json');
  assert.equal(m.mediaType, MediaType.ociIndex);
  assert.equal(m.children.length, 1);
});

test('invalid manifests are MANIFEST_INVALID', () => {
  const bad = (bytes: Buffer, ct?: string): void => assert.throws(() => parseManifest(bytes, ct),
    (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_INVALID', bytes.toString().slice(0, 80));
  bad(Buffer.from('{not json'));
  bad(json([1, 2]));
  bad(json({ schemaVersion: 1, name: 'x' }));
  bad(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: 'sha256:nope', size: 1 }, layers: [] }));
  bad(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: d('a'), size: -1 }, layers: [] }));
  bad(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: d('a'), size: 1 } }));
  bad(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: d('a'), size: 1 }, layers: [] }), MediaType.dockerManifest);
  bad(json({ schemaVersion: 2, mediaType: 'application/x-unknown' }));
});
