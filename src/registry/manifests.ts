/**
 * Parsing and validation of the manifest kinds the registry stores: Docker schema 2 manifests
 * and manifest lists, OCI image manifests and indexes. The registry stores the exact bytes a
 * client sent; this module only extracts what the registry must check (referenced blobs,
 * child manifests, subject) and what the referrers API reports.
 */
import { isIndexType, MediaType, type Descriptor } from '../oci/index.js';
import { RegistryError } from './errors.js';
import { parseDigest, type ParsedDigest } from './names.js';


export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.ociIndex,
];



export interface ParsedManifest {
  mediaType: string;
  /** Blobs the manifest needs in the repository (config and layers). */
  blobs: Descriptor[];
  /** Manifests an index or manifest list names. */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  configMediaType?: string;
}

const nonDistributable = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** A layer the registry need not hold: foreign/non-distributable layers served from their URLs. */
export function isExternalLayer(d: Descriptor): boolean {
  return nonDistributable.has(d.mediaType) && Array.isArray(d.urls) && d.urls.length > 0;
}

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError('MANIFEST_INVALID', message, detail);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!v || typeof v !== 'object' || Array.isArray(v)) invalid(`${where}: descriptor must be an object`);
  const o = v as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || o.mediaType === '') invalid(`${where}: mediaType missing`);
  if (typeof o.digest !== 'string' || !parseDigest(o.digest)) invalid(`${where}: invalid digest`, { digest: o.digest });
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) invalid(`${where}: invalid size`);
  if (o.urls !== undefined && (!Array.isArray(o.urls) || o.urls.some((u) => typeof u !== 'string'))) invalid(`${where}: invalid urls`);
  if (o.annotations !== undefined && !isStringMap(o.annotations)) invalid(`${where}: invalid annotations`);
  return o as unknown as Descriptor;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** The content type a client sent, without parameters; '' when absent or generic. */
export function bareContentType(header: string | undefined): string {
  const t = (header ?? '').split(';')[0].trim().toLowerCase();
  return t === 'application/json' || t === 'application/octet-stream' || t === '*/*' ? '' : t;
}

export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try { doc = JSON.parse(bytes.toString('utf8')); } catch { invalid('manifest is not valid JSON'); }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) invalid('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const sent = bareContentType(contentType);
  if (declared !== undefined && sent !== '' && declared !== sent) {
    invalid('manifest mediaType does not match Content-Type', { mediaType: declared, contentType: sent });
  }
  let mediaType = declared ?? sent;
  if (mediaType === '') mediaType = Array.isArray(m.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed || m.schemaVersion === 1) {
    throw new RegistryError('MANIFEST_INVALID', 'Docker schema 1 manifests are not supported', { mediaType });
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) invalid('unsupported manifest media type', { mediaType });
  if (m.schemaVersion !== 2) invalid('schemaVersion must be 2');
  const out: ParsedManifest = { mediaType, blobs: [], children: [] };
  if (isIndexType(mediaType)) {
    if (!Array.isArray(m.manifests)) invalid('manifests must be an array');
    out.children = (m.manifests as unknown[]).map((d, i) => descriptor(d, `manifests[${i}]`));
  } else {
    const config = descriptor(m.config, 'config');
    if (!Array.isArray(m.layers)) invalid('layers must be an array');
    const layers = (m.layers as unknown[]).map((d, i) => descriptor(d, `layers[${i}]`));
    out.blobs = [config, ...layers.filter((l) => !isExternalLayer(l))];
    out.configMediaType = config.mediaType;
  }
  if (m.subject !== undefined) {
    if (mediaType !== MediaType.ociManifest && mediaType !== MediaType.ociIndex) invalid('subject is only allowed on OCI manifests and indexes');
    out.subject = descriptor(m.subject, 'subject');
  }
  if (m.artifactType !== undefined) {
    if (typeof m.artifactType !== 'string') invalid('artifactType must be a string');
    out.artifactType = m.artifactType;
  }
  if (m.annotations !== undefined) {
    if (!isStringMap(m.annotations)) invalid('annotations must map strings to strings');
    out.annotations = m.annotations;
  }
  return out;
}

/** The referrers-API descriptor of a manifest that names a subject. */
export function referrerDescriptor(m: ParsedManifest, digest: ParsedDigest, size: number): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest: digest.digest, size };
  const artifactType = m.artifactType ?? (isIndexType(m.mediaType) ? undefined : m.configMediaType);
  if (artifactType) d.artifactType = artifactType;
  if (m.annotations) d.annotations = m.annotations;
  return d;
}

/** Whether an Accept header admits a media type (no header, or a wildcard, admits everything). */
export function accepts(accept: string | string[] | undefined, mediaType: string): boolean {
  const list = acceptList(accept);
  if (list.length === 0) return true;
  return list.some((t) => t === mediaType || t === '*/*' || t === 'application/*');
}

export function acceptList(accept: string | string[] | undefined): string[] {
  const raw = Array.isArray(accept) ? accept.join(',') : accept ?? '';
  return raw.split(',').map((s) => s.split(';')[0].trim().toLowerCase()).filter((s) => s !== '');
}
