/** `docker diff`: what a container's read/write layer changed against its image. */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageStore } from '../image/index.js';
import type { ContainerService } from './container-service.js';
import { initLayerEntries } from './init-layer.js';

/** One entry of `docker diff`: Kind 0 changed, 1 added, 2 deleted. */
export interface ContainerChange { Path: string; Kind: number }

/**
 * `docker diff` from the upper dir: whiteouts are deletions, the rest added or changed (if a lower
 * layer has it). The mount-point stubs Docker keeps in its init layer are left out; mount points of
 * volumes and binds are real changes of the read/write layer in Docker too, and stay.
 */
export function changesOf(upper: string, lower: string[]): ContainerChange[] | null {
  const out: ContainerChange[] = [];
  const skip = existsSync(upper) ? initLayerEntries(upper, lower) : new Set<string>();
  const inLower = (p: string) => lower.some((l) => { try { lstatSync(join(l, p)); return true; } catch { return false; } });
  const walk = (rel: string): boolean => {
    let any = false;
    for (const name of readdirSync(join(upper, rel)).sort()) {
      const p = rel === '/' ? `/${name}` : `${rel}/${name}`;
      if (skip.has(p)) continue;
      const st = lstatSync(join(upper, p));
      if (st.isCharacterDevice() && st.rdev === 0) { out.push({ Path: p, Kind: 2 }); any = true; continue; }
      const existed = inLower(p);
      if (st.isDirectory()) {
        const idx = out.length;
        const childChanged = walk(p);
        if (!existed) { out.splice(idx, 0, { Path: p, Kind: 1 }); any = true; }
        else if (childChanged || !existsSync(join(upper, p))) { out.splice(idx, 0, { Path: p, Kind: 0 }); any = true; }
      } else { out.push({ Path: p, Kind: existed ? 0 : 1 }); any = true; }
    }
    return any;
  };
  if (existsSync(upper)) walk('/');
  return out.length ? out.sort((a, b) => a.Path.localeCompare(b.Path)) : null;
}

/** `docker diff <ref>`: the container's upper dir against its image's layers (null when nothing changed). */
export function containerChanges(cs: ContainerService, images: ImageStore, ref: string): ContainerChange[] | null {
  const c = cs.get(ref);
  const img = images.table.get(c.ImageId);
  const lower = img?.chainId ? images.layers.lowerDirs(img.chainId) : [];
  return changesOf(join(cs.dir(c.Id), 'upper'), lower);
}
