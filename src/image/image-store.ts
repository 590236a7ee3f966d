/**
 * Images: configs in the content store, records (tags, digests, layer chain) in the metadata DB,
 * layers in the layer store. An image's ID is the digest of its config.
 */
import { ConflictError, InvalidParameterError, NotFoundError } from '../errors/index.js';
import type { Db } from '../store/index.js';
import { DocumentTable } from '../store/index.js';
import type { LayerStore } from '../layer/index.js';
import { chainIdOf } from '../layer/index.js';
import type { ContentStore } from './content-store.js';
import { familiarName, familiarTagged, looksLikeImageId, parseReference } from './reference.js';
import type { EventBus } from '../events/index.js';
import { HOST_ARCH } from './platform.js';

export interface ImageConfig {
  architecture?: string; os?: string; created?: string; author?: string;
  config?: Record<string, any>;
  container_config?: Record<string, any>;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }[];
  docker_version?: string; comment?: string; parent?: string; variant?: string;
  [k: string]: unknown;
}

export interface ImageRecord {
  id: string;                 // sha256:<hex of config>
  repoTags: string[];         // familiar name:tag
  repoDigests: string[];      // familiar name@sha256:…
  chainId: string | null;     // top of the layer chain
  size: number;
  created: string;
  parent?: string;            // local parent image (build/commit), as Docker's ParentId
  lastTagTime?: string;
}

/** Who is using an image: the container service answers, so images never import containers. */
export interface ImageUsage { containersUsing(imageId: string): { id: string; running: boolean }[] }

export class ImageStore {
  readonly table: DocumentTable<ImageRecord>;
  private usage: ImageUsage = { containersUsing: () => [] };
  private configCache = new Map<string, ImageConfig>();

  constructor(db: Db, readonly content: ContentStore, readonly layers: LayerStore, private readonly events: EventBus) {
    this.table = new DocumentTable<ImageRecord>(db, 'images');
  }

  setUsage(u: ImageUsage): void { this.usage = u; }

  all(): ImageRecord[] { return this.table.all(); }

  /** Whether `ref` resolves to image `id`; one lookup when a tag or digest of it names it (tags are unique). */
  resolvesTo(ref: string, id: string): boolean {
    const rec = this.table.get(id);
    if (rec && namedForm(ref)?.includes(rec)) return true;
    return this.tryResolve(ref)?.id === id;
  }

  /** Resolves a name, name:tag, name@digest, full ID or unique ID prefix — Docker's lookup order. */
  resolve(ref: string): ImageRecord {
    const rec = this.tryResolve(ref);
    if (!rec) throw new NotFoundError(`No such image: ${ref}`);
    return rec;
  }

  tryResolve(ref: string): ImageRecord | undefined {
    if (!ref) return undefined;
    if (ref.startsWith('sha256:') && ref.length === 71) return this.table.get(ref);
    const all = this.table.all();
    const named = namedForm(ref);
    const hit = named && all.find((i) => named.includes(i));
    if (hit) return hit;
    if (looksLikeImageId(ref)) {
      const hex = ref.replace(/^sha256:/, '');
      const hits = all.filter((i) => i.id.slice(7).startsWith(hex));
      if (hits.length === 1) return hits[0];
    }
    return undefined;
  }

  async config(id: string): Promise<ImageConfig> {
    let c = this.configCache.get(id);
    if (!c) {
      c = JSON.parse((await this.content.readBytes(id)).toString('utf8')) as ImageConfig;
      this.configCache.set(id, c);
    }
    return c;
  }

  /** Records an image from its config bytes; the layers must already be in the layer store. */
  async create(configBytes: Buffer, opts: { parent?: string } = {}): Promise<ImageRecord> {
    let config: ImageConfig;
    try { config = JSON.parse(configBytes.toString('utf8')); } catch { throw new InvalidParameterError('invalid image config: not JSON'); }
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds)) throw new InvalidParameterError('invalid image config: no rootfs.diff_ids');
    const chainId = diffIds.length ? chainIdOf(diffIds) : null;
    if (chainId && !this.layers.has(chainId)) throw new InvalidParameterError(`layer chain ${chainId} is missing`);
    const { digest } = await this.content.putBytes(configBytes);
    const existing = this.table.get(digest);
    if (existing) return existing;
    let size = 0;
    if (chainId) {
      let cur: string | null = chainId;
      while (cur) { const l = this.layers.get(cur); size += l.size; cur = l.parent; }
    }
    const rec: ImageRecord = { id: digest, repoTags: [], repoDigests: [], chainId, size, created: config.created ?? new Date(0).toISOString(), parent: opts.parent };
    this.table.put(digest, rec);
    return rec;
  }

  /** The images `docker images` lists: without `all`, untagged parents of other images (build intermediates) are left out. */
  listed(all = false): ImageRecord[] {
    const images = this.all();
    if (all) return images;
    const parents = new Set(images.map((o) => o.parent));
    return images.filter((i) => i.repoTags.length > 0 || !parents.has(i.id));
  }

  /**
   * `system df`'s view of images: how much of each one is in layers another image uses too
   * (SharedSize), and every layer in the store counted once (LayersSize).
   */
  diskUsage(): { layersSize: number; sharedSize: Map<string, number> } {
    const images = this.all();
    const chains = images.map((i) => (i.chainId ? this.layers.chain(i.chainId) : []));
    const users = new Map<string, number>();
    for (const chain of chains) for (const l of chain) users.set(l.chainId, (users.get(l.chainId) ?? 0) + 1);
    const sharedSize = new Map(images.map((img, k) => [img.id, chains[k].filter((l) => users.get(l.chainId)! > 1).reduce((s, l) => s + l.size, 0)]));
    return { layersSize: this.layers.list().reduce((s, l) => s + l.size, 0), sharedSize };
  }

  /** An image event as dockerd logs it for an image as a whole: named by its ID (load, save, import, untag, delete). */
  announce(action: 'load' | 'save' | 'import' | 'untag' | 'delete', id: string): void {
    this.events.emit('image', action, id, { name: id });
  }

  /**
   * Points name:tag at an image, moving it from any other image (which may become dangling);
   * `quiet` for the tags a load restores, which dockerd does not announce (the load is).
   */
  tag(id: string, ref: string, opts: { quiet?: boolean } = {}): string {
    const parsed = parseReference(ref);
    if (parsed.digest) throw new InvalidParameterError('refusing to create a tag with a digest reference');
    // As dockerd: a name that reads as an image ID or a digest algorithm would make references ambiguous.
    if (/^[a-f0-9]{64}$/.test(familiarName(parsed))) throw new InvalidParameterError(`invalid repository name (${familiarName(parsed)}), cannot specify 64-byte hexadecimal strings`);
    if (familiarName(parsed) === 'sha256') throw new InvalidParameterError('refusing to create an ambiguous tag using digest algorithm as name');
    const tagged = `${familiarName(parsed)}:${parsed.tag ?? 'latest'}`;
    for (const other of this.table.all()) {
      if (other.id !== id && other.repoTags.includes(tagged)) {
        other.repoTags = other.repoTags.filter((t) => t !== tagged);
        this.table.put(other.id, other);
      }
    }
    const rec = this.resolve(id);
    if (!rec.repoTags.includes(tagged)) rec.repoTags.push(tagged);
    rec.lastTagTime = new Date().toISOString();
    this.table.put(rec.id, rec);
    if (!opts.quiet) this.events.emit('image', 'tag', rec.id, { name: tagged });
    return tagged;
  }

  addRepoDigest(id: string, familiarWithDigest: string): void {
    const rec = this.resolve(id);
    const name = familiarWithDigest.split('@')[0];
    rec.repoDigests = rec.repoDigests.filter((d) => d.split('@')[0] !== name || d === familiarWithDigest);
    if (!rec.repoDigests.includes(familiarWithDigest)) rec.repoDigests.push(familiarWithDigest);
    this.table.put(rec.id, rec);
  }

  /** Docker's `rmi`: untag when the reference is one of several tags, delete when it is the last. */
  remove(ref: string, force: boolean, noprune: boolean): { Untagged?: string; Deleted?: string }[] {
    const rec = this.resolve(ref);
    const out: { Untagged?: string; Deleted?: string }[] = [];
    const users = this.usage.containersUsing(rec.id);
    const byId = looksLikeImageId(ref) && !rec.repoTags.includes(safeTagged(ref) ?? '');
    const short = rec.id.slice(7, 19);
    const running = users.find((u) => u.running);

    if (!byId) {
      const parsed = parseReference(ref);
      const name = familiarName(parsed);
      const untag = parsed.digest ? `${name}@${parsed.digest}` : `${name}:${parsed.tag ?? 'latest'}`;
      if (rec.repoTags.length + rec.repoDigests.length === 1 && users.length && !force) {
        throw new ConflictError(`conflict: unable to remove repository reference "${ref}" (must force) - container ${users[0].id.slice(0, 12)} is using its referenced image ${short}`);
      }
      out.push({ Untagged: untag });
      if (parsed.digest) rec.repoDigests = rec.repoDigests.filter((d) => d !== untag);
      else {
        rec.repoTags = rec.repoTags.filter((t) => t !== untag);
        // Untagging a repository's last tag drops that repository's digests too, as Docker does.
        if (!rec.repoTags.some((t) => t.startsWith(name + ':'))) {
          for (const d of rec.repoDigests.filter((d) => d.startsWith(name + '@'))) out.push({ Untagged: d });
          rec.repoDigests = rec.repoDigests.filter((d) => !d.startsWith(name + '@'));
        }
      }
      this.announce('untag', rec.id);
      if (rec.repoTags.length + rec.repoDigests.length > 0 || users.length > 0) { this.table.put(rec.id, rec); return out; }
      return out.concat(this.deleteRecord(rec, noprune));
    }

    if (running) throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
    if (users.length && !force) throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0].id.slice(0, 12)}`);
    if (!force && rec.repoTags.length + rec.repoDigests.length > 1 && !isSingleReference(rec.repoTags, rec.repoDigests)) {
      throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const t of rec.repoTags) { out.push({ Untagged: t }); this.announce('untag', rec.id); }
    for (const d of rec.repoDigests) out.push({ Untagged: d });
    rec.repoTags = []; rec.repoDigests = [];
    if (users.length) { this.table.put(rec.id, rec); return out; }
    return out.concat(this.deleteRecord(rec, noprune));
  }

  private deleteRecord(rec: ImageRecord, noprune: boolean): { Deleted: string }[] {
    const out: { Deleted: string }[] = [{ Deleted: rec.id }];
    this.table.delete(rec.id);
    this.configCache.delete(rec.id);
    this.announce('delete', rec.id);
    this.content.delete(rec.id);
    if (!noprune) {
      this.releaseLayers(rec.chainId);
      // Untagged parents (build steps) that nothing else needs go too, as dockerd prunes them.
      const parent = rec.parent ? this.table.get(rec.parent) : undefined;
      if (parent && parent.repoTags.length === 0 && parent.repoDigests.length === 0
        && !this.table.all().some((o) => o.parent === parent.id) && this.usage.containersUsing(parent.id).length === 0) {
        out.push(...this.deleteRecord(parent, false));
      }
    }
    return out;
  }

  /** Deletes layers of a chain that no remaining image or container still needs. */
  releaseLayers(chainId: string | null, inUse: Set<string> = this.layersInUse()): void {
    let cur = chainId;
    while (cur && !inUse.has(cur)) {
      let info;
      try { info = this.layers.get(cur); } catch { return; }
      try { this.layers.delete(cur); } catch { return; }
      // The layer's original tar (kept for save/push) may serve another chain with the same DiffID.
      if (!this.layers.list().some((l) => l.diffId === info.diffId)) this.content.delete(info.diffId);
      cur = info.parent;
    }
  }

  /** Every chain id reachable from an image record or given extra tops (containers' images). */
  layersInUse(extraTops: (string | null)[] = []): Set<string> {
    const used = new Set<string>();
    const tops = this.table.all().map((i) => i.chainId).concat(extraTops);
    for (let cur of tops) {
      while (cur && !used.has(cur)) {
        used.add(cur);
        try { cur = this.layers.get(cur).parent; } catch { cur = null; }
      }
    }
    return used;
  }

  /**
   * `docker history`, newest first. As dockerd: every entry is `<missing>` until the IDs are filled
   * in from the top down along the local parent chain (commit and build steps), one image per entry,
   * as far as those images are still here.
   */
  async history(rec: ImageRecord): Promise<{ Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[]> {
    const cfg = await this.config(rec.id);
    const layerSizes = rec.chainId ? this.layers.chain(rec.chainId).map((l) => l.size).reverse() : [];   // bottom first
    const hist = cfg.history?.length ? cfg.history : [{ created: cfg.created, created_by: '', empty_layer: false }];
    let layer = 0;
    const out = hist.map((h) => ({
      Id: '<missing>',
      Created: Math.floor(Date.parse(h.created ?? cfg.created ?? '') / 1000) || 0,
      CreatedBy: h.created_by ?? '', Tags: null as string[] | null,
      Size: h.empty_layer ? 0 : (layerSizes[layer++] ?? 0), Comment: h.comment ?? '',
    })).reverse();
    let img: ImageRecord | undefined = rec;
    for (const h of out) {
      if (!img) break;
      h.Id = img.id;
      h.Tags = img.repoTags.length ? [...img.repoTags] : null;
      img = img.parent ? this.table.get(img.parent) : undefined;
    }
    return out;
  }

  /** Size of layers shared with other images (for system df) is left to callers. */
  inspectShape(rec: ImageRecord, config: ImageConfig): Record<string, unknown> {
    const dirs = rec.chainId ? this.layers.lowerDirs(rec.chainId) : [];
    return {
      Id: rec.id,
      RepoTags: rec.repoTags,
      RepoDigests: rec.repoDigests,
      Parent: rec.parent ?? '',
      Comment: config.comment ?? (config.history?.at(-1)?.comment ?? ''),
      Created: config.created ?? rec.created,
      DockerVersion: config.docker_version ?? '',
      Author: config.author ?? '',
      Config: normaliseContainerConfig(config.config ?? {}),
      Architecture: config.architecture ?? HOST_ARCH,
      Variant: config.variant,
      Os: config.os ?? 'linux',
      Size: rec.size,
      GraphDriver: {
        Name: 'overlay2',
        Data: dirs.length ? { LowerDir: dirs.slice(1).join(':') || undefined, UpperDir: dirs[0], MergedDir: undefined, WorkDir: undefined } : {},
      },
      RootFS: { Type: 'layers', Layers: config.rootfs?.diff_ids ?? [] },
      Metadata: { LastTagTime: rec.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }
}

function safeTagged(ref: string): string | undefined {
  try { return familiarTagged(ref); } catch { return undefined; }
}

/** Image Config as Docker shows it: every field present, absent ones null/empty. */
export function normaliseContainerConfig(c: Record<string, any>): Record<string, unknown> {
  return {
    Hostname: c.Hostname ?? '', Domainname: c.Domainname ?? '', User: c.User ?? '',
    AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: c.ExposedPorts ?? undefined,
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: c.Env ?? null, Cmd: c.Cmd ?? null,
    Healthcheck: c.Healthcheck ?? undefined,
    ArgsEscaped: c.ArgsEscaped ?? undefined,
    Image: c.Image ?? '', Volumes: c.Volumes ?? null, WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null, OnBuild: c.OnBuild ?? null, Labels: c.Labels ?? null,
    StopSignal: c.StopSignal ?? undefined, Shell: c.Shell ?? undefined,
  };
}

/**
 * dockerd's test before deleting an image by ID without force: at most one tag, and any digests of
 * that same repository (or, without a tag, of a single one).
 */
function isSingleReference(tags: string[], digests: string[]): boolean {
  if (tags.length > 1) return false;
  const repoOf = (r: string, sep: string) => r.slice(0, r.lastIndexOf(sep));
  const repos = new Set(digests.map((d) => repoOf(d, '@')));
  const single = tags.length ? repoOf(tags[0], ':') : repoOf(digests[0], '@');
  return repos.size === 0 || (repos.size === 1 && repos.has(single));
}

/** A reference as the tag (name:tag, latest by default) or digest (name@digest) an image record lists; undefined when it is not one. */
function namedForm(ref: string): { includes(rec: ImageRecord): boolean } | undefined {
  let parsed;
  try { parsed = parseReference(ref); } catch { return undefined; }
  const name = familiarName(parsed);
  if (parsed.digest) { const want = `${name}@${parsed.digest}`; return { includes: (rec) => rec.repoDigests.includes(want) }; }
  const want = `${name}:${parsed.tag ?? 'latest'}`;
  return { includes: (rec) => rec.repoTags.includes(want) };
}
