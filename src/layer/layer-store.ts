/**
 * The layer store: every layer unpacked once per ChainID under <root>/<chainid hex>/diff and recorded in the
 * metadata DB (table `layer_chains`). A layer is unpacked into a private staging dir (tmp-*), flushed to disk (one
 * syncfs, for all layers committed together), renamed into place and only then recorded, so a crash leaves at worst
 * a temp dir or an unrecorded dir, which sweep() removes. Next to diff/ a layer keeps its tar-split (the exact tar
 * comes back from it and the files), layer.json (tar size, kept blob) and, for a pull, the blob as downloaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import type { Db } from '../store/index.js';
import { migrate } from '../store/index.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../errors/index.js';
import { assertDigest, childChainId } from './chain-id.js';
import { digestTar, drain, unpackTar } from './unpack.js';
import { diffTar } from './diff.js';
import { run } from './exec.js';
import { hasSplit, splitTarStream } from './tar-split.js';
import { OffThreadUnpack } from './unpack-pool.js';

export interface LayerInfo {
  chainId: string;
  diffId: string;
  parent: string | null;
  /** Bytes of this layer's own content (regular files once per inode, symlink targets). */
  size: number;
  diffDir: string;
}

interface Row { chain_id: string; diff_id: string; parent: string | null; size: number }

const TMP_PREFIX = 'tmp-';

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
const HEX = /^[0-9a-f]{64}$/;

export class LayerStore {
  private readonly active = new Set<string>();          // temp dirs of unpacks in progress (sweep leaves them)
  private readonly removals = new Set<Promise<void>>();  // background removals of deleted layers
  private readonly stmts;

  private readonly durable: boolean;

  /**
   * opts.durable (default true): flush each new layer to disk (one syncfs) before it is recorded, so a power loss
   * can never leave a recorded layer with missing file contents. Turn off only for throwaway stores.
   */
  constructor(readonly root: string, private readonly db: Db, opts: { durable?: boolean } = {}) {
    this.durable = opts.durable ?? true;
    fs.mkdirSync(root, { recursive: true, mode: 0o710 });
    migrate(db, [
      `CREATE TABLE IF NOT EXISTS layer_chains (
         chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT REFERENCES layer_chains(chain_id),
         size INTEGER NOT NULL, created TEXT NOT NULL)`,
      'CREATE INDEX IF NOT EXISTS layer_chains_parent ON layer_chains(parent)',
    ]);
    this.stmts = {
      get: db.prepare('SELECT chain_id, diff_id, parent, size FROM layer_chains WHERE chain_id = ?'),
      all: db.prepare('SELECT chain_id, diff_id, parent, size FROM layer_chains'),
      put: db.prepare('INSERT INTO layer_chains (chain_id, diff_id, parent, size, created) VALUES (?, ?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM layer_chains WHERE chain_id = ?'),
      child: db.prepare('SELECT chain_id FROM layer_chains WHERE parent = ? LIMIT 1'),
    };
  }

  private dirOf(chainId: string): string { return path.join(this.root, chainId.slice('sha256:'.length)); }

  private info(r: Row): LayerInfo {
    return { chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, size: r.size, diffDir: path.join(this.dirOf(r.chain_id), 'diff') };
  }

  has(chainId: string): boolean { return this.stmts.get.get(chainId) !== undefined; }

  get(chainId: string): LayerInfo {
    const r = this.stmts.get.get(chainId) as Row | undefined;
    if (!r) throw new NotFoundError(`layer ${chainId} not found`);
    return this.info(r);
  }

  list(): LayerInfo[] { return (this.stmts.all.all() as Row[]).map((r) => this.info(r)); }

  /** The chain from `chainId` down to its base layer, topmost first. */
  chain(chainId: string): LayerInfo[] {
    const out: LayerInfo[] = [];
    for (let c: string | null = chainId; c !== null; c = out[out.length - 1]!.parent) out.push(this.get(c));
    return out;
  }

  /** Diff dirs of the chain, topmost first: overlayfs lowerdir order. */
  lowerDirs(chainId: string): string[] { return this.chain(chainId).map((l) => l.diffDir); }

  /** Total content size of the chain (what `docker images` shows as an image's size). */
  chainSize(chainId: string): number { return this.chain(chainId).reduce((s, l) => s + l.size, 0); }

  /**
   * Unpacks one layer tar (plain or gzip) on top of `parentChainId`: stage() then commit(). With `expectedDiffId`, a
   * chain that exists already is not unpacked again (the stream is only read to check it is what it claims).
   */
  async unpack(parentChainId: string | null, tarStream: NodeJS.ReadableStream, expectedDiffId?: string): Promise<LayerInfo> {
    try {
      if (parentChainId !== null && !this.has(parentChainId)) throw new NotFoundError(`parent layer ${parentChainId} not found`);
      if (expectedDiffId !== undefined) assertDigest(expectedDiffId, 'diff ID');
    } catch (e) {
      drain(tarStream);   // refused before reading: still let the stream flow (HTTP bodies, teed sources)
      throw e;
    }
    if (expectedDiffId !== undefined) {
      const chainId = childChainId(parentChainId, expectedDiffId);
      if (this.has(chainId)) {
        // Already unpacked: only consume the stream, verifying it is the content it claims to be.
        const got = await digestTar(tarStream);
        if (got !== expectedDiffId) throw new InvalidParameterError(`layer content does not match its diff ID: expected ${expectedDiffId}, got ${got}`);
        return this.get(chainId);
      }
    }
    const staged = this.staging();
    try {
      await this.stage(staged, tarStream, expectedDiffId);
      return (await this.commit(parentChainId, [staged]))[0]!;
    } finally {
      await this.discard(staged);
    }
  }

  /**
   * A fresh private directory to unpack one layer into, not yet part of any chain: the layers of one image can be
   * staged at the same time (overlay layer directories do not depend on each other) and committed in order after.
   * It stays until commit() takes it or discard() removes it (sweep() leaves it alone meanwhile).
   */
  staging(): LayerStaging {
    const dir = fs.mkdtempSync(path.join(this.root, TMP_PREFIX));
    this.active.add(dir);
    fs.mkdirSync(path.join(dir, 'diff'), 0o755);
    return new LayerStaging(dir);
  }

  /** Unpacks `tarStream` into the staging, with a tar-split; refuses content that is not `expectedDiffId`. */
  async stage(staged: LayerStaging, tarStream: NodeJS.ReadableStream, expectedDiffId?: string): Promise<void> {
    if (staged.diffId !== undefined) throw new ConflictError('this layer staging has been unpacked already');
    const r = await unpackTar(tarStream, staged.diffDir, { splitDir: staged.dir });
    if (expectedDiffId !== undefined && r.diffId !== expectedDiffId) {
      throw new InvalidParameterError(`layer content does not match its diff ID: expected ${expectedDiffId}, got ${r.diffId}`);
    }
    staged.diffId = r.diffId;
    staged.size = r.size;
    staged.tarSize = r.tarSize;
  }

  /**
   * stage() on a worker thread, fed piece by piece (plain or gzip tar bytes): a download hands each piece over as it
   * arrives, and the unpacking runs beside it instead of on the main thread. `done` settles once the layer is staged
   * (its DiffID checked against `expectedDiffId`) or has failed; after abort() it rejects.
   */
  stageOffThread(staged: LayerStaging, expectedDiffId?: string): LayerFeed {
    if (staged.diffId !== undefined) throw new ConflictError('this layer staging has been unpacked already');
    if (expectedDiffId !== undefined) assertDigest(expectedDiffId, 'diff ID');
    const job = new OffThreadUnpack(staged.dir);
    const done = job.result.then((r) => {
      if (expectedDiffId !== undefined && r.diffId !== expectedDiffId) {
        throw new InvalidParameterError(`layer content does not match its diff ID: expected ${expectedDiffId}, got ${r.diffId}`);
      }
      staged.diffId = r.diffId;
      staged.size = r.size;
      staged.tarSize = r.tarSize;
    });
    done.catch(() => { /* the caller awaits it */ });
    return { write: (b, owned) => job.write(b, owned), end: () => job.end(), abort: () => job.abort(), done };
  }

  /**
   * Makes staged layers part of the store, stacked in order on `parentChainId`: one flush of the filesystem for all
   * of them (when durable), then each is renamed into place and recorded. A layer whose chain exists already
   * (another pull got there first) is left for discard(). Returns the layers, base first.
   */
  async commit(parentChainId: string | null, staged: LayerStaging[]): Promise<LayerInfo[]> {
    const chains: string[] = [];
    let parent = parentChainId;
    for (const s of staged) {
      if (s.diffId === undefined) throw new InvalidParameterError('cannot commit a layer staging that has not been unpacked');
      parent = childChainId(parent, s.diffId);
      chains.push(parent);
    }
    for (const s of staged) fs.writeFileSync(path.join(s.dir, META_FILE), JSON.stringify({ tarSize: s.tarSize, blob: s.blob }));
    if (this.durable && chains.some((c) => !this.has(c))) await run('sync', ['-f', this.root]);   // syncfs: every file of the layers is on disk
    // From here on synchronous, so no other commit can slip in between a check and its rename + record.
    if (parentChainId !== null && !this.has(parentChainId)) throw new NotFoundError(`parent layer ${parentChainId} was deleted during the unpack`);
    // Renamed into place (and the directory flushed) before anything is recorded: a record never names a dir that
    // a crash could take back.
    const placed: Array<{ chainId: string; diffId: string; parent: string | null; size: number }> = [];
    parent = parentChainId;
    staged.forEach((s, i) => {
      const chainId = chains[i]!;
      if (!this.has(chainId)) {
        const final = this.dirOf(chainId);
        if (fs.existsSync(final)) this.removeInBackground(final);   // left by a crash before it was recorded
        fs.renameSync(s.dir, final);
        this.active.delete(s.dir);
        s.committed = true;
        placed.push({ chainId, diffId: s.diffId!, parent, size: s.size });
      }
      parent = chainId;
    });
    if (placed.length > 0 && this.durable) fsyncDir(this.root);
    const now = new Date().toISOString();
    this.db.transaction(() => { for (const p of placed) this.stmts.put.run(p.chainId, p.diffId, p.parent, p.size, now); })();
    const out = chains.map((c) => this.get(c));
    return out;
  }

  /** Removes a staging that was not (or could not be) committed. */
  async discard(staged: LayerStaging): Promise<void> {
    if (staged.committed) return;
    try { await fs.promises.rm(staged.dir, { recursive: true, force: true }); } finally { this.active.delete(staged.dir); }
  }

  /** The blob a layer was downloaded as, when it was kept (push sends it again as it is: same digest). */
  blob(chainId: string): LayerBlob | undefined {
    const dir = path.dirname(this.get(chainId).diffDir);
    const b = readMeta(dir)?.blob;
    return b ? { ...b, path: path.join(dir, BLOB_FILE) } : undefined;
  }

  delete(chainId: string): void {
    const info = this.get(chainId);
    if (this.stmts.child.get(chainId) !== undefined) throw new ConflictError(`layer ${chainId} is the parent of another layer`);
    this.stmts.del.run(chainId);
    this.removeInBackground(path.dirname(info.diffDir));
  }

  /** Moves a dir out of the way synchronously, then removes it without blocking; sweep() finishes it after a crash. */
  private removeInBackground(dir: string): void {
    const doomed = path.join(this.root, `${TMP_PREFIX}del-${randomBytes(6).toString('hex')}`);
    try { fs.renameSync(dir, doomed); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; throw e; }
    const p = fs.promises.rm(doomed, { recursive: true, force: true }).catch(() => { /* sweep() retries */ });
    this.removals.add(p);
    void p.finally(() => this.removals.delete(p));
  }

  /** Resolves when background removals of deleted layers have finished. */
  async idle(): Promise<void> { await Promise.all([...this.removals]); }

  /** Removes temp dirs and unrecorded layer dirs (a crash's leftovers). Returns the names removed. */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of fs.readdirSync(this.root)) {
      const p = path.join(this.root, name);
      const stale = (name.startsWith(TMP_PREFIX) && !this.active.has(p)) || (HEX.test(name) && !this.has('sha256:' + name));
      if (!stale) continue;
      await fs.promises.rm(p, { recursive: true, force: true });
      removed.push(name);
    }
    await this.idle();
    return removed;
  }

  /** Whether tar() gives back the exact bytes the layer was unpacked from (so their sha256 is the DiffID). */
  reproducible(chainId: string): boolean {
    const dir = path.dirname(this.get(chainId).diffDir);
    return hasSplit(dir) || readMeta(dir)?.blob !== undefined;
  }

  /**
   * The layer as a tar: the exact original bytes (sha256 = DiffID) from the kept tar-split when there is one, or from
   * the kept blob; otherwise regenerated from the unpacked files by diffTar (same content, different bytes).
   */
  tar(chainId: string): NodeJS.ReadableStream {
    const { diffDir } = this.get(chainId);
    const layerDir = path.dirname(diffDir);
    if (hasSplit(layerDir)) return splitTarStream(layerDir, diffDir);
    const blob = readMeta(layerDir)?.blob;
    if (blob) {
      const src = fs.createReadStream(path.join(layerDir, BLOB_FILE), { highWaterMark: 1 << 20 });
      if (!/gzip/.test(blob.mediaType)) return src;
      const gunzip = createGunzip({ chunkSize: 1 << 20 });
      src.on('error', (e) => gunzip.destroy(e));
      return src.pipe(gunzip);
    }
    return diffTar(diffDir);
  }

  /** Bytes of tar() when it is reproducible (undefined for layers stored before the size was kept). */
  tarSize(chainId: string): number | undefined {
    return readMeta(path.dirname(this.get(chainId).diffDir))?.tarSize;
  }
}

/** A layer being unpacked outside the store (LayerStore.staging/stage/commit/discard). */
export class LayerStaging {
  diffId: string | undefined;
  /** Bytes of content (as LayerInfo.size) and of the uncompressed tar, once staged. */
  size = 0;
  tarSize = 0;
  /** Set when the blob as downloaded was written to blobPath and is to be kept with the layer. */
  blob: { digest: string; mediaType: string; size: number } | undefined;
  committed = false;
  constructor(readonly dir: string) {}
  get diffDir(): string { return path.join(this.dir, 'diff'); }
  /** Where to write the layer's blob (compressed, as downloaded) to keep it with the layer. */
  get blobPath(): string { return path.join(this.dir, BLOB_FILE); }
}

/** Input of LayerStore.stageOffThread. */
export interface LayerFeed {
  /** Resolves when there is room for more; `owned` as OffThreadUnpack.write (the buffer is transferred). */
  write(b: Buffer, owned?: boolean): Promise<void>;
  end(): void;
  abort(): void;
  readonly done: Promise<void>;
}

export interface LayerBlob { digest: string; mediaType: string; size: number; path: string }

const META_FILE = 'layer.json';
const BLOB_FILE = 'blob';

function readMeta(layerDir: string): { tarSize?: number; blob?: { digest: string; mediaType: string; size: number } } | undefined {
  try { return JSON.parse(fs.readFileSync(path.join(layerDir, META_FILE), 'utf8')); } catch { return undefined; }
}
