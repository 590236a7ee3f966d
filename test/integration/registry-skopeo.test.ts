/**
 * A peer nobody here wrote: Debian's skopeo copies images into berth's registry and back out,
 * through docker-archive and OCI layouts, over HTTP and over TLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, spawnRegistry, tempDir, type SpawnedRegistry } from './registry-harness.js';

const hasSkopeo = spawnSync('skopeo', ['--version']).status === 0;
const shared = join(repoRoot, '..', 'shared');
let work: string;
let rootfsDigest: string;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

function skopeo(...args: string[]): string { return sh('skopeo', ['--insecure-policy', ...args]); }

/** A docker-archive (as `docker save` writes) of a busybox rootfs, assembled by hand. */
function buildDockerArchive(dir: string): string {
  const rootfs = join(dir, 'rootfs.tar');
  sh('bash', [join(shared, 'tools', 'make-busybox-rootfs.sh'), rootfs]);
  const layer = readFileSync(rootfs);
  const lhex = createHash('sha256').update(layer).digest('hex');
  rootfsDigest = `sha256:${lhex}`;
  const arch = join(dir, 'archive');
  mkdirSync(arch);
  copyFileSync(rootfs, join(arch, `${lhex}.tar`));
  const config = JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z', config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [rootfsDigest] },
  });
  const chex = createHash('sha256').update(config).digest('hex');
  writeFileSync(join(arch, `${chex}.json`), config);
  writeFileSync(join(arch, 'manifest.json'), JSON.stringify([{ Config: `${chex}.json`, RepoTags: ['busybox:latest'], Layers: [`${lhex}.tar`] }]));
  const out = join(dir, 'busybox.tar');
  sh('tar', ['-C', arch, '-cf', out, '.']);
  return out;
}

/** diff_ids of the image in a docker-archive: the uncompressed layers as they went in. */
function archiveDiffIds(archive: string, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  sh('tar', ['-C', dir, '-xf', archive]);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  const layerDigests = m[0].Layers.map((l) => `sha256:${createHash('sha256').update(readFileSync(join(dir, l))).digest('hex')}`);
  const cfg = JSON.parse(readFileSync(join(dir, m[0].Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(layerDigests, cfg.rootfs.diff_ids, 'layers match the config diff_ids');
  return cfg.rootfs.diff_ids;
}

before(() => { if (hasSkopeo) { work = tempDir('berth-reg-skopeo-'); } });
after(() => { if (work) rmSync(work, { recursive: true, force: true }); });

test('skopeo copies docker-archive and OCI layouts into the registry and back out', { skip: !hasSkopeo && 'skopeo not installed' }, async () => {
  const reg: SpawnedRegistry = await spawnRegistry();
  try {
    const archive = buildDockerArchive(work);
    const a = reg.address;
    skopeo('copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${a}/team/busybox:1`);
    const manifest = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${a}/team/busybox:1`)) as { mediaType: string; layers: { digest: string }[] };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.layers.length, 1);

    // out to an OCI layout, into another repository as an OCI image, and out as a docker-archive
    const layout = join(work, 'oci-layout');
    skopeo('copy', '--src-tls-verify=false', `docker://${a}/team/busybox:1`, `oci:${layout}:v1`);
    assert.ok(existsSync(join(layout, 'index.json')));
    skopeo('copy', '--dest-tls-verify=false', '--format', 'oci', `oci:${layout}:v1`, `docker://${a}/other/busybox-oci:2`);
    const oci = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${a}/other/busybox-oci:2`)) as { mediaType: string; layers: { digest: string }[] };
    assert.equal(oci.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(oci.layers[0].digest, manifest.layers[0].digest, 'the same compressed layer, stored once');

    const back = join(work, 'back.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${a}/other/busybox-oci:2`, `docker-archive:${back}:busybox:back`);
    assert.deepEqual(archiveDiffIds(back, join(work, 'back')), [rootfsDigest], 'the rootfs comes back byte for byte');

    const tags = JSON.parse(skopeo('list-tags', '--tls-verify=false', `docker://${a}/team/busybox`)) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['1']);
    // a second copy of the same image uploads nothing new and keeps the digest
    const before = skopeo('inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${a}/team/busybox:1`).trim();
    skopeo('copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${a}/team/busybox:1`);
    assert.equal(skopeo('inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${a}/team/busybox:1`).trim(), before);
    // skopeo delete removes the manifest
    skopeo('delete', '--tls-verify=false', `docker://${a}/other/busybox-oci:2`);
    assert.throws(() => skopeo('inspect', '--raw', '--tls-verify=false', `docker://${a}/other/busybox-oci:2`));
  } finally {
    await reg.stop();
  }
});

test('skopeo pushes and pulls over TLS with the registry certificate trusted', { skip: !hasSkopeo && 'skopeo not installed' }, async () => {
  const tls = join(work, 'tls');
  mkdirSync(tls, { recursive: true });
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(tls, 'key.pem'), '-out', join(tls, 'cert.pem')]);
  const certs = join(work, 'certs.d');
  mkdirSync(certs, { recursive: true });
  copyFileSync(join(tls, 'cert.pem'), join(certs, 'ca.crt'));
  const reg = await spawnRegistry(['--tls-cert', join(tls, 'cert.pem'), '--tls-key', join(tls, 'key.pem')]);
  try {
    assert.ok(reg.url.startsWith('https://'));
    const archive = existsSync(join(work, 'busybox.tar')) ? join(work, 'busybox.tar') : buildDockerArchive(work);
    skopeo('copy', '--dest-cert-dir', certs, `docker-archive:${archive}`, `docker://${reg.address}/secure/busybox:1`);
    const out = join(work, 'tls-layout');
    skopeo('copy', '--src-cert-dir', certs, `docker://${reg.address}/secure/busybox:1`, `oci:${out}:x`);
    assert.ok(existsSync(join(out, 'index.json')));
    // without trusting the certificate, verification fails
    assert.throws(() => skopeo('inspect', '--raw', `docker://${reg.address}/secure/busybox:1`));
  } finally {
    await reg.stop();
  }
});
