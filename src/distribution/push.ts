/**
 * docker push inside berthd: per layer HEAD / cross-repository mount / streamed gzip upload
 * (POST, PATCH, PUT ?digest=), then the config and a Docker schema 2 manifest, with dockerd's
 * progress messages and its final `<tag>: digest: … size: …` line plus the aux record.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGzip, deflateRawSync, constants as zc } from 'node:zlib';
import { NotFoundError } from '../errors/index.js';
import { familiarName, parseReference, type ImageRecord, type Reference } from '../image/index.js';
import { chainIdOf } from '../layer/index.js';
import type { AuthConfig } from './auth-config.js';
import type { KnownBlob } from './blob-metadata.js';
import { registryHost } from './hosts.js';
import { MediaType, dockerManifest, sha256 } from './manifest.js';
import type { DistributionDeps } from './pull.js';
import { ProgressReporter, shortId, statusMessage, type Emit } from './progress.js';
import { RegistryClient, RegistryHttpError, httpError, readBody } from './registry-client.js';

export interface PushRequest {
  /** The image name from the path (`127.0.0.1:5000/team/app`, may carry a tag). */
  name: string;
  /** `tag` query parameter; empty: every tag of the repository. */
  tag?: string;
  auth: AuthConfig;
  emit: Emit;
  signal?: AbortSignal;
}

const UPLOAD_CONCURRENCY = 5;
/** Fast compression (level 6 costs about 3x the CPU for ~10% smaller layers). */
const GZIP_LEVEL = 1;
const SAMPLE = 64 * 1024;

/**
 * Incompressible layers (media, archives, random data) get gzip's stored blocks: the same bytes
 * compression would give, for a fraction of the CPU. Decided from a few samples of the tar, so the
 * same layer always compresses the same way (stable digests on re-push).
 */
async function gzipLevelFor(file: string, size: number): Promise<number> {
  if (size < 16 * SAMPLE) return GZIP_LEVEL;
  const fh = await open(file, 'r');
  try {
    let raw = 0;
    let packed = 0;
    for (const at of [0.1, 0.35, 0.6, 0.85]) {
      const buf = Buffer.alloc(SAMPLE);
      const { bytesRead } = await fh.read(buf, 0, SAMPLE, Math.floor(size * at));
      raw += bytesRead;
      packed += deflateRawSync(buf.subarray(0, bytesRead), { level: 1 }).length;
    }
    return packed > raw * 0.95 ? 0 : GZIP_LEVEL;
  } finally { await fh.close(); }
}

export function translatePushError(err: unknown, client: RegistryClient): unknown {
  if (!(err instanceof RegistryHttpError)) return err;
  // Plain errors (not 401): a 401 makes the docker CLI prompt for a login on stdin.
  if (err.status === 401 && client.missingCredentials && client.challengeScheme === 'basic') {
    return new Error(`Head "${err.url}": no basic auth credentials`);
  }
  return new Error(err.message);
}

export async function pushImage(deps: DistributionDeps, req: PushRequest): Promise<void> {
  const { images } = deps;
  let ref: Reference;
  ref = parseReference(req.name);
  if (ref.digest) throw new NotFoundError(`cannot push a digest reference`);
  const tag = req.tag || ref.tag;
  const name = familiarName(ref);
  const targets: { tag: string; image: ImageRecord }[] = [];
  if (tag) {
    const image = images.tryResolve(`${name}:${tag}`);
    if (!image) throw new NotFoundError(`tag does not exist: ${name}:${tag}`);
    targets.push({ tag, image });
  } else {
    for (const i of images.all()) for (const t of i.repoTags) if (t.slice(0, t.lastIndexOf(':')) === name) targets.push({ tag: t.slice(t.lastIndexOf(':') + 1), image: i });
    if (!targets.length) throw new NotFoundError(`An image does not exist locally with the tag: ${name}`);
    targets.sort((a, b) => a.tag.localeCompare(b.tag));
  }

  const host = registryHost(ref.domain, deps.insecureRegistries);
  // Mount sources: other repositories of this registry we know hold some of these layers.
  const mountFrom = new Set<string>();
  for (const t of targets) {
    const cfg = await images.config(t.image.id);
    for (const d of cfg.rootfs.diff_ids) for (const b of deps.metadata.forLayer(d, host.name)) if (b.repository !== ref.path) mountFrom.add(b.repository);
  }
  const scopes = [`repository:${ref.path}:pull,push`, ...[...mountFrom].slice(0, 10).map((r) => `repository:${r}:pull`)];
  const client = new RegistryClient(host, req.auth, scopes);
  req.emit({ status: `The push refers to repository [${ref.domain}/${ref.path}]` });
  try {
    await client.ping();
    for (const t of targets) await pushTag(deps, client, ref, t.tag, t.image, req.emit, req.signal);
  } catch (e) { throw translatePushError(e, client); }
}

async function pushTag(deps: DistributionDeps, client: RegistryClient, ref: Reference, tag: string, image: ImageRecord, emit: Emit, signal?: AbortSignal): Promise<void> {
  const { images } = deps;
  const cfg = await images.config(image.id);
  const diffIds = cfg.rootfs.diff_ids;
  // dockerd lists layers from the top down.
  const order = diffIds.map((_, i) => diffIds.length - 1 - i);
  for (const i of order) statusMessage(emit, shortId(diffIds[i]), 'Preparing');
  order.forEach((i, n) => { if (n >= UPLOAD_CONCURRENCY) statusMessage(emit, shortId(diffIds[i]), 'Waiting'); });

  const results: { digest: string; size: number; mediaType: string }[] = new Array(diffIds.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < order.length && !failed) {
      const i = order[next++];
      try {
        if (signal?.aborted) throw new Error('push cancelled');
        results[i] = await pushLayer(deps, client, ref, diffIds[i], chainIdOf(diffIds.slice(0, i + 1)), emit, signal);
      } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, order.length) }, worker));
  if (failed) throw failed;

  // Config, then the manifest.
  const configBytes = await images.content.readBytes(image.id);
  const head = await client.fetchBytes('HEAD', `/v2/${ref.path}/blobs/${image.id}`, { allow: [404] });
  if (head.res.statusCode !== 200) await uploadBytes(client, ref, image.id, configBytes);
  const manifest = dockerManifest({ digest: image.id, size: configBytes.length }, results);
  await client.fetchBytes('PUT', `/v2/${ref.path}/manifests/${tag}`, { headers: { 'Content-Type': MediaType.dockerManifest }, body: manifest });
  const digest = sha256(manifest);
  images.addRepoDigest(image.id, `${familiarName(ref)}@${digest}`);
  emit({ status: `${tag}: digest: ${digest} size: ${manifest.length}` });
  emit({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: manifest.length } });
  deps.events.emit('image', 'push', `${familiarName(ref)}:${tag}`, { name: `${familiarName(ref)}:${tag}` });
}

async function pushLayer(deps: DistributionDeps, client: RegistryClient, ref: Reference, diffId: string, chainId: string, emit: Emit, signal?: AbortSignal): Promise<{ digest: string; size: number; mediaType: string }> {
  const id = shortId(diffId);
  const registry = client.host.name;
  const known = deps.metadata.forLayer(diffId, registry);
  const record = (b: Omit<KnownBlob, 'registry' | 'repository'>) => deps.metadata.record(diffId, { ...b, registry, repository: ref.path });

  // 1. Blobs this repository is known to have (HEAD to be sure), then mounts from sibling repositories.
  const tried = new Set<string>();
  for (const b of known.filter((k) => k.repository === ref.path)) {
    if (tried.has(b.digest)) continue;
    tried.add(b.digest);
    const h = await client.fetchBytes('HEAD', `/v2/${ref.path}/blobs/${b.digest}`, { allow: [404] });
    if (h.res.statusCode === 200) {
      statusMessage(emit, id, 'Layer already exists');
      return { digest: b.digest, size: Number(h.res.headers['content-length'] ?? b.size) || b.size, mediaType: b.mediaType };
    }
    deps.metadata.forget(diffId, registry, ref.path, b.digest);
  }
  for (const b of known.filter((k) => k.repository !== ref.path)) {
    const q = `mount=${encodeURIComponent(b.digest)}&from=${encodeURIComponent(b.repository)}`;
    const r = await client.fetchBytes('POST', `/v2/${ref.path}/blobs/uploads/?${q}`, { allow: [201, 202, 401, 403, 404] });
    if (r.res.statusCode === 201) {
      record({ digest: b.digest, size: b.size, mediaType: b.mediaType });
      statusMessage(emit, id, `Mounted from ${b.repository}`);
      return { digest: b.digest, size: b.size, mediaType: b.mediaType };
    }
    if (r.res.statusCode === 202 && r.res.headers.location) {
      await client.fetchBytes('DELETE', r.res.headers.location, { allow: [400, 404, 405] }).catch(() => undefined);
    }
    // The registry still has the blob even if this mount failed? A HEAD in our repository settles it.
    if (!tried.has(b.digest)) {
      tried.add(b.digest);
      const h = await client.fetchBytes('HEAD', `/v2/${ref.path}/blobs/${b.digest}`, { allow: [404] });
      if (h.res.statusCode === 200) {
        record({ digest: b.digest, size: b.size, mediaType: b.mediaType });
        statusMessage(emit, id, 'Layer already exists');
        return { digest: b.digest, size: b.size, mediaType: b.mediaType };
      }
    }
  }

  // 2. The blob this layer was pulled as, when kept: the registry may have it under that digest already, and
  //    otherwise it is sent again byte for byte (same digest as where it came from, no compression work).
  const { content, layers } = deps.images;
  const kept = layers.has(chainId) ? layers.blob(chainId) : undefined;
  const keptGzip = kept && GZIP_TYPES.has(kept.mediaType) ? kept : undefined;
  if (keptGzip && !tried.has(keptGzip.digest)) {
    const h = await client.fetchBytes('HEAD', `/v2/${ref.path}/blobs/${keptGzip.digest}`, { allow: [404] });
    if (h.res.statusCode === 200) {
      record({ digest: keptGzip.digest, size: keptGzip.size, mediaType: MediaType.dockerLayerGzip });
      statusMessage(emit, id, 'Layer already exists');
      return { digest: keptGzip.digest, size: keptGzip.size, mediaType: MediaType.dockerLayerGzip };
    }
  }

  // 3. Upload: POST for a session, PATCH the (gzip) stream while hashing it, PUT ?digest= to commit.
  let total: number;
  let open: () => NodeJS.ReadableStream;
  let level: number | null;
  if (keptGzip) {
    total = keptGzip.size;
    open = () => createReadStream(keptGzip.path, { highWaterMark: 1 << 20 });
    level = null;
  } else if (content.has(diffId)) {
    // A tar kept in the content store (data from older versions).
    total = content.size(diffId);
    open = () => createReadStream(content.path(diffId), { highWaterMark: 1 << 20 });
    level = await gzipLevelFor(content.path(diffId), total);
  } else {
    // The layer store regenerates the exact bytes from its tar-split data.
    if (!layers.reproducible(chainId)) throw new Error(`layer ${diffId} cannot be pushed: its original tar is not kept`);
    total = layers.tarSize(chainId) ?? layers.get(chainId).size;
    level = gzipLevelOf(await tarHead(layers.tar(chainId)));
    open = () => layers.tar(chainId);
  }
  const progress = new ProgressReporter(emit, id, 'Pushing', total);
  for (let attempt = 1; ; attempt++) {
    try {
      const blob = await uploadLayerOnce(client, ref, open, level, progress, signal);
      if (keptGzip && blob.digest !== keptGzip.digest) throw new Error(`layer blob ${keptGzip.digest} changed on disk (read as ${blob.digest})`);
      progress.update(total, true);
      record({ ...blob, mediaType: MediaType.dockerLayerGzip });
      statusMessage(emit, id, 'Pushed');
      return { ...blob, mediaType: MediaType.dockerLayerGzip };
    } catch (e) {
      // A cut connection starts the layer over (a new upload session), as dockerd retries; registry refusals do not.
      if (e instanceof RegistryHttpError || signal?.aborted || attempt >= 3) throw e;
      emit({ status: `Retrying in ${attempt} second${attempt > 1 ? 's' : ''}`, progressDetail: {}, id });
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
}

const GZIP_TYPES = new Set<string>([MediaType.dockerLayerGzip, MediaType.ociLayerGzip]);
const HEAD_BYTES = 1 << 20;

/** The first MiB of a stream (or all of it), then the stream is closed. */
async function tarHead(src: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of src as AsyncIterable<Buffer>) {
    chunks.push(c); n += c.length;
    if (n >= HEAD_BYTES) break;
  }
  return Buffer.concat(chunks);
}

/** As gzipLevelFor, from samples of the tar's first MiB: stored blocks for incompressible data. */
function gzipLevelOf(head: Buffer): number {
  if (head.length < 16 * SAMPLE) return GZIP_LEVEL;
  let raw = 0;
  let packed = 0;
  for (const at of [0.1, 0.35, 0.6, 0.85]) {
    const buf = head.subarray(Math.floor(head.length * at), Math.floor(head.length * at) + SAMPLE);
    raw += buf.length;
    packed += deflateRawSync(buf, { level: 1 }).length;
  }
  return packed > raw * 0.95 ? 0 : GZIP_LEVEL;
}

/** One upload session: POST, PATCH with the (gzip) stream, hashed as it goes, PUT ?digest= to commit. */
async function uploadLayerOnce(
  client: RegistryClient, ref: Reference, open: () => NodeJS.ReadableStream, level: number | null, progress: ProgressReporter, signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const start = await client.fetchBytes('POST', `/v2/${ref.path}/blobs/uploads/`, { allow: [202] });
  let location = start.res.headers.location;
  if (!location) throw new RegistryHttpError(502, undefined, `registry ${client.host.name} started an upload without a Location`, client.absolute(`/v2/${ref.path}/blobs/uploads/`), 'POST');
  location = new URL(location, client.absolute(`/v2/${ref.path}/blobs/uploads/`)).toString();
  progress.update(0, true);
  let read = 0;
  const hash = createHash('sha256');
  let size = 0;
  const src = open();
  const counter = new Transform({ transform(c: Buffer, _e, cb) { read += c.length; progress.update(read); cb(null, c); } });
  const hasher = new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); size += c.length; cb(null, c); } });
  const body = hasher;
  // level null: the source is a gzip blob already, sent as it is.
  const sent = (level === null ? pipeline(src, counter, hasher) : pipeline(src, counter, createGzip({ level, chunkSize: 1 << 20, strategy: zc.Z_DEFAULT_STRATEGY }), hasher))
    .catch((e) => { body.destroy(e); throw e; });
  const abort = () => body.destroy(new Error('push cancelled'));
  signal?.addEventListener('abort', abort);
  const refused = (status?: number) => status !== 202 && status !== 204;
  const patch = client.request('PATCH', location, { headers: { 'Content-Type': 'application/octet-stream' }, body }).then(
    // An early refusal stops the stream (nobody reads it any more), so the pipeline cannot hang.
    (res) => { if (refused(res.statusCode) && !body.writableFinished) body.destroy(new Error('upload refused')); return res; },
    (e) => { body.destroy(e); throw e; },
  );
  const [patchDone, sentDone] = await Promise.allSettled([patch, sent]).finally(() => signal?.removeEventListener('abort', abort));
  if (patchDone.status === 'rejected') { (src as Readable).destroy?.(); throw patchDone.reason; }
  const patchRes = patchDone.value;
  const patchBody = await readBody(patchRes, 1 << 20).catch(() => Buffer.alloc(0));
  if (refused(patchRes.statusCode)) throw httpError(patchRes, patchBody, location, 'PATCH');
  if (sentDone.status === 'rejected') throw sentDone.reason;
  const digest = 'sha256:' + hash.digest('hex');
  const commit = new URL(patchRes.headers.location ?? location, location);
  commit.searchParams.set('digest', digest);
  await client.fetchBytes('PUT', commit.toString(), { allow: [201] });
  return { digest, size };
}

/** A small blob (the config) in one request pair: POST, then PUT ?digest= with the bytes. */
async function uploadBytes(client: RegistryClient, ref: Reference, digest: string, data: Buffer): Promise<void> {
  const start = await client.fetchBytes('POST', `/v2/${ref.path}/blobs/uploads/`, { allow: [202] });
  const location = start.res.headers.location;
  if (!location) throw new Error(`registry ${client.host.name} started an upload without a Location`);
  const u = new URL(location, client.absolute(`/v2/${ref.path}/blobs/uploads/`));
  u.searchParams.set('digest', digest);
  await client.fetchBytes('PUT', u.toString(), { headers: { 'Content-Type': 'application/octet-stream' }, body: data, allow: [201] });
}
