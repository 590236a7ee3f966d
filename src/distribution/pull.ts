/**
 * docker pull inside berthd: manifest negotiation, platform selection, parallel layer downloads
 * verified while streaming, ordered ingestion into the layer store, and dockerd's progress stream.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { openSync, writeSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { familiarName, parseReference, type ImageStore, type Reference } from '../image/index.js';
import { WritebackCounter, chainIdOf, closeAfterWriteback, type LayerStaging, type LayerStore } from '../layer/index.js';
import type { AuthConfig } from './auth-config.js';
import type { BlobMetadata } from './blob-metadata.js';
import { registryHost } from './hosts.js';
import { MANIFEST_ACCEPT, MediaType, digestOf, parseManifest, parsePlatform, selectPlatform, type Descriptor, type Platform } from './manifest.js';
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
  const fetchManifest = (reference: string) => fetchVerifiedManifest(client, ref, reference);
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

/** A manifest by tag or digest (checked against a digest), with dockerd's pull errors. */
async function fetchVerifiedManifest(client: RegistryClient, ref: Reference, reference: string): Promise<{ bytes: Buffer; contentType?: string }> {
  try {
    const { res, body } = await client.fetchBytes('GET', `/v2/${ref.path}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, limit: MAX_MANIFEST });
    if (DIGEST_RE.test(reference) && digestOf(body, reference.split(':')[0]) !== reference) {
      throw new InvalidParameterError(`manifest verification failed for digest ${reference}`);
    }
    return { bytes: body, contentType: res.headers['content-type'] };
  } catch (e) { throw translatePullError(e, ref, client); }
}

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Platform[];
}

/**
 * GET /distribution/{name}/json, as dockerd answers it: the descriptor of the manifest a name
 * resolves to in its registry, and the platforms it serves (an index's entries, or an image
 * manifest's config), without pulling anything.
 */
export async function inspectDistribution(deps: Pick<DistributionDeps, 'insecureRegistries'>, name: string, auth: AuthConfig): Promise<DistributionInspect> {
  const { ref: parsed } = pullReference(name);
  const ref = parsed.tag || parsed.digest ? parsed : { ...parsed, tag: 'latest' };
  const client = new RegistryClient(registryHost(ref.domain, deps.insecureRegistries), auth, [`repository:${ref.path}:pull`]);
  const top = await fetchVerifiedManifest(client, ref, ref.digest ?? ref.tag!);
  const manifest = parseManifest(top.bytes, top.contentType, familiarName(ref));
  const Descriptor = { mediaType: manifest.mediaType, digest: ref.digest ?? digestOf(top.bytes, 'sha256'), size: top.bytes.length };
  if (manifest.kind === 'index') {
    return { Descriptor, Platforms: manifest.manifests.flatMap((m) => (m.platform ? [m.platform] : [])) };
  }
  const config = JSON.parse((await fetchBlobBytes(client, ref, manifest.config, MAX_CONFIG)).toString('utf8'));
  const platform: Platform = { architecture: config.architecture ?? '', os: config.os ?? '' };
  if (config['os.version']) platform['os.version'] = config['os.version'];
  if (config['os.features']) platform['os.features'] = config['os.features'];
  if (config.variant) platform.variant = config.variant;
  return { Descriptor, Platforms: [platform] };
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
 * Downloads the layers not present (by ChainID), at most 3 at once, in a single pass each: while the blob streams in,
 * its digest is computed, it is kept as downloaded (push sends it again as it is), and it is handed to a worker thread
 * that gunzips it straight into a staged layer directory (DiffID computed and checked, tar-split kept for save and
 * push). Layer directories do not depend on each other, so layers unpack in parallel; once all are in, they are
 * committed in order (one flush to disk, then each recorded on its parent). Nothing is written twice or read back.
 */
async function fetchLayers(deps: DistributionDeps, client: RegistryClient, ref: Reference, layers: Descriptor[], diffIds: string[], emit: Emit, signal?: AbortSignal): Promise<void> {
  const store = deps.images.layers;
  let present = 0;
  while (present < layers.length && store.has(chainIdOf(diffIds.slice(0, present + 1)))) present++;
  for (let i = 0; i < present; i++) statusMessage(emit, shortId(layers[i].digest), 'Already exists');
  const todo = layers.map((_, i) => i).filter((i) => i >= present);
  for (const i of todo) statusMessage(emit, shortId(layers[i].digest), 'Pulling fs layer');
  todo.forEach((i, n) => { if (n >= DOWNLOAD_CONCURRENCY) statusMessage(emit, shortId(layers[i].digest), 'Waiting'); });

  const aborter = new AbortController();
  const onAbort = () => aborter.abort(signal?.reason ?? new Error('pull cancelled'));
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort);
  const staged: (LayerStaging | undefined)[] = new Array(layers.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < todo.length && failure === undefined) {
      const i = todo[next++];
      try {
        staged[i] = await fetchLayer(deps, client, ref, layers[i], diffIds[i], emit, aborter.signal);
      } catch (e) {
        if (failure === undefined) { failure = e; aborter.abort(e); }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(DOWNLOAD_CONCURRENCY, todo.length) }, worker));
    // Layers that arrived intact on top of what is here are kept even when a later one failed (as dockerd does).
    let upTo = present;
    while (upTo < layers.length && staged[upTo]) upTo++;
    if (upTo > present) {
      const parent = present ? chainIdOf(diffIds.slice(0, present)) : null;
      await store.commit(parent, staged.slice(present, upTo) as LayerStaging[]);
      if (failure === undefined) for (let i = present; i < upTo; i++) statusMessage(emit, shortId(layers[i].digest), 'Pull complete');
    }
    if (failure !== undefined) throw failure;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(staged.map((s) => s && store.discard(s)));
  }
}

/** One layer into a fresh staging, retrying a broken connection (as dockerd does, a few times). */
async function fetchLayer(deps: DistributionDeps, client: RegistryClient, ref: Reference, d: Descriptor, diffId: string, emit: Emit, signal: AbortSignal): Promise<LayerStaging> {
  const store = deps.images.layers;
  const id = shortId(d.digest);
  for (let attempt = 1; ; attempt++) {
    const staged = store.staging();
    let broken = false;
    try {
      await downloadInto(client, ref, d, diffId, staged, store, emit, signal, () => { broken = true; });
      statusMessage(emit, id, 'Download complete');
      emit({ status: 'Extracting', progressDetail: { current: d.size, total: d.size }, progress: progressBar(d.size, d.size), id });
      return staged;
    } catch (e) {
      await store.discard(staged);
      // Network hiccups are retried; wrong content, registry answers and a cancelled pull are not.
      const retriable = broken && !(e instanceof RegistryHttpError) && !signal.aborted;
      if (!retriable || attempt >= 3) throw signal.aborted && signal.reason instanceof Error && signal.reason !== e && !(e instanceof InvalidParameterError) ? signal.reason : translatePullError(e, ref, client);
      emit({ status: `Retrying in ${attempt} second${attempt > 1 ? 's' : ''}`, progressDetail: {}, id });
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
}

/** Blob bytes are handed on in pieces of this size: each piece costs one zlib job, one hash call, one write. */
const PIECE = 1 << 20;

/**
 * GET the blob; as it streams: hash it, write it to the staging's blob file, gunzip it into the staged layer. The
 * digest (and size) is checked when the last byte is in, before the layer can be committed. `onBroken` is called when
 * the connection (not the content) failed.
 */
async function downloadInto(
  client: RegistryClient, ref: Reference, d: Descriptor, diffId: string, staged: LayerStaging, store: LayerStore,
  emit: Emit, signal: AbortSignal, onBroken: () => void,
): Promise<void> {
  const id = shortId(d.digest);
  const alg = d.digest.split(':')[0] === 'sha512' ? 'sha512' : 'sha256';
  const url = `/v2/${ref.path}/blobs/${d.digest}`;
  let res: IncomingMessage;
  try {
    res = await client.request('GET', url, { follow: true });
  } catch (e) {
    if (!(e instanceof RegistryHttpError)) onBroken();
    throw e;
  }
  if (res.statusCode !== 200) throw httpError(res, await readBody(res, 1 << 20).catch(() => Buffer.alloc(0)), client.absolute(url), 'GET');
  const total = d.size || Number(res.headers['content-length'] ?? 0);
  const progress = new ProgressReporter(emit, id, 'Downloading', total);
  const hash = createHash(alg);
  const blobFd = openSync(staged.blobPath, 'w');
  const writeback = new WritebackCounter(blobFd);
  let blobOpen = true;
  const closeBlob = () => { if (blobOpen) { blobOpen = false; closeAfterWriteback(blobFd); } };
  // The layer store unpacks on a worker thread from the pieces handed over (gunzip there too: whatever the media
  // type says, gzip is detected from the bytes).
  const feed = store.stageOffThread(staged, diffId);
  let stopping = false;
  let verifyError: InvalidParameterError | undefined;
  let n = 0;
  let piece = Buffer.allocUnsafe(PIECE);
  let fill = 0;
  /** A piece: hashed, appended to the blob file, then handed to the unpacker (transferred: unusable after). */
  const pass = (b: Buffer, cb: (e?: Error | null) => void) => {
    try {
      hash.update(b);
      for (let off = 0; off < b.length;) off += writeSync(blobFd, b, off, b.length - off);
      writeback.wrote(b.length);
    } catch (e) { return cb(e as Error); }
    feed.write(b, true).then(() => cb(), cb);
  };
  const body = new Writable({
    highWaterMark: PIECE,
    write(chunk: Buffer, _e, cb) {
      n += chunk.length;
      progress.update(n);
      let off = 0;
      // Copy into the current piece; when it is full, hand it on and continue once there is room.
      const more = (e?: Error | null): void => {
        if (e) return cb(e);
        while (off < chunk.length) {
          const k = Math.min(PIECE - fill, chunk.length - off);
          chunk.copy(piece, fill, off, off + k);
          fill += k; off += k;
          if (fill === PIECE) {
            const full = piece;
            piece = Buffer.allocUnsafe(PIECE); fill = 0;
            return pass(full, more);
          }
        }
        cb();
      };
      more();
    },
    final(cb) {
      const end = (e?: Error | null) => {
        if (e) return cb(e);
        try { closeBlob(); } catch (err) { return cb(err as Error); }
        statusMessage(emit, id, 'Verifying Checksum');
        // Checked before the unpacker sees the end, so no layer is ever completed from a wrong blob.
        if (`${alg}:${hash.digest('hex')}` !== d.digest || (d.size && n !== d.size)) {
          verifyError = new InvalidParameterError(`filesystem layer verification failed for digest ${d.digest}`);
          return cb(verifyError);
        }
        feed.end();
        cb();
      };
      if (fill > 0) pass(piece.subarray(0, fill), end); else end();
    },
  });
  let failure: Error | undefined;
  const stop = (e: Error) => {
    failure ??= e;
    if (stopping) return;
    stopping = true;
    feed.abort();
    res.destroy();
    body.destroy();
  };
  body.on('error', (e) => stop(e));
  res.on('error', (e) => { if (!stopping) { onBroken(); stop(e); } });
  res.on('aborted', () => { if (!stopping) { onBroken(); stop(new Error('connection cut while downloading')); } });
  const abort = () => stop(signal.reason instanceof Error ? signal.reason : new Error('pull cancelled'));
  if (signal.aborted) abort();
  signal.addEventListener('abort', abort);
  res.pipe(body);
  try {
    await feed.done;
  } catch (e) {
    stop(e as Error);
    // A blob that is not what its digest says is reported as such, even when its content also failed to unpack.
    throw verifyError ?? (e instanceof InvalidParameterError && /does not match its diff ID/.test(e.message)
      ? new InvalidParameterError(`filesystem layer verification failed for digest ${d.digest}: the layer content does not match its diff ID ${diffId}`)
      : failure ?? e);
  } finally {
    signal.removeEventListener('abort', abort);
    closeBlob();
  }
  if (failure) throw failure;   // stopped (cancelled) after the last byte was in
  staged.blob = { digest: d.digest, mediaType: d.mediaType, size: n };
}
