/**
 * Filesystem storage of a registry, content-addressed and shared by all repositories.
 *
 *   <root>/blobs/<alg>/<hh>/<hex>                          every blob and manifest, once
 *   <root>/uploads/<uuid>/{data,info.json}                 upload sessions in progress
 *   <root>/repositories/<name>/_layers/<alg>/<hex>          link: the blob belongs to the repository
 *   <root>/repositories/<name>/_manifests/revisions/<alg>/<hex>   link + {mediaType,size} of a manifest
 *   <root>/repositories/<name>/_manifests/tags/<tag>        the digest a tag points at
 *   <root>/repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  descriptor of a manifest naming that subject
 *   <root>/tmp/                                             temporary files, renamed into place
 *
 * Several processes may serve one storage (`serve --workers N`, and `gc` beside a server): an
 * upload's write lock is a lock file in its folder holding the writer's pid (see lock), so two
 * processes never append to one upload at once; the in-memory running hash is only a shortcut,
 * used when this process hashed exactly up to the current end of the data.
 *
 * A blob becomes visible only by rename(2) of a file whose digest was verified and fsynced,
 * so a cut connection or a crash never leaves a servable partial blob. Repository-name
 * components cannot start with '_' (grammar), so `_layers`/`_manifests` never collide with
 * nested repositories. Callers validate names, tags and digests (names.ts) before they get here.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { close, createReadStream, createWriteStream, fstat, open, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { RegistryError } from './errors.js';
import { parseDigest, isValidRepositoryName, isValidTag, type DigestAlgorithm, type ParsedDigest } from './names.js';
import type { Descriptor } from '../oci/index.js';
import { parseManifest, referrerDescriptor, type ParsedManifest } from './manifests.js';

export interface StorageOptions {
  /** Largest blob accepted, in bytes (undefined: no limit). */
  maxBlobSize?: number;
}

export interface BlobInfo { digest: string; size: number; path: string; mtimeMs: number }
/** A blob opened for reading: the caller owns `fd` and must close it (closeBlob, or a stream with autoClose). */
export interface OpenBlob { fd: number; size: number; path: string }
export interface UploadStatus { id: string; repository: string; offset: number }
export interface ManifestRecord { digest: ParsedDigest; mediaType: string; size: number; path: string }
interface RevisionMeta { mediaType: string; size: number }

interface UploadState {
  busy: boolean;
  /** This process holds the upload's lock file (see lock). */
  fileLock?: boolean;
  hash?: Hash;
  algorithm?: DigestAlgorithm;
  hashed: number;
}

export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try { return await fsp.stat(path); } catch (err) { if (isNotFound(err)) return undefined; throw err; }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/** Closes a descriptor from openBlob (errors ignored: nothing was written through it). */
export function closeBlob(fd: number): void { close(fd, () => undefined); }

export class RegistryStorage {
  readonly blobsDir: string;
  readonly uploadsDir: string;
  readonly reposDir: string;
  readonly tmpDir: string;
  private readonly uploads = new Map<string, UploadState>();

  constructor(readonly root: string, readonly options: StorageOptions = {}) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
    this.reposDir = join(root, 'repositories');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<void> {
    for (const d of [this.blobsDir, this.uploadsDir, this.reposDir, this.tmpDir]) await fsp.mkdir(d, { recursive: true });
    // Temporary files left by a crash are never visible; clear old ones. Recent ones may belong
    // to another process on the same storage (a running server, or gc), so they stay.
    const now = Date.now();
    for (const f of await fsp.readdir(this.tmpDir)) {
      const st = await statOrUndefined(join(this.tmpDir, f));
      if (st && now - st.mtimeMs > 60 * 60_000) await fsp.rm(join(this.tmpDir, f), { force: true, recursive: true });
    }
  }

  // ---- paths -------------------------------------------------------------------------------

  blobPath(d: ParsedDigest): string { return join(this.blobsDir, d.algorithm, d.hex.slice(0, 2), d.hex); }
  private repoDir(repo: string): string { return join(this.reposDir, repo); }
  private layerLink(repo: string, d: ParsedDigest): string { return join(this.repoDir(repo), '_layers', d.algorithm, d.hex); }
  private revisionPath(repo: string, d: ParsedDigest): string { return join(this.repoDir(repo), '_manifests', 'revisions', d.algorithm, d.hex); }
  private tagsDir(repo: string): string { return join(this.repoDir(repo), '_manifests', 'tags'); }
  private referrersDir(repo: string, subject: ParsedDigest): string { return join(this.repoDir(repo), '_referrers', subject.algorithm, subject.hex); }

  /** Writes a small file atomically: temp file, fsync, rename. */
  private async writeAtomic(path: string, data: string | Buffer): Promise<void> {
    const tmp = join(this.tmpDir, randomUUID());
    const fh = await fsp.open(tmp, 'w');
    try { await fh.writeFile(data); await fh.sync(); } finally { await fh.close(); }
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.rename(tmp, path);
  }

  // ---- repositories ------------------------------------------------------------------------

  async repositoryExists(repo: string): Promise<boolean> {
    return (await statOrUndefined(this.repoDir(repo)))?.isDirectory() ?? false;
  }

  /** All repository names, sorted. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try { entries = await fsp.readdir(dir, { withFileTypes: true }); } catch (err) { if (isNotFound(err)) return; throw err; }
      let isRepo = false;
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (e.name === '_manifests' || e.name === '_layers') { isRepo = true; continue; }
        if (e.name.startsWith('_')) continue;
        await walk(join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name);
      }
      if (isRepo && isValidRepositoryName(prefix)) out.push(prefix);
    };
    await walk(this.reposDir, '');
    return out.sort();
  }

  // ---- blobs -------------------------------------------------------------------------------

  async statGlobalBlob(d: ParsedDigest): Promise<BlobInfo | undefined> {
    const path = this.blobPath(d);
    const st = await statOrUndefined(path);
    return st?.isFile() ? { digest: d.digest, size: st.size, path, mtimeMs: st.mtimeMs } : undefined;
  }

  /** A blob as seen from a repository: it must be linked there and present in the store. */
  async statBlob(repo: string, d: ParsedDigest): Promise<BlobInfo | undefined> {
    if (!(await statOrUndefined(this.layerLink(repo, d)))) return undefined;
    return this.statGlobalBlob(d);
  }

  /**
   * Opens a blob as seen from a repository (linked there and present in the store), for a GET:
   * the size comes from the open file, so a blob swept between the check and the read is simply
   * absent, never half-served. Callback fs calls: this is the hot path of a pull.
   */
  async openBlob(repo: string, d: ParsedDigest): Promise<OpenBlob | undefined> {
    if (!(await statOrUndefined(this.layerLink(repo, d)))) return undefined;
    const path = this.blobPath(d);
    const fd = await new Promise<number | undefined>((resolve, reject) => {
      open(path, 'r', (err, fd) => (err ? (isNotFound(err) ? resolve(undefined) : reject(err)) : resolve(fd)));
    });
    if (fd === undefined) return undefined;
    try {
      const st = await new Promise<Stats>((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
      if (!st.isFile()) { closeBlob(fd); return undefined; }
      return { fd, size: st.size, path };
    } catch (err) { closeBlob(fd); throw err; }
  }

  async linkBlob(repo: string, d: ParsedDigest): Promise<void> {
    const link = this.layerLink(repo, d);
    await fsp.mkdir(dirname(link), { recursive: true });
    await fsp.writeFile(link, d.digest);
  }

  /** Removes the repository's link; the shared blob goes when gc finds nothing using it. */
  async unlinkBlob(repo: string, d: ParsedDigest): Promise<boolean> {
    try { await fsp.unlink(this.layerLink(repo, d)); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
  }

  /**
   * Marks a blob as just used (mtime = now), so a concurrent gc, which never sweeps blobs
   * younger than its grace period, leaves it alone. False when the blob is absent.
   */
  async touchBlob(d: ParsedDigest): Promise<boolean> {
    const now = new Date();
    try { await fsp.utimes(this.blobPath(d), now, now); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
  }

  // ---- uploads -----------------------------------------------------------------------------

  private uploadDir(id: string): string { return join(this.uploadsDir, id); }

  async createUpload(repo: string): Promise<UploadStatus> {
    const id = randomUUID();
    const dir = this.uploadDir(id);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(join(dir, 'data'), '');
    await fsp.writeFile(join(dir, 'info.json'), JSON.stringify({ repository: repo, startedAt: new Date().toISOString() }));
    this.uploads.set(id, { busy: false, hash: createHash('sha256'), algorithm: 'sha256', hashed: 0 });
    return { id, repository: repo, offset: 0 };
  }

  async getUpload(repo: string, id: string): Promise<UploadStatus> {
    const dir = this.uploadDir(id);
    let info: { repository?: string };
    try { info = JSON.parse(await fsp.readFile(join(dir, 'info.json'), 'utf8')); } catch {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
    }
    if (info.repository !== repo) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
    const st = await statOrUndefined(join(dir, 'data'));
    if (!st) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
    return { id, repository: repo, offset: st.size };
  }

  /** getUpload for a caller holding the lock: an unknown id also drops the lock's entry. */
  private async lockedStatus(repo: string, id: string): Promise<UploadStatus> {
    try { return await this.getUpload(repo, id); } catch (err) {
      this.uploads.delete(id);
      throw err;
    }
  }

  private lockFile(id: string): string { return join(this.uploadDir(id), 'lock'); }

  /**
   * Whether another live process holds an upload's lock file. A file whose pid is gone was left
   * by a crash. An empty one is being written right now (open with O_EXCL, then the pid), unless old.
   */
  private async lockHeldElsewhere(id: string): Promise<boolean> {
    let text: string;
    let st: Stats;
    try {
      [text, st] = await Promise.all([fsp.readFile(this.lockFile(id), 'utf8'), fsp.stat(this.lockFile(id))]);
    } catch (err) { if (isNotFound(err)) return false; throw err; }
    const pid = Number(text);
    if (!Number.isSafeInteger(pid) || pid <= 0) return Date.now() - st.mtimeMs < 10_000;
    if (pid === process.pid) return false; // this process's requests are serialised by the in-memory lock
    try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
  }

  /** Creates the upload's lock file: 'held', 'busy' (a live process has it) or 'missing' (no such upload). */
  private async takeLockFile(id: string): Promise<'held' | 'busy' | 'missing'> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await fsp.open(this.lockFile(id), 'wx');
        try { await fh.writeFile(String(process.pid)); } finally { await fh.close(); }
        return 'held';
      } catch (err) {
        if (isNotFound(err)) return 'missing';
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (await this.lockHeldElsewhere(id)) return 'busy';
      await fsp.rm(this.lockFile(id), { force: true }); // left by a dead process (or by this one before a crash)
    }
    return 'busy';
  }

  /**
   * Takes an upload's write lock: in memory against this process's other requests, then the lock
   * file against other processes on the same storage. A request that finds it held waits briefly:
   * the holder may be a cut connection whose rollback is finishing (a client retrying at once
   * must not get a 409). An unknown upload gets the in-memory lock only; the caller's status
   * check then reports it unknown.
   */
  private async lock(id: string): Promise<UploadState> {
    const deadline = Date.now() + 2000;
    for (;;) {
      let s = this.uploads.get(id);
      if (!s) { s = { busy: false, hashed: 0 }; this.uploads.set(id, s); }
      if (!s.busy) {
        s.busy = true;
        let file: 'held' | 'busy' | 'missing';
        try { file = await this.takeLockFile(id); } catch (err) { s.busy = false; throw err; }
        if (file !== 'busy') { s.fileLock = file === 'held'; return s; }
        s.busy = false;
      }
      if (Date.now() > deadline) throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', { uuid: id }, 409);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Releases both parts of the lock; the file first, so no request of this process can find it held by itself. */
  private async unlock(id: string, s: UploadState): Promise<void> {
    if (s.fileLock) {
      s.fileLock = false;
      await fsp.rm(this.lockFile(id), { force: true }).catch(() => undefined);
    }
    s.busy = false;
  }

  /** Busy in this process or, through its lock file, in another one. */
  private async uploadBusy(id: string): Promise<boolean> {
    return (this.uploads.get(id)?.busy ?? false) || await this.lockHeldElsewhere(id);
  }

  /**
   * Appends a request body to an upload. A chunk is all or nothing: if the body ends early
   * (cut connection) or has the wrong length, the data file is truncated back to where it was.
   */
  async appendUpload(repo: string, id: string, body: Readable, opts: { start?: number; length?: number } = {}): Promise<UploadStatus> {
    // Lock before reading the offset, so two writers can never both append at the same place.
    const state = await this.lock(id);
    try {
      const offset = (await this.lockedStatus(repo, id)).offset;
      if (opts.start !== undefined && opts.start !== offset) {
        throw new RegistryError('RANGE_INVALID', 'chunk out of order', { expectedStart: offset, start: opts.start }, 416);
      }
      if (state.hashed !== offset) { state.hash = undefined; }
      const saved = state.hash?.copy();
      const savedHashed = state.hashed;
      const max = this.options.maxBlobSize;
      if (max !== undefined && opts.length !== undefined && offset + opts.length > max) {
        throw new RegistryError('SIZE_INVALID', `blob larger than the registry's limit of ${max} bytes`, { limit: max }, 413);
      }
      let received = 0;
      const dataPath = join(this.uploadDir(id), 'data');
      try {
        await pipeline(
          body,
          async function* (src: AsyncIterable<Buffer>) {
            for await (const chunk of src) {
              received += chunk.length;
              if (opts.length !== undefined && received > opts.length) {
                throw new RegistryError('SIZE_INVALID', 'body longer than Content-Range/Content-Length', { length: opts.length });
              }
              if (max !== undefined && offset + received > max) {
                throw new RegistryError('SIZE_INVALID', `blob larger than the registry's limit of ${max} bytes`, { limit: max }, 413);
              }
              state.hash?.update(chunk);
              yield chunk;
            }
          },
          createWriteStream(dataPath, { flags: 'r+', start: offset, highWaterMark: 1 << 20 }),
        );
        if (opts.length !== undefined && received !== opts.length) {
          throw new RegistryError('SIZE_INVALID', 'body shorter than Content-Range/Content-Length', { length: opts.length, received });
        }
        if (state.hash) state.hashed = offset + received;
      } catch (err) {
        await fsp.truncate(dataPath, offset).catch(() => undefined);
        state.hash = saved;
        state.hashed = savedHashed;
        if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload body ended early', { received });
        }
        throw err;
      }
      await fsp.utimes(join(this.uploadDir(id), 'info.json'), new Date(), new Date()).catch(() => undefined);
      return { id, repository: repo, offset: offset + received };
    } finally {
      await this.unlock(id, state);
    }
  }

  private async hashFile(path: string, algorithm: DigestAlgorithm): Promise<string> {
    const h = createHash(algorithm);
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) h.update(c);
    });
    return h.digest('hex');
  }

  /**
   * Closes an upload: verifies the whole content against `digest`, fsyncs it and renames it
   * into the blob store, then links it into the repository. A wrong digest discards the upload.
   */
  async finishUpload(repo: string, id: string, d: ParsedDigest): Promise<BlobInfo> {
    const state = await this.lock(id);
    const dataPath = join(this.uploadDir(id), 'data');
    let known = false;
    try {
      const status = await this.lockedStatus(repo, id);
      known = true;
      const hex = state.hash && state.algorithm === d.algorithm && state.hashed === status.offset
        ? state.hash.digest('hex')
        : await this.hashFile(dataPath, d.algorithm);
      state.hash = undefined;
      if (hex !== d.hex) {
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest: d.digest, actual: `${d.algorithm}:${hex}` });
      }
      await fsyncPath(dataPath);
      const target = this.blobPath(d);
      await fsp.mkdir(dirname(target), { recursive: true });
      // rename(2) is atomic: a concurrent push of the same blob just replaces identical bytes.
      await fsp.rename(dataPath, target);
      await fsyncPath(dirname(target)).catch(() => undefined);
      await this.linkBlob(repo, d);
      return { digest: d.digest, size: status.offset, path: target, mtimeMs: Date.now() };
    } finally {
      await this.unlock(id, state);
      // A verified upload is consumed; a wrong one is discarded (its bytes can never become a blob).
      if (known) await this.deleteUpload(id);
    }
  }

  async cancelUpload(repo: string, id: string): Promise<void> {
    await this.getUpload(repo, id);
    if (await this.uploadBusy(id)) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload is busy', { uuid: id }, 409);
    await this.deleteUpload(id);
  }

  private async deleteUpload(id: string): Promise<void> {
    this.uploads.delete(id);
    await fsp.rm(this.uploadDir(id), { recursive: true, force: true });
  }

  /** Ids of uploads in progress (their data is not a blob yet). */
  async listUploads(): Promise<{ id: string; lastActivityMs: number; busy: boolean }[]> {
    const out: { id: string; lastActivityMs: number; busy: boolean }[] = [];
    for (const id of await fsp.readdir(this.uploadsDir).catch(() => [] as string[])) {
      const st = await statOrUndefined(join(this.uploadDir(id), 'info.json'))
        ?? await statOrUndefined(this.uploadDir(id));
      if (!st) continue;
      out.push({ id, lastActivityMs: st.mtimeMs, busy: await this.uploadBusy(id) });
    }
    return out;
  }

  /**
   * Removes uploads idle for longer than maxIdleMs. Returns the ids removed. Also forgets the
   * in-memory state of uploads another process finished or removed.
   */
  async purgeStaleUploads(maxIdleMs: number, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const present = new Set<string>();
    for (const u of await this.listUploads()) {
      present.add(u.id);
      if (u.busy || now - u.lastActivityMs < maxIdleMs) continue;
      await this.deleteUpload(u.id);
      removed.push(u.id);
    }
    for (const [id, s] of this.uploads) if (!s.busy && !present.has(id)) this.uploads.delete(id);
    return removed;
  }

  // ---- manifests ---------------------------------------------------------------------------

  async resolveTag(repo: string, tag: string): Promise<ParsedDigest | undefined> {
    try {
      return parseDigest((await fsp.readFile(join(this.tagsDir(repo), tag), 'utf8')).trim());
    } catch (err) { if (isNotFound(err)) return undefined; throw err; }
  }

  async getManifest(repo: string, d: ParsedDigest): Promise<ManifestRecord | undefined> {
    let meta: RevisionMeta;
    try { meta = JSON.parse(await fsp.readFile(this.revisionPath(repo, d), 'utf8')); } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const blob = await this.statGlobalBlob(d);
    if (!blob) return undefined;
    return { digest: d, mediaType: meta.mediaType, size: blob.size, path: blob.path };
  }

  async readManifest(rec: ManifestRecord): Promise<Buffer> { return fsp.readFile(rec.path); }

  /**
   * Stores a manifest after checking that everything it references is present in the
   * repository (MANIFEST_BLOB_UNKNOWN otherwise). Referenced blobs are touched first so a gc
   * running at the same time cannot sweep them between the check and the write.
   */
  async putManifest(repo: string, bytes: Buffer, contentType: string | undefined, opts: { digest?: ParsedDigest; tags?: string[] }): Promise<{ digest: ParsedDigest; manifest: ParsedManifest }> {
    const algorithm = opts.digest?.algorithm ?? 'sha256';
    const hex = createHash(algorithm).update(bytes).digest('hex');
    const digest: ParsedDigest = { algorithm, hex, digest: `${algorithm}:${hex}` };
    if (opts.digest && opts.digest.hex !== hex) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest did not match its content', { digest: opts.digest.digest, actual: digest.digest });
    }
    const manifest = parseManifest(bytes, contentType);
    const missing: Descriptor[] = [];
    for (const b of manifest.blobs) {
      const bd = parseDigest(b.digest)!;
      await this.touchBlob(bd);
      const info = await this.statBlob(repo, bd);
      if (!info) missing.push(b);
      else if (info.size !== b.size) {
        throw new RegistryError('MANIFEST_INVALID', 'descriptor size does not match the blob', { digest: b.digest, size: b.size, actual: info.size });
      }
    }
    for (const c of manifest.children) {
      const cd = parseDigest(c.digest)!;
      await this.touchBlob(cd);
      if (!(await this.getManifest(repo, cd))) missing.push(c);
    }
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'manifest references a manifest or blob unknown to registry',
        missing.map((m) => ({ digest: m.digest, mediaType: m.mediaType })));
    }
    // The manifest's bytes live in the blob store like any blob.
    const target = this.blobPath(digest);
    if (!(await this.touchBlob(digest))) await this.writeAtomic(target, bytes);
    await this.writeAtomic(this.revisionPath(repo, digest), JSON.stringify({ mediaType: manifest.mediaType, size: bytes.length } satisfies RevisionMeta));
    if (manifest.subject) {
      const sd = parseDigest(manifest.subject.digest)!;
      await this.writeAtomic(join(this.referrersDir(repo, sd), `${digest.algorithm}-${digest.hex}`),
        JSON.stringify(referrerDescriptor(manifest, digest, bytes.length)));
    }
    for (const tag of opts.tags ?? []) await this.writeAtomic(join(this.tagsDir(repo), tag), digest.digest);
    return { digest, manifest };
  }

  async listTags(repo: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.tagsDir(repo))).filter(isValidTag).sort();
    } catch (err) { if (isNotFound(err)) return []; throw err; }
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    try { await fsp.unlink(join(this.tagsDir(repo), tag)); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
  }

  /** Deletes a manifest revision, every tag pointing at it and its referrers entry. */
  async deleteManifest(repo: string, d: ParsedDigest): Promise<boolean> {
    const rec = await this.getManifest(repo, d);
    if (!rec) return false;
    try {
      const m = parseManifest(await this.readManifest(rec), rec.mediaType);
      const sd = m.subject && parseDigest(m.subject.digest);
      if (sd) await fsp.rm(join(this.referrersDir(repo, sd), `${d.algorithm}-${d.hex}`), { force: true });
    } catch { /* an unreadable manifest has no referrer entry to remove */ }
    for (const tag of await this.listTags(repo)) {
      if ((await this.resolveTag(repo, tag))?.digest === d.digest) await this.deleteTag(repo, tag);
    }
    await fsp.rm(this.revisionPath(repo, d), { force: true });
    return true;
  }

  async listReferrers(repo: string, subject: ParsedDigest): Promise<Descriptor[]> {
    const dir = this.referrersDir(repo, subject);
    let names: string[];
    try { names = (await fsp.readdir(dir)).sort(); } catch (err) { if (isNotFound(err)) return []; throw err; }
    const out: Descriptor[] = [];
    for (const n of names) {
      const m = /^(sha256|sha512)-([a-f0-9]+)$/.exec(n);
      if (!m) continue;
      const rd = parseDigest(`${m[1]}:${m[2]}`);
      // Only manifests still present in the repository are reported.
      if (!rd || !(await statOrUndefined(this.revisionPath(repo, rd)))) continue;
      try { out.push(JSON.parse(await fsp.readFile(join(dir, n), 'utf8'))); } catch { /* skip unreadable */ }
    }
    return out;
  }

  /** When a manifest revision was last written into the repository (ms), or undefined. */
  async revisionTime(repo: string, d: ParsedDigest): Promise<number | undefined> {
    return (await statOrUndefined(this.revisionPath(repo, d)))?.mtimeMs;
  }

  /** Digests of every manifest revision in a repository. */
  async listRevisions(repo: string): Promise<ParsedDigest[]> {
    const out: ParsedDigest[] = [];
    const base = join(this.repoDir(repo), '_manifests', 'revisions');
    for (const alg of await fsp.readdir(base).catch(() => [] as string[])) {
      for (const hex of await fsp.readdir(join(base, alg)).catch(() => [] as string[])) {
        const d = parseDigest(`${alg}:${hex}`);
        if (d) out.push(d);
      }
    }
    return out;
  }

  /** Every blob in the store, with its modification time. */
  async *walkBlobs(): AsyncGenerator<BlobInfo & { parsed: ParsedDigest }> {
    for (const alg of await fsp.readdir(this.blobsDir).catch(() => [] as string[])) {
      for (const pre of await fsp.readdir(join(this.blobsDir, alg)).catch(() => [] as string[])) {
        for (const hex of await fsp.readdir(join(this.blobsDir, alg, pre)).catch(() => [] as string[])) {
          const d = parseDigest(`${alg}:${hex}`);
          if (!d) continue;
          const st = await statOrUndefined(join(this.blobsDir, alg, pre, hex));
          if (st?.isFile()) yield { digest: d.digest, parsed: d, size: st.size, path: join(this.blobsDir, alg, pre, hex), mtimeMs: st.mtimeMs };
        }
      }
    }
  }
}
