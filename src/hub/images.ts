/**
 * What the repository page shows about tags, read from the registry's storage: digest, size,
 * platforms, last push time and layers (with the history lines that made them, when known).
 */
import { readFile } from 'node:fs/promises';
import { isIndexType } from '../oci/index.js';
import { parseDigest, type RegistryStorage } from '../registry/index.js';

const parseDigestOrUndefined = (d: string): ReturnType<typeof parseDigest> => parseDigest(d);

export interface LayerInfo { digest: string; size: number; createdBy?: string }
export interface PlatformInfo { os: string; architecture: string; variant?: string; digest: string; size: number; layers: LayerInfo[] }
export interface TagInfo { tag: string; digest: string; mediaType: string; size: number; pushed: number; platforms: PlatformInfo[] }

interface Desc { mediaType: string; digest: string; size: number; platform?: { os: string; architecture: string; variant?: string } }

async function readJson(storage: RegistryStorage, repo: string, digest: string): Promise<Record<string, unknown> | undefined> {
  const d = parseDigestOrUndefined(digest);
  if (!d) return undefined;
  const m = await storage.getManifest(repo, d);
  if (m) return JSON.parse((await storage.readManifest(m)).toString('utf8')) as Record<string, unknown>;
  const b = await storage.statBlob(repo, d);
  if (!b || b.size > 8 * 1024 * 1024) return undefined;
  return JSON.parse(await readFile(b.path, 'utf8')) as Record<string, unknown>;
}

async function imageInfo(storage: RegistryStorage, repo: string, manifest: Record<string, unknown>, digest: string, size: number): Promise<PlatformInfo> {
  const config = manifest.config as Desc | undefined;
  const layers = (manifest.layers as Desc[] | undefined) ?? [];
  let cfg: Record<string, unknown> | undefined;
  try { cfg = config ? await readJson(storage, repo, config.digest) : undefined; } catch { cfg = undefined; }
  // The config is what a pusher sent: anything not of the expected type is left out, never trusted.
  const history = (Array.isArray(cfg?.history) ? cfg.history as unknown[] : [])
    .filter((h): h is { created_by?: unknown; empty_layer?: unknown } => !!h && typeof h === 'object' && !(h as { empty_layer?: unknown }).empty_layer);
  return {
    os: String(cfg?.os ?? 'unknown'), architecture: String(cfg?.architecture ?? 'unknown'),
    variant: typeof cfg?.variant === 'string' ? cfg.variant : undefined,
    digest,
    size: size + (config?.size ?? 0) + layers.reduce((n, l) => n + (l.size ?? 0), 0),
    layers: layers.map((l, i) => ({ digest: l.digest, size: l.size, createdBy: typeof history[i]?.created_by === 'string' ? history[i].created_by as string : undefined })),
  };
}

export async function tagInfo(storage: RegistryStorage, repo: string, tag: string): Promise<TagInfo | undefined> {
  const d = await storage.resolveTag(repo, tag);
  const rec = d && await storage.getManifest(repo, d);
  if (!d || !rec) return undefined;
  const doc = JSON.parse((await storage.readManifest(rec)).toString('utf8')) as Record<string, unknown>;
  const pushed = (await storage.revisionTime(repo, d)) ?? 0;
  const platforms: PlatformInfo[] = [];
  if (isIndexType(rec.mediaType)) {
    for (const m of ((doc.manifests as Desc[] | undefined) ?? []).slice(0, 32)) {
      if (!m.platform || m.platform.os === 'unknown') continue; // attestations
      const child = await readJson(storage, repo, m.digest).catch(() => undefined);
      if (!child) continue;
      const p = await imageInfo(storage, repo, child, m.digest, m.size);
      platforms.push({ ...p, os: m.platform.os, architecture: m.platform.architecture, variant: m.platform.variant });
    }
  } else {
    platforms.push(await imageInfo(storage, repo, doc, d.digest, rec.size));
  }
  const size = platforms.length ? Math.max(...platforms.map((p) => p.size)) : rec.size;
  return { tag, digest: d.digest, mediaType: rec.mediaType, size, pushed, platforms };
}

export async function listTagInfo(storage: RegistryStorage, repo: string, limit = 100): Promise<TagInfo[]> {
  const tags = await storage.listTags(repo).catch(() => [] as string[]);
  const infos = (await Promise.all(tags.slice(0, 500).map((t) => tagInfo(storage, repo, t).catch(() => undefined))))
    .filter((t): t is TagInfo => !!t);
  return infos.sort((a, b) => b.pushed - a.pushed || a.tag.localeCompare(b.tag)).slice(0, limit);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function timeAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return 'just now';
  const steps: [number, string][] = [[60, 'minute'], [3600, 'hour'], [86400, 'day'], [2592000, 'month'], [31536000, 'year']];
  let unit = steps[0];
  for (const st of steps) if (s >= st[0]) unit = st;
  const n = Math.floor(s / unit[0]);
  return `${n} ${unit[1]}${n === 1 ? '' : 's'} ago`;
}
