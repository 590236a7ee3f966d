/**
 * docker pull inside berthd: manifest negotiation, platform selection, parallel layer downloads
 * verified while streaming, ordered ingestion into the layer store, and dockerd's progress stream.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { familiarName, ingestLayer, parseReference, type ImageStore, type Reference } from '../image/index.js';
import { chainIdOf, type LayerInfo } from '../layer/index.js';
import type { AuthConfig } from './auth-config.js';
import type { BlobMetadata } from './blob-metadata.js';
import { registryHost } from './hosts.js';
import { MANIFEST_ACCEPT, MediaType, digestOf, parseManifest, parsePlatform, selectPlatform, type Descriptor } from './manifest.js';
import { ProgressReporter, progressBar, shortId, statusMessage, type Emit } from './progress.js';
import { RegistryClient, RegistryHttpError, httpError, readBody } from './registry-client.js';

export interface DistributionDeps {
  images: ImageStore;
  events: EventBus;
  metadata: BlobMetadata;
  /** Downloads in progress (same filesystem as the content store). */
  tmpDir: string;
  insecureRegistries: string[];
}

export interface PullRequest {
  /** `fromImage` (may carry a tag or digest) and the separate `tag` query parameter (tag or digest). */
  fromImage: string;
  tag?: string;
  platform?: string;
  /**
   * A name without tag or digest: pull every tag (the Engine API's reading, `docker pull -a`).
   * Unset, such a name means `:latest` (what programmatic callers such as the builder want).
   */
  allTags?: boolean;
  auth: AuthConfig;
  emit: Emit;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

const DOWNLOAD_CONCURRENCY = 3;
const MAX_MANIFEST = 4 << 20;
const MAX_CONFIG = 64 << 20;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;

/** Docker's reading of fromImage + tag: a digest-looking tag is a digest; nothing means all tags. */
export function pullReference(fromImage: string, tag?: string): { ref: Reference; allTags: boolean } {
  if (!fromImage) throw new InvalidParameterError('invalid reference format');
  let s = fromImage;
  if (tag) s += (DIGEST_RE.test(tag) ? '@' : ':') + tag;
  const ref = parseReference(s);
  return { ref, allTags: !ref.tag && !ref.digest };
}

export function familiarString(ref: Reference): string {
  const name = familiarName(ref);
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
}

/** dockerd's translatePullError: registry error codes become its "not found" / "access denied" texts. */
export function translatePullError(err: unknown, ref: Reference, client?: RegistryClient): unknown {
  if (!(err instanceof RegistryHttpError)) return err;
  const name = familiarName(ref);
  // A plain (500) error, as dockerd's: a 401 makes the docker CLI prompt for a login on stdin.
  if (err.status === 401 && client?.missingCredentials && client.challengeScheme === 'basic') {
    return new Error(`Head "${err.url}": no basic auth credentials`);
  }
  switch (err.code) {
    case 'DENIED':
    case 'UNAUTHORIZED':
      return new NotFoundError(`pull access denied for ${name}, repository does not exist or may require 'docker login': ${err.message}`);
    case 'MANIFEST_UNKNOWN':
      return new NotFoundError(`manifest for ${familiarString(ref)} not found: ${err.message}`);
    case 'NAME_UNKNOWN':
      return new NotFoundError(`repository ${name} not found: ${err.message}`);
    default:
      return err.status === 404 ? new NotFoundError(err.message) : new Error(err.message);
  }
}

export async function pullImage(deps: DistributionDeps, req: PullRequest): Promise<void> {
  const parsed = pullReference(req.fromImage, req.tag);
  const allTags = parsed.allTags && req.allTags === true;
  const ref = parsed.allTags && !allTags ? { ...parsed.ref, tag: 'latest' } : parsed.ref;
  const host = registryHost(ref.domain, deps.insecureRegistries);
  const client = new RegistryClient(host, req.auth, [`repository:${ref.path}:pull`]);
  if (!allTags) {
    await pullOne(deps, client, ref, req);
    return;
  }
  // docker pull -a: every tag of the repository.
  let tags: string[];
  try {
    const { body } = await client.fetchBytes('GET', `/v2/${ref.path}/tags/list`);
    tags = (JSON.parse(body.toString('utf8')).tags ?? []) as string[];
  } catch (e) { throw translatePullError(e, { ...ref, tag: 'latest' }, client); }
  if (!tags.length) throw new NotFoundError(`repository ${familiarName(ref)} not found: no tags`);
  const statuses: string[] = [];
  const quiet: Emit = (m) => { if (m.status?.startsWith('Status: ')) statuses.push(m.status); else req.emit(m); };
  for (const t of tags.sort()) await pullOne(deps, client, { ...ref, tag: t }, { ...req, emit: quiet });
  const any = statuses.some((s) => s.startsWith('Status: Downloaded'));
  req.emit({ status: any ? `Status: Downloaded newer image for ${familiarName(ref)}` : `Status: Image is up to date for ${familiarName(ref)}` });
}

async function pullOne(deps: DistributionDeps, client: RegistryClient, ref: Reference, req: PullRequest): Promise<void> {
  const { images } = deps;
  const name = familiarName(ref);
  const familiarRef = familiarString(ref);
  const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
  const want = parsePlatform(req.platform);

  // Manifest (and, for an index, the platform's manifest). Errors here are HTTP errors: nothing was streamed yet.
  const fetchManifest = async (reference: string): Promise<{ bytes: Buffer; contentType?: string }> => {
    try {
      const { res, body } = await client.fetchBytes('GET', `/v2/${ref.path}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, limit: MAX_MANIFEST });
      if (DIGEST_RE.test(reference) && digestOf(body, reference.split(':')[0]) !== reference) {
        throw new InvalidParameterError(`manifest verification failed for digest ${reference}`);
      }
      return { bytes: body, contentType: res.headers['content-type'] };
    } catch (e) { throw translatePullError(e, ref, client); }
  };
  const top = await fetchManifest(tagOrDigest);
  const manifestDigest = ref.digest ?? digestOf(top.bytes, 'sha256');
  let manifest = parseManifest(top.bytes, top.contentType, name);
  if (manifest.kind === 'index') {
    const pick = selectPlatform(manifest.manifests, want);
    const child = await fetchManifest(pick.digest);
    manifest = parseManifest(child.bytes, child.contentType ?? pick.mediaType, name);
    if (manifest.kind !== 'image') throw new InvalidParameterError(`invalid manifest for ${name}: nested index`);
  }
  const emit = req.emit;
  emit({ status: `Pulling from ${ref.path}`, id: tagOrDigest });

  const configBytes = await fetchBlobBytes(client, ref, manifest.config, MAX_CONFIG);
  const imageId = digestOf(configBytes, 'sha256');
  let config: { rootfs?: { diff_ids?: string[] }; os?: string; architecture?: string };
  try { config = JSON.parse(configBytes.toString('utf8')); } catch { throw new InvalidParameterError(`invalid image config for ${name}`); }
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers = manifest.layers;
  if (diffIds.length !== layers.length) throw new InvalidParameterError(`invalid image ${name}: ${layers.length} layers but the config lists ${diffIds.length} diff_ids`);
  for (const l of layers) {
    if (l.mediaType === MediaType.ociLayerZstd || l.mediaType.endsWith('+zstd')) throw new InvalidParameterError(`unsupported layer media type ${l.mediaType} (zstd)`);
  }

  const existing = images.tryResolve(imageId);
  const haveAll = existing && (!existing.chainId || images.layers.has(existing.chainId));
  if (!haveAll) await fetchLayers(deps, client, ref, layers, diffIds, emit, req.signal);
  for (let i = 0; i < layers.length; i++) {
    deps.metadata.record(diffIds[i], { digest: layers[i].digest, size: layers[i].size, mediaType: layers[i].mediaType, registry: client.host.name, repository: ref.path });
  }

  const rec = existing ?? await images.create(configBytes);
  let updated = !existing;
  if (!ref.digest) {
    const tagged = `${name}:${ref.tag ?? 'latest'}`;
    const prev = images.tryResolve(tagged);
    if (!prev || prev.id !== rec.id) { updated = true; images.tag(rec.id, tagged); }
  }
  images.addRepoDigest(rec.id, `${name}@${manifestDigest}`);
  emit({ status: `Digest: ${manifestDigest}` });
  emit({ status: updated ? `Status: Downloaded newer image for ${familiarRef}` : `Status: Image is up to date for ${familiarRef}` });
  deps.events.emit('image', 'pull', familiarRef, { name: familiarRef });
}

async function fetchBlobBytes(client: RegistryClient, ref: Reference, d: Descriptor, limit: number): Promise<Buffer> {
  let body: Buffer;
  try {
    ({ body } = await client.fetchBytes('GET', `/v2/${ref.path}/blobs/${d.digest}`, { follow: true, limit }));
  } catch (e) { throw translatePullError(e, ref, client); }
  if (digestOf(body, d.digest.split(':')[0]) !== d.digest) throw new InvalidParameterError(`blob verification failed for digest ${d.digest}`);
  return body;
}

/**
 * Downloads the layers not present (by DiffID chain), at most 3 at once, each decompressed straight
 * into the content store as it streams (the exact tar, digest = DiffID, verified); then unpacks them
 * in order from there. Later layers download while earlier ones unpack.
 */
async function fetchLayers(deps: DistributionDeps, client: RegistryClient, ref: Reference, layers: Descriptor[], diffIds: string[], emit: Emit, signal?: AbortSignal): Promise<void> {
  const { images } = deps;
  let present = 0;
  while (present < layers.length && images.layers.has(chainIdOf(diffIds.slice(0, present + 1))) && images.content.has(diffIds[present])) present++;
  for (let i = 0; i < present; i++) statusMessage(emit, shortId(layers[i].digest), 'Already exists');
  const todo = layers.map((_, i) => i).filter((i) => i >= present);
  for (const i of todo) statusMessage(emit, shortId(layers[i].digest), 'Pulling fs layer');
  todo.forEach((i, n) => { if (n >= DOWNLOAD_CONCURRENCY) statusMessage(emit, shortId(layers[i].digest), 'Waiting'); });

  const aborter = new AbortController();
  const onAbort = () => aborter.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort);
  let running = 0;
  const queue: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    if (running < DOWNLOAD_CONCURRENCY) { running++; return; }
    await new Promise<void>((r) => queue.push(r));
  };
  const release = () => { const next = queue.shift(); if (next) next(); else running--; };

  /** Tars this pull put in the content store (removed again if the pull fails before they are layers). */
  const stored = new Set<string>();
  // The first layer streams straight into ingestLayer (tar kept and unpacked in one pass while it
  // downloads); the others download into the content store meanwhile and are unpacked after it.
  const direct = todo[0];
  const directSlot = todo.length ? slot() : undefined;
  const fetches = new Map<number, Promise<void>>();
  const fetchToContent = (i: number): Promise<void> => {
    const p = downloadToContent(deps, client, ref, layers[i], diffIds[i], emit, aborter.signal, stored);
    p.catch(() => aborter.abort(new Error('another layer failed')));
    return p;
  };
  for (const i of todo) {
    if (i === direct) continue;
    const p = (async () => {
      await slot();
      try {
        if (aborter.signal.aborted) throw aborter.signal.reason ?? new Error('pull cancelled');
        await fetchToContent(i);
      } finally { release(); }
    })();
    p.catch(() => undefined);
    fetches.set(i, p);
  }

  try {
    let parentChain: string | null = present ? chainIdOf(diffIds.slice(0, present)) : null;
    for (const i of todo) {
      const id = shortId(layers[i].digest);
      if (i === direct) {
        await directSlot;
        let info: LayerInfo | undefined;
        try {
          info = await streamLayer(deps, client, ref, layers[i], diffIds[i], { chainId: parentChain, diffIds: diffIds.slice(0, i) }, emit, aborter.signal);
          if (!info) await fetchToContent(i);   // the connection broke: again, with retries
        } finally { release(); }
        if (info) {
          parentChain = info.chainId;
          statusMessage(emit, id, 'Pull complete');
          continue;
        }
      } else {
        await fetches.get(i)!;
      }
      const total = images.content.size(diffIds[i]);
      const progress = new ProgressReporter(emit, id, 'Extracting', total);
      let done = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) { done += chunk.length; progress.update(done); cb(null, chunk); },
      });
      const src = createReadStream(images.content.path(diffIds[i]), { highWaterMark: 1 << 20 });
      src.on('error', (e) => counter.destroy(e));
      src.pipe(counter);
      const info = await images.layers.unpack(parentChain, counter, diffIds[i]);
      stored.delete(diffIds[i]);
      parentChain = info.chainId;
      statusMessage(emit, id, 'Pull complete');
    }
  } catch (e) {
    aborter.abort(e);
    await Promise.allSettled(fetches.values());
    const kept = new Set(images.layers.list().map((l) => l.diffId));
    for (const d of stored) if (!kept.has(d)) images.content.delete(d);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Downloads a layer straight into ingestLayer, verifying the blob digest as it streams (the DiffID
 * check covers the content itself). Undefined when the connection broke (the caller retries).
 */
async function streamLayer(
  deps: DistributionDeps, client: RegistryClient, ref: Reference, d: Descriptor, diffId: string,
  parent: { chainId: string | null; diffIds: string[] }, emit: Emit, signal: AbortSignal,
): Promise<LayerInfo | undefined> {
  const id = shortId(d.digest);
  const alg = d.digest.split(':')[0] === 'sha512' ? 'sha512' : 'sha256';
  const url = `/v2/${ref.path}/blobs/${d.digest}`;
  let res;
  try {
    res = await client.request('GET', url, { follow: true });
  } catch (e) {
    if (signal.aborted) throw e;
    return undefined;
  }
  if (res.statusCode !== 200) throw translatePullError(httpError(res, await readBody(res, 1 << 20).catch(() => Buffer.alloc(0)), client.absolute(url), 'GET'), ref, client);
  const total = d.size || Number(res.headers['content-length'] ?? 0);
  const progress = new ProgressReporter(emit, id, 'Downloading', total);
  const hash = createHash(alg);
  let n = 0;
  let broken = false;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) { hash.update(chunk); n += chunk.length; progress.update(n); cb(null, chunk); },
  });
  res.on('error', (e) => { broken = true; counter.destroy(e); });
  res.on('aborted', () => { broken = true; counter.destroy(new Error('connection cut')); });
  const abort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('pull cancelled'));
  signal.addEventListener('abort', abort);
  res.pipe(counter);
  const { content, layers } = deps.images;
  const chainId = chainIdOf([...parent.diffIds, diffId]);
  const hadLayer = layers.has(chainId);
  const hadTar = content.has(diffId);
  let info: LayerInfo;
  try {
    info = await ingestLayer(content, layers, parent, await gunzipped(counter), diffId);
  } catch (e) {
    if (broken && !signal.aborted) return undefined;
    throw e;
  } finally { signal.removeEventListener('abort', abort); }
  statusMessage(emit, id, 'Verifying Checksum');
  if (`${alg}:${hash.digest('hex')}` !== d.digest || (d.size && n !== d.size)) {
    // Unpacked already (it streamed): take back what this download added.
    if (!hadLayer) { try { layers.delete(info.chainId); } catch { /* another image uses it meanwhile */ } }
    if (!hadTar && !layers.list().some((l) => l.diffId === diffId)) content.delete(diffId);
    throw new InvalidParameterError(`filesystem layer verification failed for digest ${d.digest}`);
  }
  statusMessage(emit, id, 'Download complete');
  emit({ status: 'Extracting', progressDetail: { current: n, total }, progress: progressBar(n, total), id });
  return info;
}

/** GET blob → verify its digest while streaming → decompress → content store (verified against the DiffID). */
async function downloadToContent(
  deps: DistributionDeps, client: RegistryClient, ref: Reference, d: Descriptor, diffId: string,
  emit: Emit, signal: AbortSignal, stored: Set<string>,
): Promise<void> {
  const { content } = deps.images;
  const id = shortId(d.digest);
  if (content.has(diffId)) {
    // The tar is here already (an image with this layer was saved or pushed from here): nothing to fetch.
    statusMessage(emit, id, 'Download complete');
    return;
  }
  const alg = d.digest.split(':')[0] === 'sha512' ? 'sha512' : 'sha256';
  const url = `/v2/${ref.path}/blobs/${d.digest}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.request('GET', url, { follow: true });
      if (res.statusCode !== 200) throw httpError(res, await readBody(res, 1 << 20).catch(() => Buffer.alloc(0)), client.absolute(url), 'GET');
      const total = d.size || Number(res.headers['content-length'] ?? 0);
      const progress = new ProgressReporter(emit, id, 'Downloading', total);
      const hash = createHash(alg);
      let n = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) { hash.update(chunk); n += chunk.length; progress.update(n); cb(null, chunk); },
      });
      res.on('error', (e) => counter.destroy(e));
      res.on('aborted', () => counter.destroy(new Error('connection cut while downloading')));
      const abort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('pull cancelled'));
      signal.addEventListener('abort', abort);
      res.pipe(counter);
      let created = false;
      try {
        const tar = await gunzipped(counter);
        const had = content.has(diffId);
        try {
          await content.put(tar, diffId);
        } catch (e) {
          if (e instanceof InvalidParameterError && /digest mismatch/.test(e.message)) {
            throw new InvalidParameterError(`filesystem layer verification failed for digest ${d.digest}: the layer content does not match its diff ID ${diffId}`);
          }
          throw e;
        }
        created = !had;
        if (created) stored.add(diffId);
      } finally { signal.removeEventListener('abort', abort); }
      statusMessage(emit, id, 'Verifying Checksum');
      if (`${alg}:${hash.digest('hex')}` !== d.digest || (d.size && n !== d.size)) {
        if (created) { content.delete(diffId); stored.delete(diffId); }
        throw new InvalidParameterError(`filesystem layer verification failed for digest ${d.digest}`);
      }
      statusMessage(emit, id, 'Download complete');
      return;
    } catch (e) {
      // Network hiccups are retried (as dockerd does, a few times); wrong content and registry answers are not.
      const retriable = !(e instanceof RegistryHttpError) && !(e instanceof InvalidParameterError) && !signal.aborted;
      if (!retriable || attempt >= 3) throw translatePullError(e, ref, client);
      emit({ status: `Retrying in ${attempt} second${attempt > 1 ? 's' : ''}`, progressDetail: {}, id });
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
}

/**
 * The layer's tar: gunzipped when the blob is gzip (whatever its media type says), in 1 MiB chunks
 * (zlib's default 16 KiB chunks cost a write and several callbacks each downstream). zstd is refused.
 */
export async function gunzipped(src: Readable): Promise<Readable> {
  const first: Buffer | null = await new Promise((resolve, reject) => {
    const done = (v: Buffer | null, e?: Error) => { src.off('readable', onReadable); src.off('end', onEnd); src.off('error', onError); if (e) reject(e); else resolve(v); };
    // Put the chunk back in the same tick: a stream that has ended must not emit 'end' in between.
    const onReadable = () => { const c = src.read() as Buffer | null; if (c !== null) { src.unshift(c); done(c); } };
    const onEnd = () => done(null);
    const onError = (e: Error) => done(null, e);
    src.on('readable', onReadable); src.on('end', onEnd); src.on('error', onError);
  });
  if (first === null) return src;
  if (first.length >= 4 && first.readUInt32BE(0) === 0x28b52ffd) {
    src.destroy();
    throw new InvalidParameterError('zstd-compressed layers are not supported');
  }
  if (first[0] !== 0x1f || first[1] !== 0x8b) return src;
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  src.on('error', (e) => gunzip.destroy(e));
  return src.pipe(gunzip);
}
