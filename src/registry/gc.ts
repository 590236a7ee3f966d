/**
 * Garbage collection: mark every blob reachable from the manifests of every repository, sweep
 * the rest. Safe while the registry serves and pushes run, without a read-only mode:
 *  - uploads in progress live outside the blob store until verified, so they are never swept;
 *  - a blob younger than the grace period is never swept, and the server refreshes a blob's
 *    mtime whenever a push uploads, mounts or references it (storage.touchBlob);
 *  - a sweep first renames the blob aside, then re-checks its mtime: a push that touched it
 *    in between (and so passed its existence check) gets it put back; one that comes later
 *    finds it missing and is refused with MANIFEST_BLOB_UNKNOWN, never left dangling.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from './manifests.js';
import type { RegistryStorage } from './storage.js';

export interface GcOptions {
  dryRun?: boolean;
  /** Blobs modified more recently than this are kept (default one hour). */
  gracePeriodMs?: number;
  /** Uploads idle for longer than this are removed (default 24 hours). */
  uploadExpiryMs?: number;
  /**
   * Also delete manifests that no tag reaches (directly, as a child of a tagged index, or as a
   * referrer of a kept manifest), when older than the grace period.
   */
  deleteUntagged?: boolean;
  log?: (message: string) => void;
}

export interface GcResult {
  repositories: number;
  manifests: number;
  marked: number;
  /** Blobs removed (or, on a dry run, that would be). */
  swept: { digest: string; size: number }[];
  bytesFreed: number;
  /** Unreferenced blobs kept because they are younger than the grace period. */
  keptYoung: number;
  uploadsRemoved: string[];
  /** Untagged manifests deleted (or, on a dry run, that would be), as repo@digest. */
  manifestsDeleted: string[];
}

export async function collectGarbage(storage: RegistryStorage, opts: GcOptions = {}): Promise<GcResult> {
  const grace = opts.gracePeriodMs ?? 60 * 60_000;
  const log = opts.log ?? (() => undefined);
  const marked = new Set<string>();
  const repos = await storage.listRepositories();
  const manifestsDeleted: string[] = [];
  if (opts.deleteUntagged) {
    for (const repo of repos) manifestsDeleted.push(...await deleteUntagged(storage, repo, grace, !!opts.dryRun, log));
  }
  const deletedSet = new Set(manifestsDeleted);
  let manifests = 0;
  for (const repo of repos) {
    for (const d of await storage.listRevisions(repo)) {
      if (deletedSet.has(`${repo}@${d.digest}`)) continue; // dry run: as if deleted
      marked.add(d.digest);
      const rec = await storage.getManifest(repo, d);
      if (!rec) continue;
      manifests++;
      try {
        const m = parseManifest(await storage.readManifest(rec), rec.mediaType);
        for (const x of [...m.blobs, ...m.children]) marked.add(x.digest);
      } catch (err) {
        log(`gc: ${repo}@${d.digest}: unreadable manifest kept, its references unknown: ${(err as Error).message}`);
      }
    }
  }
  const result: GcResult = { repositories: repos.length, manifests, marked: marked.size, swept: [], bytesFreed: 0, keptYoung: 0, uploadsRemoved: [], manifestsDeleted };
  const now = Date.now();
  for await (const blob of storage.walkBlobs()) {
    if (marked.has(blob.digest)) continue;
    if (now - blob.mtimeMs < grace) { result.keptYoung++; continue; }
    if (opts.dryRun) {
      result.swept.push({ digest: blob.digest, size: blob.size });
      result.bytesFreed += blob.size;
      log(`gc: would remove ${blob.digest} (${blob.size} bytes)`);
      continue;
    }
    const aside = join(storage.tmpDir, `gc-${randomUUID()}`);
    try { await fsp.rename(blob.path, aside); } catch { continue; }
    const st = await fsp.stat(aside).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs < grace) {
      // Touched by a push since we looked: put it back.
      await fsp.rename(aside, blob.path).catch(() => undefined);
      result.keptYoung++;
      continue;
    }
    await fsp.rm(aside, { force: true });
    result.swept.push({ digest: blob.digest, size: blob.size });
    result.bytesFreed += blob.size;
    log(`gc: removed ${blob.digest} (${blob.size} bytes)`);
  }
  if (!opts.dryRun) result.uploadsRemoved = await storage.purgeStaleUploads(opts.uploadExpiryMs ?? 24 * 60 * 60_000);
  return result;
}

/** Deletes (or lists) the manifests of a repository that no tag reaches. */
async function deleteUntagged(storage: RegistryStorage, repo: string, grace: number, dryRun: boolean, log: (m: string) => void): Promise<string[]> {
  const revisions = await storage.listRevisions(repo);
  const parsed = new Map<string, ReturnType<typeof parseManifest> | undefined>();
  for (const d of revisions) {
    const rec = await storage.getManifest(repo, d);
    try { parsed.set(d.digest, rec ? parseManifest(await storage.readManifest(rec), rec.mediaType) : undefined); } catch { parsed.set(d.digest, undefined); }
  }
  const keep = new Set<string>();
  const visit = (digest: string): void => {
    if (keep.has(digest)) return;
    keep.add(digest);
    for (const c of parsed.get(digest)?.children ?? []) visit(c.digest);
  };
  for (const tag of await storage.listTags(repo)) {
    const d = await storage.resolveTag(repo, tag);
    if (d) visit(d.digest);
  }
  // Referrers (signatures, SBOMs) live as long as what they refer to.
  let grew = true;
  while (grew) {
    grew = false;
    for (const [digest, m] of parsed) {
      if (!keep.has(digest) && m?.subject && keep.has(m.subject.digest)) { visit(digest); grew = true; }
    }
  }
  const out: string[] = [];
  const now = Date.now();
  for (const d of revisions) {
    if (keep.has(d.digest) || parsed.get(d.digest) === undefined) continue;
    const t = await storage.revisionTime(repo, d);
    if (t === undefined || now - t < grace) continue; // young: maybe a push still tagging it
    if (!dryRun) await storage.deleteManifest(repo, d);
    out.push(`${repo}@${d.digest}`);
    log(`gc: ${dryRun ? 'would delete' : 'deleted'} untagged manifest ${repo}@${d.digest}`);
  }
  return out;
}
