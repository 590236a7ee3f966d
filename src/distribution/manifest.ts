/** Manifest kinds a pull understands, platform selection from an index, and the manifests push writes. */
import { createHash } from 'node:crypto';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { HOST_ARCH, HOST_OS } from '../image/index.js';
import { MediaType, type Descriptor, type Platform } from '../oci/index.js';

export { MediaType, type Descriptor, type Platform } from '../oci/index.js';

export const MANIFEST_ACCEPT = [
  MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.ociIndex,
  MediaType.dockerSchema1Signed, MediaType.dockerSchema1,
].join(', ');


export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] };

export function sha256(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function digestOf(data: Buffer, algorithm: string): string {
  const alg = algorithm === 'sha512' ? 'sha512' : 'sha256';
  return `${alg}:` + createHash(alg).update(data).digest('hex');
}

export function schema1Removed(name: string): InvalidParameterError {
  return new InvalidParameterError(`[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of ${name} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/`);
}

export function parseManifest(bytes: Buffer, contentType: string | undefined, name: string): ParsedManifest {
  let m: any;
  try { m = JSON.parse(bytes.toString('utf8')); } catch { throw new InvalidParameterError(`invalid manifest for ${name}: not JSON`); }
  const ct = (contentType ?? '').split(';')[0].trim();
  const mediaType: string = m?.mediaType || (ct && ct !== 'application/json' ? ct : '') ||
    (Array.isArray(m?.manifests) ? MediaType.ociIndex : MediaType.ociManifest);
  if (m?.schemaVersion === 1 || mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed) throw schema1Removed(name);
  const desc = (d: any): Descriptor => {
    if (!d || typeof d.digest !== 'string' || !/^[a-z0-9]+:[a-f0-9]{32,}$/.test(d.digest) || typeof d.size !== 'number') {
      throw new InvalidParameterError(`invalid manifest for ${name}: bad descriptor`);
    }
    return { mediaType: String(d.mediaType ?? ''), digest: d.digest, size: d.size, urls: d.urls, platform: d.platform };
  };
  if (Array.isArray(m?.manifests)) return { kind: 'index', mediaType, manifests: m.manifests.map(desc) };
  if (m?.config && Array.isArray(m?.layers)) return { kind: 'image', mediaType, config: desc(m.config), layers: m.layers.map(desc) };
  throw new InvalidParameterError(`unsupported manifest media type ${mediaType} for ${name}`);
}

export function parsePlatform(s: string | null | undefined): Platform {
  if (!s) return { os: HOST_OS, architecture: HOST_ARCH };
  const [os, architecture, variant] = s.toLowerCase().split('/');
  const arch = architecture === 'x86_64' || architecture === 'x86-64' ? 'amd64' : architecture === 'aarch64' ? 'arm64' : architecture;
  return { os: os || HOST_OS, architecture: arch || HOST_ARCH, variant };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Picks the manifest for a platform from an index, skipping attestations (unknown/unknown). */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture);
  let pick = candidates.find((d) => !want.variant || d.platform?.variant === want.variant);
  if (!pick && want.architecture === 'arm64' && !want.variant) pick = candidates.find((d) => d.platform?.variant === 'v8');
  if (!pick) throw new NotFoundError(`no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
  return pick;
}

/** The Docker schema 2 manifest dockerd writes on push (3-space indent, its key order). */
export function dockerManifest(config: { digest: string; size: number }, layers: { digest: string; size: number; mediaType?: string }[]): Buffer {
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType ?? MediaType.dockerLayerGzip, size: l.size, digest: l.digest })),
  };
  return Buffer.from(JSON.stringify(m, null, 3));
}
