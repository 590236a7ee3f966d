/**
 * Which compressed blobs a layer (by DiffID) is known as, where: filled by pulls and pushes, read
 * by push to skip layers a registry has ("Layer already exists"), mount them from another
 * repository there ("Mounted from …"), and re-use the same compressed digest on re-push.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownBlob {
  digest: string;
  size: number;
  mediaType: string;
  /** Registry name as references use it (docker.io, 127.0.0.1:5000). */
  registry: string;
  /** Repository path in that registry (library/busybox). */
  repository: string;
}

const MAX_PER_LAYER = 32;

export class BlobMetadata {
  private data: Record<string, KnownBlob[]> = {};
  private dirty = false;
  private saving?: NodeJS.Timeout;

  constructor(private readonly file: string) {
    try { this.data = JSON.parse(readFileSync(file, 'utf8')); } catch { this.data = {}; }
  }

  forLayer(diffId: string, registry?: string): KnownBlob[] {
    const all = this.data[diffId] ?? [];
    return registry ? all.filter((b) => b.registry === registry) : all;
  }

  record(diffId: string, blob: KnownBlob): void {
    const list = (this.data[diffId] ?? []).filter((b) => !(b.registry === blob.registry && b.repository === blob.repository && b.digest === blob.digest));
    list.unshift(blob);
    this.data[diffId] = list.slice(0, MAX_PER_LAYER);
    this.dirty = true;
    if (!this.saving) this.saving = setTimeout(() => this.flush(), 50);
  }

  /** Forgets a blob a registry no longer has for a repository. */
  forget(diffId: string, registry: string, repository: string, digest: string): void {
    const list = this.data[diffId];
    if (!list) return;
    this.data[diffId] = list.filter((b) => !(b.registry === registry && b.repository === repository && b.digest === digest));
    this.dirty = true;
    if (!this.saving) this.saving = setTimeout(() => this.flush(), 50);
  }

  flush(): void {
    if (this.saving) { clearTimeout(this.saving); this.saving = undefined; }
    if (!this.dirty) return;
    this.dirty = false;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.file);
  }
}
