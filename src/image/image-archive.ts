/**
 * docker save / load (Docker's manifest.json layout and the OCI image layout, which Docker 25+
 * writes together) and docker import of a root filesystem tar.
 */
import { createReadStream, createWriteStream, mkdirSync, rmSync, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { InvalidParameterError } from '../errors/index.js';
import { MediaType } from '../oci/index.js';
import type { ImageConfig, ImageRecord, ImageStore } from './image-store.js';
import { ingestLayer } from './layer-ingest.js';
import { parseReference, familiarName } from './reference.js';
import { applyChanges } from './changes.js';
import { chainIdsOf, decompressed } from '../layer/index.js';
import { HOST_ARCH, HOST_OS } from './platform.js';

const MAX_METADATA_FILE = 64 * 1024 * 1024;

/** Files of an archive spooled to a private temp dir, addressed by normalised name (never by host path). */
class SpooledArchive {
  readonly files = new Map<string, string>();  // archive path → temp file
  readonly links = new Map<string, string>();  // archive path → archive path it points to
  constructor(readonly dir: string) {}

  resolve(name: string): string | undefined {
    let p = normaliseName(name);
    for (let i = 0; i < 16 && p !== undefined; i++) {
      const f = this.files.get(p);
      if (f) return f;
      const l = this.links.get(p);
      if (l === undefined) return undefined;
      p = l;
    }
    return undefined;
  }

  async json<T>(name: string): Promise<T | undefined> {
    const f = this.resolve(name);
    if (!f) return undefined;
    const st = await fsp.stat(f);
    if (st.size > MAX_METADATA_FILE) throw new InvalidParameterError(`${name} is too large`);
    try { return JSON.parse(await fsp.readFile(f, 'utf8')) as T; } catch { throw new InvalidParameterError(`invalid JSON in ${name}`); }
  }
}

function normaliseName(name: string): string | undefined {
  const n = posix.normalize('/' + name).slice(1);
  if (!n || n.startsWith('..')) return undefined;
  return n.replace(/\/$/, '');
}

async function spool(src: NodeJS.ReadableStream, dir: string): Promise<SpooledArchive> {
  const archive = new SpooledArchive(dir);
  const extract = tarStream.extract();
  let n = 0;
  extract.on('entry', (header, stream, next) => {
    const name = normaliseName(header.name);
    const done = (err?: unknown) => { if (err) extract.destroy(err as Error); else next(); };
    if (name && header.type === 'file') {
      const tmp = join(dir, String(n++));
      archive.files.set(name, tmp);
      pipeline(stream, createWriteStream(tmp)).then(() => done(), done);
      return;
    }
    if (name && header.type === 'symlink' && header.linkname) {
      const target = normaliseName(posix.join(posix.dirname(name), header.linkname));
      if (target) archive.links.set(name, target);
    }
    stream.on('end', () => done()); stream.resume();
  });
  try {
    const input = await decompressed(src, 'archives');
    await pipeline(input, extract);
  } catch (e) {
    throw new InvalidParameterError(`failed to load archive: ${(e as Error).message || 'invalid tar header'}`);
  }
  return archive;
}

interface DockerManifestEntry { Config: string; RepoTags: string[] | null; Layers: string[] }
interface OciDescriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

export class ImageArchive {
  constructor(private readonly images: ImageStore, private readonly tmpRoot: string) {}

  /** Loads a docker save archive (or an OCI layout tar); reports each loaded image. */
  async load(src: NodeJS.ReadableStream, report: (line: string) => void): Promise<ImageRecord[]> {
    const dir = join(this.tmpRoot, 'load-' + randomBytes(6).toString('hex'));
    mkdirSync(dir, { recursive: true });
    try {
      const archive = await spool(src, dir);
      const manifest = await archive.json<DockerManifestEntry[]>('manifest.json');
      const entries: { config: string; tags: string[]; layers: string[] }[] = [];
      if (manifest) {
        if (!Array.isArray(manifest)) throw new InvalidParameterError('invalid manifest.json');
        for (const m of manifest) {
          if (!m || typeof m.Config !== 'string' || !Array.isArray(m.Layers)) throw new InvalidParameterError('invalid manifest.json entry');
          entries.push({ config: m.Config, tags: m.RepoTags ?? [], layers: m.Layers });
        }
      } else {
        const index = await archive.json<{ manifests: OciDescriptor[] }>('index.json');
        if (!index) throw new InvalidParameterError('invalid archive: no manifest.json or index.json found (is this a docker save archive?)');
        for (const d of await flattenIndex(archive, index.manifests ?? [])) {
          const m = await archive.json<{ config: OciDescriptor; layers: OciDescriptor[] }>(blobPath(d.digest));
          if (!m?.config) throw new InvalidParameterError(`manifest ${d.digest} missing`);
          const name = d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'];
          const tags = name && /[/:]/.test(name) ? [name] : [];
          entries.push({ config: blobPath(m.config.digest), tags, layers: m.layers.map((l) => blobPath(l.digest)) });
        }
      }
      const loaded: ImageRecord[] = [];
      for (const e of entries) {
        const cfgFile = archive.resolve(e.config);
        if (!cfgFile) throw new InvalidParameterError(`invalid archive: config ${e.config} missing`);
        const cfgBytes = await fsp.readFile(cfgFile);
        let config: ImageConfig;
        try { config = JSON.parse(cfgBytes.toString('utf8')); } catch { throw new InvalidParameterError(`invalid image config ${e.config}`); }
        const diffIds = config.rootfs?.diff_ids ?? [];
        if (diffIds.length !== e.layers.length) throw new InvalidParameterError(`invalid archive: ${e.layers.length} layers but config lists ${diffIds.length}`);
        let parent = { chainId: null as string | null, diffIds: [] as string[] };
        for (let i = 0; i < e.layers.length; i++) {
          const f = archive.resolve(e.layers[i]);
          if (!f) throw new InvalidParameterError(`invalid archive: layer ${e.layers[i]} missing`);
          const info = await ingestLayer(this.images.content, this.images.layers, parent, createReadStream(f, { highWaterMark: 1 << 20 }), diffIds[i]);
          parent = { chainId: info.chainId, diffIds: [...parent.diffIds, diffIds[i]] };
        }
        const rec = await this.images.create(cfgBytes);
        if (e.tags.length) {
          for (const t of e.tags) { const tagged = this.images.tag(rec.id, t, { quiet: true }); report(`Loaded image: ${tagged}`); }
        } else report(`Loaded image ID: ${rec.id}`);
        this.images.announce('load', rec.id);
        loaded.push(this.images.resolve(rec.id));
      }
      return loaded;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Writes one archive with both Docker's manifest.json and an OCI layout (as Docker 25+). */
  save(refs: string[]): Readable {
    // Resolved first: an unknown name throws here, before anything is streamed.
    const targets: { rec: ImageRecord; tags: string[] }[] = [];
    const add = (rec: ImageRecord, tags: string[]) => {
      const existing = targets.find((t) => t.rec.id === rec.id);
      if (existing) existing.tags.push(...tags.filter((t) => !existing.tags.includes(t)));
      else targets.push({ rec, tags });
    };
    for (const ref of refs) {
      // As dockerd: a repository name alone means every tag of it; else one image (by its tag, digest or ID).
      let p: ReturnType<typeof parseReference> | undefined;
      try { p = parseReference(ref); } catch { p = undefined; }
      if (p && !p.tag && !p.digest && familiarName(p) !== 'sha256') {
        const repo = familiarName(p);
        const all = this.images.all().filter((i) => i.repoTags.some((t) => t.startsWith(repo + ':')));
        for (const rec of all) add(rec, rec.repoTags.filter((t) => t.startsWith(repo + ':')));
        if (all.length) continue;
      }
      const rec = this.images.resolve(ref);
      const named = p && !ref.startsWith('sha256:') && !rec.id.slice(7).startsWith(ref);
      add(rec, named && p!.tag ? [`${familiarName(p!)}:${p!.tag}`].filter((t) => rec.repoTags.includes(t)) : []);
    }
    const pack = tarStream.pack();
    const run = async () => {
      const written = new Set<string>();
      const addEntry = (digest: string, size: number, open: () => NodeJS.ReadableStream) => new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: blobPath(digest), size, mode: 0o444, mtime: new Date(0) }, (err) => err ? reject(err) : resolve());
        pipeline(open(), entry).catch(reject);
      });
      const addBlob = async (digest: string) => {
        if (written.has(digest)) return;
        written.add(digest);
        await addEntry(digest, this.images.content.size(digest), () => this.images.content.read(digest));
      };
      /** A layer's exact tar: rebuilt by the layer store (tar-split), or a tar kept in the content store by older versions. */
      const layerSize = async (diffId: string, chainId: string): Promise<number> => {
        if (this.images.content.has(diffId)) return this.images.content.size(diffId);
        if (!this.images.layers.reproducible(chainId)) throw new InvalidParameterError(`layer ${diffId} cannot be saved: its original tar cannot be rebuilt`);
        const known = this.images.layers.tarSize(chainId);
        if (known !== undefined) return known;
        let n = 0;
        for await (const c of this.images.layers.tar(chainId) as AsyncIterable<Buffer>) n += c.length;
        return n;
      };
      const addLayer = async (diffId: string, chainId: string, size: number) => {
        if (written.has(diffId)) return;
        written.add(diffId);
        await addEntry(diffId, size, () => this.images.content.has(diffId) ? this.images.content.read(diffId) : this.images.layers.tar(chainId));
      };
      const addJson = (name: string, value: unknown) => new Promise<void>((resolve, reject) => {
        pack.entry({ name, mode: 0o444, mtime: new Date(0) }, Buffer.from(JSON.stringify(value)), (e) => e ? reject(e) : resolve());
      });
      pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: new Date(0) });
      pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: new Date(0) });
      const manifest: DockerManifestEntry[] = [];
      const index: OciDescriptor[] = [];
      const repositories: Record<string, Record<string, string>> = {};
      for (const { rec, tags } of targets) {
        const config = await this.images.config(rec.id);
        await addBlob(rec.id);
        const diffIds = config.rootfs.diff_ids;
        const chains = diffIds.length ? chainIdsOf(diffIds) : [];
        const sizes: number[] = [];
        for (let i = 0; i < diffIds.length; i++) {
          sizes.push(await layerSize(diffIds[i], chains[i]));
          await addLayer(diffIds[i], chains[i], sizes[i]);
        }
        manifest.push({ Config: blobPath(rec.id), RepoTags: tags.length ? tags : null, Layers: diffIds.map(blobPath) });
        const ociManifest = Buffer.from(JSON.stringify({
          schemaVersion: 2, mediaType: MediaType.ociManifest,
          config: { mediaType: MediaType.ociConfig, digest: rec.id, size: this.images.content.size(rec.id) },
          layers: diffIds.map((d, i) => ({ mediaType: MediaType.ociLayer, digest: d, size: sizes[i] })),
        }));
        const m = await this.images.content.putBytes(ociManifest);
        await addBlob(m.digest);
        const base = { mediaType: MediaType.ociManifest, digest: m.digest, size: m.size };
        if (tags.length) for (const t of tags) {
          index.push({ ...base, annotations: { 'io.containerd.image.name': qualified(t), 'org.opencontainers.image.ref.name': t.slice(t.lastIndexOf(':') + 1) } });
          const repo = t.slice(0, t.lastIndexOf(':'));
          (repositories[repo] ??= {})[t.slice(t.lastIndexOf(':') + 1)] = rec.id.slice(7);
        } else index.push(base);
        this.images.announce('save', rec.id);
      }
      await addJson('index.json', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index });
      await addJson('manifest.json', manifest);
      await addJson('oci-layout', { imageLayoutVersion: '1.0.0' });
      if (Object.keys(repositories).length) await addJson('repositories', repositories);
      pack.finalize();
    };
    run().catch((e) => pack.destroy(e));
    return pack as unknown as Readable;
  }

  /** docker import: a root filesystem tar becomes a one-layer image, with Dockerfile-style changes. */
  async importRootfs(src: NodeJS.ReadableStream, opts: { changes: string[]; message?: string; platform?: string }): Promise<ImageRecord> {
    const changed = applyChanges({}, opts.changes);   // a bad change fails before anything is stored
    const info = await ingestLayer(this.images.content, this.images.layers, { chainId: null, diffIds: [] }, src);
    const now = new Date().toISOString();
    const config: ImageConfig = {
      architecture: HOST_ARCH, os: HOST_OS, created: now,
      config: changed,
      rootfs: { type: 'layers', diff_ids: [info.diffId] },
      history: [{ created: now, comment: opts.message || 'Imported from -' }],
    };
    if (opts.message) config.comment = opts.message;
    return this.images.create(Buffer.from(JSON.stringify(config)));
  }
}

function blobPath(digest: string): string { return `blobs/sha256/${digest.replace(/^sha256:/, '')}`; }

function qualified(tag: string): string {
  const p = parseReference(tag);
  return `${p.domain}/${p.path}:${p.tag ?? 'latest'}`;
}

async function flattenIndex(archive: SpooledArchive, descs: OciDescriptor[], depth = 0): Promise<OciDescriptor[]> {
  const out: OciDescriptor[] = [];
  for (const d of descs) {
    if (/index|manifest\.list/.test(d.mediaType ?? '') && depth < 4) {
      const child = await archive.json<{ manifests: (OciDescriptor & { platform?: { os: string; architecture: string } })[] }>(blobPath(d.digest));
      const picked = (child?.manifests ?? []).filter((m) => !m.platform || (m.platform.os === HOST_OS && m.platform.architecture === HOST_ARCH));
      for (const c of await flattenIndex(archive, picked.slice(0, 1), depth + 1)) out.push({ ...c, annotations: { ...d.annotations, ...c.annotations } });
    } else out.push(d);
  }
  return out;
}
