/**
 * The layer store: every layer unpacked once per ChainID under <root>/<chainid hex>/diff and recorded in the
 * metadata DB (table `layer_chains`). A layer directory is complete before it is renamed into place, and recorded only
 * after the rename, so a crash leaves at worst a temp dir or an unrecorded dir, which sweep() removes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/index.js';
import { migrate } from '../store/index.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../errors/index.js';
import { assertDigest, childChainId } from './chain-id.js';
import { digestTar, drain, unpackTar } from './unpack.js';
import { diffTar } from './diff.js';
import { run } from './exec.js';
import { hasSplit, splitTarStream } from './tar-split.js';

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
    const tmp = fs.mkdtempSync(path.join(this.root, TMP_PREFIX));
    this.active.add(tmp);
    let placed = false;
    try {
      const diffDir = path.join(tmp, 'diff');
      fs.mkdirSync(diffDir, 0o755);
      const r = await unpackTar(tarStream, diffDir, { splitDir: tmp });
      if (expectedDiffId !== undefined && r.diffId !== expectedDiffId) {
        throw new InvalidParameterError(`layer content does not match its diff ID: expected ${expectedDiffId}, got ${r.diffId}`);
      }
      const chainId = childChainId(parentChainId, r.diffId);
      if (parentChainId !== null && !this.has(parentChainId)) throw new NotFoundError(`parent layer ${parentChainId} was deleted during the unpack`);
      if (this.has(chainId)) return this.get(chainId);     // someone else unpacked it meanwhile
      if (this.durable) await run('sync', ['-f', tmp]);   // syncfs: every file of the layer is on disk
      if (this.has(chainId)) return this.get(chainId);
      const final = this.dirOf(chainId);
      if (fs.existsSync(final)) this.removeInBackground(final);   // left by a crash before it was recorded
      // Rename and record in one synchronous step, so no other unpack can slip in between.
      fs.renameSync(tmp, final);
      placed = true;
      if (this.durable) fsyncDir(this.root);
      this.stmts.put.run(chainId, r.diffId, parentChainId, r.size, new Date().toISOString());
      return this.get(chainId);
    } finally {
      this.active.delete(tmp);
      if (!placed) await fs.promises.rm(tmp, { recursive: true, force: true });
    }
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
  reproducible(chainId: string): boolean { return hasSplit(path.dirname(this.get(chainId).diffDir)); }

  /**
   * The layer as a tar: the exact original bytes (sha256 = DiffID) from the kept tar-split when there is one,
   * otherwise regenerated from the unpacked files by diffTar (same content, different bytes).
   */
  tar(chainId: string): NodeJS.ReadableStream {
    const { diffDir } = this.get(chainId);
    const layerDir = path.dirname(diffDir);
    return hasSplit(layerDir) ? splitTarStream(layerDir, diffDir) : diffTar(diffDir);
  }
}
