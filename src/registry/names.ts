/**
 * Validation of what clients put in URLs: repository names, tags, digests and upload ids.
 * Everything that reaches a filesystem path goes through these first, so a name or digest
 * can never carry `..`, `/` in the wrong place, or anything outside the grammar.
 */
import { RegistryError } from './errors.js';

// distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const nameRe = new RegExp(`^${component}(?:/${component})*$`);
const tagRe = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const uploadIdRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Longest repository name accepted (clients limit host + '/' + name to 255). */
export const MAX_NAME_LENGTH = 255;

export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface ParsedDigest { algorithm: DigestAlgorithm; hex: string; digest: string }

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && nameRe.test(name);
}

export function validateRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: name.slice(0, 300) });
  }
  return name;
}

export function isValidTag(tag: string): boolean { return tagRe.test(tag); }

/**
 * Parses `algorithm:hex`. Only algorithms the registry can verify are accepted; the hex part
 * must be lower case and exactly as long as the algorithm's output.
 */
export function parseDigest(digest: string): ParsedDigest | undefined {
  const i = digest.indexOf(':');
  if (i <= 0) return undefined;
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) return undefined;
  const len = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm: algorithm as DigestAlgorithm, hex, digest };
}

export function validateDigest(digest: string): ParsedDigest {
  const d = parseDigest(digest);
  if (!d) throw new RegistryError('DIGEST_INVALID', 'invalid or unsupported digest', { digest: digest.slice(0, 300) });
  return d;
}

/** A manifest reference is a tag or a digest: anything else is refused before it nears the disk. */
export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: ParsedDigest };

export function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    const d = parseDigest(ref);
    if (!d) throw new RegistryError('DIGEST_INVALID', 'invalid or unsupported digest', { reference: ref.slice(0, 300) });
    return { kind: 'digest', digest: d };
  }
  if (!isValidTag(ref)) throw new RegistryError('MANIFEST_INVALID', 'invalid tag', { tag: ref.slice(0, 300) }, 400);
  return { kind: 'tag', tag: ref };
}

/** For GET, HEAD and DELETE: a tag that could never have been pushed is simply not there (404, as distribution answers). */
export function lookupReference(ref: string): Reference {
  if (!ref.includes(':') && !isValidTag(ref)) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { tag: ref.slice(0, 300) });
  return parseReference(ref);
}

export function isValidUploadId(id: string): boolean { return uploadIdRe.test(id); }
