/**
 * The HTTP edge of the registry: routes OCI distribution requests to storage, asks the
 * Authorizer first, and maps every error to an OCI error body in one place (sendError).
 */
import { pageOf } from './pagination.js';
import { createReadStream, read } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, RegistryError } from './errors.js';
import { type Access, type Authorizer, TokenIssuer } from './auth.js';
import {
  isValidTag, isValidUploadId, lookupReference, parseReference, validateDigest, validateRepositoryName, type ParsedDigest,
} from './names.js';
import { parseContentRange, parseRangeHeader, uploadRangeHeader } from './range.js';
import { closeBlob, MAX_MANIFEST_SIZE, type ManifestRecord, type RegistryStorage, type UploadStatus } from './storage.js';
import { isIndexType, MediaType, type Descriptor } from '../oci/index.js';
import { acceptList, accepts } from './manifests.js';

export interface RegistryHandlerOptions {
  storage: RegistryStorage;
  authorizer?: Authorizer;
  /** A token endpoint served by this process (Docker token flow), at tokenPath. */
  tokenIssuer?: TokenIssuer;
  tokenPath?: string;
  /** Allow DELETE of manifests, tags and blobs (default true). */
  deleteEnabled?: boolean;
  /** Called for 5xx errors and other things an operator should see. */
  log?: (message: string) => void;
  /** Log one line per request (method, path, status, bytes sent, duration) through `log`. */
  accessLog?: boolean;
  /** Told after a manifest or tag changes (like distribution's notifications), e.g. for the Hub's index. */
  onEvent?: (event: RegistryEvent) => void;
}

export interface RegistryEvent {
  action: 'push' | 'delete';
  repository: string;
  /** The manifest's digest; for a tag deletion, the digest the tag pointed at (when known). */
  digest?: string;
  mediaType?: string;
  tag?: string;
  /** Who did it, as the Authorizer named them. */
  actor?: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Blob GETs up to this size are read into one buffer and written at once; larger ones stream. */
const SMALL_BLOB = 256 * 1024;
/** Read size when streaming a blob. */
const READ_CHUNK = 1 << 20;

/** Reads `length` bytes at `position` (pread; short reads continue). */
function readFully(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      read(fd, buf, off, length - off, position + off, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error('blob shorter than its size'));
        if (off + n === length) return resolve(buf);
        step(off + n);
      });
    };
    step(0);
  });
}

/** Bodies up to this size are read and discarded before an error answer (see sendError). */
const DRAIN_LIMIT = 64 * 1024 * 1024;

const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' };

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The raw request path, not normalised: `..` must reach validation, not be resolved away. */
  path: string;
  base: string; // scheme://host for absolute Location headers
  actor?: string;
}

function emit(opts: RegistryHandlerOptions, event: RegistryEvent): void {
  try { opts.onEvent?.(event); } catch { /* a listener's failure is not the client's */ }
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

function contentLength(req: IncomingMessage): number | undefined {
  const len = req.headers['content-length'];
  if (len === undefined) return undefined;
  const n = Number(len);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new RegistryError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { limit }, 413);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function decodeSegment(s: string): string {
  try { return decodeURIComponent(s); } catch { return '\0invalid'; }
}

export function createRegistryHandler(opts: RegistryHandlerOptions): Handler {
  const { storage } = opts;
  const deleteEnabled = opts.deleteEnabled ?? true;
  const tokenPath = opts.tokenPath ?? '/token';

  async function authorize(ctx: Ctx, access: Access[]): Promise<void> {
    if (!opts.authorizer) return;
    const d = await opts.authorizer.authorize(ctx.req, access);
    if (d.ok) { ctx.actor = d.subject; return; }
    if (d.challenge) ctx.res.setHeader('WWW-Authenticate', d.challenge);
    throw new RegistryError(d.code, d.message, d.detail, d.status);
  }

  async function allowed(ctx: Ctx, access: Access[]): Promise<boolean> {
    if (!opts.authorizer) return true;
    return (await opts.authorizer.authorize(ctx.req, access)).ok;
  }

  const repoAccess = (name: string, ...actions: string[]): Access[] => [{ type: 'repository', name, actions }];

  function send(ctx: Ctx, status: number, headers: Record<string, string | number | string[]> = {}, body?: string | Buffer): void {
    const h: Record<string, string | number | string[]> = { ...headers };
    if (body !== undefined && h['Content-Length'] === undefined) h['Content-Length'] = Buffer.byteLength(body);
    if (body === undefined && h['Content-Length'] === undefined) h['Content-Length'] = 0;
    ctx.res.writeHead(status, h);
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }

  function sendJson(ctx: Ctx, status: number, value: unknown, headers: Record<string, string | number | string[]> = {}): void {
    send(ctx, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
  }

  function uploadHeaders(ctx: Ctx, name: string, u: UploadStatus): Record<string, string> {
    return {
      Location: `${ctx.base}/v2/${name}/blobs/uploads/${u.id}`,
      Range: uploadRangeHeader(u.offset),
      'Docker-Upload-UUID': u.id,
    };
  }

  // ---- base, catalog --------------------------------------------------------------------------

  async function base(ctx: Ctx): Promise<void> {
    await authorize(ctx, []);
    sendJson(ctx, 200, {});
  }

  function page(ctx: Ctx, all: string[], path: string): { items: string[]; link?: string } { return pageOf(ctx.url.searchParams, all, path); }

  async function catalog(ctx: Ctx): Promise<void> {
    await authorize(ctx, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const { items, link } = page(ctx, await storage.listRepositories(), '/v2/_catalog');
    sendJson(ctx, 200, { repositories: items }, link ? { Link: link } : {});
  }

  async function tagsList(ctx: Ctx, name: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull'));
    if (!(await storage.repositoryExists(name))) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
    const { items, link } = page(ctx, await storage.listTags(name), `/v2/${name}/tags/list`);
    sendJson(ctx, 200, { name, tags: items }, link ? { Link: link } : {});
  }

  /**
   * Docker's v1 search (`docker search`), over repository names: the Hub replaces this with
   * its own index; a plain registry answers from its catalog.
   */
  async function search(ctx: Ctx): Promise<void> {
    await authorize(ctx, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const q = (ctx.url.searchParams.get('q') ?? '').toLowerCase();
    const n = Math.min(Math.max(Number(ctx.url.searchParams.get('n') ?? 25) || 25, 1), 100);
    const page = Math.max(Number(ctx.url.searchParams.get('page') ?? 1) || 1, 1);
    const all = (await storage.listRepositories()).filter((r) => r.includes(q));
    const results = all.slice((page - 1) * n, page * n).map((name) => ({
      name, description: '', star_count: 0, is_official: false, is_automated: false, is_trusted: false,
    }));
    sendJson(ctx, 200, { query: q, num_results: all.length, num_pages: Math.ceil(all.length / n), page, page_size: n, results });
  }

  // ---- manifests ------------------------------------------------------------------------------

  async function findManifest(name: string, ref: string): Promise<ManifestRecord> {
    const r = lookupReference(ref);
    let d: ParsedDigest | undefined;
    if (r.kind === 'digest') d = r.digest;
    else d = await storage.resolveTag(name, r.tag);
    const rec = d && await storage.getManifest(name, d);
    if (!rec) {
      if (!(await storage.repositoryExists(name))) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
      throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name, reference: ref });
    }
    return rec;
  }

  /**
   * Content negotiation: an index is served as such to clients that accept it. A client that
   * accepts only image manifests gets the linux/amd64 image of the index, as distribution does.
   */
  async function negotiate(ctx: Ctx, name: string, rec: ManifestRecord): Promise<ManifestRecord> {
    const accept = ctx.req.headers.accept;
    if (!isIndexType(rec.mediaType) || accepts(accept, rec.mediaType)) return rec;
    const wanted: string[] = acceptList(accept).filter((t) => t === MediaType.dockerManifest || t === MediaType.ociManifest);
    if (wanted.length === 0) return rec;
    const index = JSON.parse((await storage.readManifest(rec)).toString('utf8')) as { manifests?: Descriptor[] };
    const pick = (index.manifests ?? []).find((m) => wanted.includes(m.mediaType) && m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
    if (!pick) throw new RegistryError('MANIFEST_UNKNOWN', `manifest is a ${rec.mediaType}, which the client does not accept`, { name });
    return (await storage.getManifest(name, validateDigest(pick.digest))) ?? rec;
  }

  async function getManifest(ctx: Ctx, name: string, ref: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull'));
    const rec = await negotiate(ctx, name, await findManifest(name, ref));
    const etag = `"${rec.digest.digest}"`;
    const headers = {
      'Content-Type': rec.mediaType,
      'Docker-Content-Digest': rec.digest.digest,
      ETag: etag,
      'Content-Length': rec.size,
    };
    if (ctx.req.headers['if-none-match'] === etag) { send(ctx, 304, { ...headers, 'Content-Length': 0 }); return; }
    if (ctx.req.method === 'HEAD') { send(ctx, 200, headers); return; }
    send(ctx, 200, headers, await storage.readManifest(rec));
  }

  async function putManifest(ctx: Ctx, name: string, ref: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    const r = parseReference(ref);
    const len = contentLength(ctx.req);
    if (len !== undefined && len > MAX_MANIFEST_SIZE) {
      throw new RegistryError('SIZE_INVALID', `manifest larger than ${MAX_MANIFEST_SIZE} bytes`, { limit: MAX_MANIFEST_SIZE }, 413);
    }
    const tags = r.kind === 'tag' ? [r.tag] : ctx.url.searchParams.getAll('tag');
    for (const t of tags) if (!isValidTag(t)) throw new RegistryError('MANIFEST_INVALID', 'invalid tag', { tag: t.slice(0, 300) });
    const bytes = await readBody(ctx.req, MAX_MANIFEST_SIZE);
    const { digest, manifest } = await storage.putManifest(name, bytes, ctx.req.headers['content-type'],
      { digest: r.kind === 'digest' ? r.digest : undefined, tags });
    const headers: Record<string, string | string[]> = {
      Location: `${ctx.base}/v2/${name}/manifests/${digest.digest}`,
      'Docker-Content-Digest': digest.digest,
    };
    if (manifest.subject) headers['OCI-Subject'] = manifest.subject.digest;
    if (r.kind === 'digest' && tags.length > 0) headers['OCI-Tag'] = tags;
    send(ctx, 201, headers);
    for (const tag of tags.length > 0 ? tags : [undefined]) {
      emit(opts, { action: 'push', repository: name, digest: digest.digest, mediaType: manifest.mediaType, tag, actor: ctx.actor });
    }
  }

  async function deleteManifest(ctx: Ctx, name: string, ref: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'delete'));
    if (!deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletion is disabled on this registry');
    const r = lookupReference(ref);
    const pointed = r.kind === 'tag' ? await storage.resolveTag(name, r.tag) : r.digest;
    const ok = r.kind === 'tag' ? await storage.deleteTag(name, r.tag) : await storage.deleteManifest(name, r.digest);
    if (!ok) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name, reference: ref });
    send(ctx, 202);
    emit(opts, { action: 'delete', repository: name, digest: pointed?.digest, tag: r.kind === 'tag' ? r.tag : undefined, actor: ctx.actor });
  }

  // ---- referrers ------------------------------------------------------------------------------

  async function referrers(ctx: Ctx, name: string, digest: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull'));
    const d = validateDigest(digest);
    let list = await storage.listReferrers(name, d);
    const artifactType = ctx.url.searchParams.get('artifactType');
    const headers: Record<string, string> = { 'Content-Type': MediaType.ociIndex };
    if (artifactType) {
      list = list.filter((x) => x.artifactType === artifactType);
      headers['OCI-Filters-Applied'] = 'artifactType';
    }
    send(ctx, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: list }));
  }

  // ---- blobs ----------------------------------------------------------------------------------

  async function getBlob(ctx: Ctx, name: string, digest: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull'));
    const d = validateDigest(digest);
    const etag = `"${d.digest}"`;
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': d.digest,
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'max-age=31536000',
    };
    const bodyWanted = ctx.req.method !== 'HEAD' && ctx.req.headers['if-none-match'] !== etag;
    // A GET opens the file at once (its size comes from the open file); a HEAD only looks.
    const opened = bodyWanted ? await storage.openBlob(name, d) : undefined;
    const blob = opened ?? (bodyWanted ? undefined : await storage.statBlob(name, d));
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: d.digest });
    let handedOff = false;
    try {
      if (ctx.req.headers['if-none-match'] === etag) { send(ctx, 304, headers); return; }
      const range = parseRangeHeader(typeof ctx.req.headers.range === 'string' ? ctx.req.headers.range : undefined, blob.size);
      if (range === 'unsatisfiable') {
        send(ctx, 416, { 'Content-Range': `bytes */${blob.size}`, 'Content-Type': 'application/json' },
          errorBody('RANGE_INVALID', 'requested range not satisfiable', { size: blob.size }));
        return;
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? blob.size - 1;
      const status = range ? 206 : 200;
      const length = blob.size === 0 ? 0 : end - start + 1;
      headers['Content-Length'] = length;
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${blob.size}`;
      if (!opened || length === 0) { send(ctx, status, headers); return; }
      if (length <= SMALL_BLOB) {
        // Small blobs (configs, small layers): one read, one write; no stream machinery.
        const body = await readFully(opened.fd, length, start);
        ctx.res.writeHead(status, headers);
        ctx.res.end(body);
        return;
      }
      const stream = createReadStream('', { fd: opened.fd, start, end, highWaterMark: READ_CHUNK, autoClose: true });
      handedOff = true;
      ctx.res.writeHead(status, headers);
      // pipe, not stream/promises' pipeline: that one builds an AbortError per request.
      stream.on('error', () => ctx.res.destroy());
      ctx.res.once('close', () => { if (!stream.destroyed) stream.destroy(); });
      stream.pipe(ctx.res);
    } finally {
      if (opened && !handedOff) closeBlob(opened.fd);
    }
  }

  async function deleteBlob(ctx: Ctx, name: string, digest: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'delete'));
    if (!deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletion is disabled on this registry');
    const d = validateDigest(digest);
    if (!(await storage.unlinkBlob(name, d))) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: d.digest });
    send(ctx, 202);
  }

  // ---- uploads --------------------------------------------------------------------------------

  function blobCreated(ctx: Ctx, name: string, digest: string): void {
    send(ctx, 201, { Location: `${ctx.base}/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
  }

  async function startUpload(ctx: Ctx, name: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    const mount = ctx.url.searchParams.get('mount');
    const from = ctx.url.searchParams.get('from');
    const digestParam = ctx.url.searchParams.get('digest');
    if (mount !== null) {
      const d = validateDigest(mount);
      // Mount only from a repository the client may pull from; otherwise fall back to an upload.
      if (from !== null && from !== '') {
        validateRepositoryName(from);
        if (await allowed(ctx, repoAccess(from, 'pull')) && await storage.statBlob(from, d) && await storage.touchBlob(d)) {
          await storage.linkBlob(name, d);
          blobCreated(ctx, name, d.digest);
          return;
        }
      }
    }
    if (digestParam !== null) {
      const d = validateDigest(digestParam);
      const u = await storage.createUpload(name);
      try {
        await storage.appendUpload(name, u.id, ctx.req, { length: contentLength(ctx.req) });
        const blob = await storage.finishUpload(name, u.id, d);
        blobCreated(ctx, name, blob.digest);
      } finally {
        await storage.cancelUpload(name, u.id).catch(() => undefined);
      }
      return;
    }
    const u = await storage.createUpload(name);
    send(ctx, 202, uploadHeaders(ctx, name, u));
  }

  /** Reads the chunk range a PATCH or closing PUT declares; validates it against Content-Length. */
  function chunkRange(ctx: Ctx): { start?: number; length?: number } {
    const header = ctx.req.headers['content-range'];
    const len = contentLength(ctx.req);
    if (header === undefined) return { length: len };
    const r = parseContentRange(header);
    if (!r) throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range', { contentRange: header.slice(0, 100) });
    const rlen = r.end - r.start + 1;
    if (len !== undefined && len !== rlen) {
      throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range', { contentLength: len, contentRange: header });
    }
    return { start: r.start, length: rlen };
  }

  async function withRangeStatus<T>(ctx: Ctx, name: string, id: string, fn: () => Promise<T>): Promise<T> {
    try { return await fn(); } catch (err) {
      if (err instanceof RegistryError && err.code === 'RANGE_INVALID') {
        const u = await storage.getUpload(name, id).catch(() => undefined);
        if (u) for (const [k, v] of Object.entries(uploadHeaders(ctx, name, u))) ctx.res.setHeader(k, v);
      }
      throw err;
    }
  }

  async function patchUpload(ctx: Ctx, name: string, id: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    const range = chunkRange(ctx);
    const u = await withRangeStatus(ctx, name, id, () => storage.appendUpload(name, id, ctx.req, range));
    send(ctx, 202, uploadHeaders(ctx, name, u));
  }

  async function putUpload(ctx: Ctx, name: string, id: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    const digestParam = ctx.url.searchParams.get('digest');
    if (digestParam === null) throw new RegistryError('DIGEST_INVALID', 'digest query parameter missing');
    const d = validateDigest(digestParam);
    await storage.getUpload(name, id);
    if (hasBody(ctx.req)) {
      const range = chunkRange(ctx);
      await withRangeStatus(ctx, name, id, () => storage.appendUpload(name, id, ctx.req, range));
    }
    const blob = await storage.finishUpload(name, id, d);
    blobCreated(ctx, name, blob.digest);
  }

  async function uploadStatus(ctx: Ctx, name: string, id: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    send(ctx, 204, uploadHeaders(ctx, name, await storage.getUpload(name, id)));
  }

  async function cancelUpload(ctx: Ctx, name: string, id: string): Promise<void> {
    await authorize(ctx, repoAccess(name, 'pull', 'push'));
    await storage.cancelUpload(name, id);
    send(ctx, 204);
  }

  // ---- routing --------------------------------------------------------------------------------

  const methodNotAllowed = (): never => { throw new RegistryError('UNSUPPORTED', 'method not allowed'); };

  async function route(ctx: Ctx): Promise<void> {
    const path = ctx.path;
    const method = ctx.req.method ?? 'GET';
    if (opts.tokenIssuer && path === tokenPath) { await opts.tokenIssuer.handle(ctx.req, ctx.res); return; }
    if (path === '/v2' || path === '/v2/') return method === 'GET' || method === 'HEAD' ? base(ctx) : methodNotAllowed();
    if (path === '/v2/_catalog') return method === 'GET' ? catalog(ctx) : methodNotAllowed();
    if (path === '/v1/search') return method === 'GET' ? search(ctx) : methodNotAllowed();
    let m: RegExpExecArray | null;
    const name = (raw: string): string => validateRepositoryName(decodeSegment(raw));
    if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) {
      return method === 'GET' ? tagsList(ctx, name(m[1])) : methodNotAllowed();
    }
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) {
      const n = name(m[1]);
      const ref = decodeSegment(m[2]);
      switch (method) {
        case 'GET': case 'HEAD': return getManifest(ctx, n, ref);
        case 'PUT': return putManifest(ctx, n, ref);
        case 'DELETE': return deleteManifest(ctx, n, ref);
        default: return methodNotAllowed();
      }
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) {
      return method === 'POST' ? startUpload(ctx, name(m[1])) : methodNotAllowed();
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
      const n = name(m[1]);
      const id = decodeSegment(m[2]);
      if (!isValidUploadId(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id.slice(0, 100) });
      switch (method) {
        case 'PATCH': return patchUpload(ctx, n, id);
        case 'PUT': return putUpload(ctx, n, id);
        case 'GET': case 'HEAD': return uploadStatus(ctx, n, id);
        case 'DELETE': return cancelUpload(ctx, n, id);
        default: return methodNotAllowed();
      }
    }
    if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) {
      const n = name(m[1]);
      const digest = decodeSegment(m[2]);
      switch (method) {
        case 'GET': case 'HEAD': return getBlob(ctx, n, digest);
        case 'DELETE': return deleteBlob(ctx, n, digest);
        default: return methodNotAllowed();
      }
    }
    if ((m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path))) {
      return method === 'GET' ? referrers(ctx, name(m[1]), decodeSegment(m[2])) : methodNotAllowed();
    }
    if (path.startsWith('/v2/')) {
      // Something under /v2/ we do not route: most likely a bad name (e.g. traversal) or a bad verb.
      throw new RegistryError('NAME_INVALID', 'invalid repository name or unknown endpoint', { path: path.slice(0, 300) }, 404);
    }
    throw new RegistryError('UNSUPPORTED', 'not found', { path: path.slice(0, 300) }, 404);
  }

  function sendError(ctx: Ctx, err: unknown): void {
    const { res } = ctx;
    let status = 500;
    let body: string;
    if (err instanceof RegistryError) {
      status = err.status;
      body = errorBody(err.code, err.message, err.detail);
    } else {
      opts.log?.(`registry: ${ctx.req.method} ${ctx.path}: ${(err as Error)?.stack ?? String(err)}`);
      body = errorBody('UNKNOWN', 'internal server error');
    }
    if (res.headersSent) { res.destroy(); return; }
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    const finish = (): void => { if (!res.writableEnded) res.end(ctx.req.method === 'HEAD' ? undefined : body); };
    // A body refused before it was read: many clients cannot read a response while they are
    // still sending, so discard a moderate body first; a huge one gets the answer and a close.
    if (!ctx.req.complete && hasBody(ctx.req) && !ctx.req.destroyed) {
      const len = contentLength(ctx.req);
      if (len !== undefined && len <= DRAIN_LIMIT) {
        ctx.req.once('end', finish);
        ctx.req.once('close', finish);
        ctx.req.resume();
        return;
      }
      res.setHeader('Connection', 'close');
    }
    finish();
  }

  return (req, res) => {
    for (const [k, v] of Object.entries(API_VERSION_HEADER)) res.setHeader(k, v);
    const host = req.headers.host ?? 'localhost';
    const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const url = new URL(`http://localhost/${q < 0 ? '' : raw.slice(q)}`);
    const ctx: Ctx = { req, res, url, path, base: `${scheme}://${host}` };
    if (opts.accessLog && opts.log) {
      const started = process.hrtime.bigint();
      const log = opts.log;
      res.once('close', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const who = req.socket.remoteAddress ?? '-';
        log(`${who} ${req.method} ${raw} ${res.statusCode} ${res.getHeader('content-length') ?? '-'} ${ms.toFixed(1)}ms${res.writableFinished ? '' : ' (cut)'}`);
      });
    }
    route(ctx).catch((err) => sendError(ctx, err));
  };
}
