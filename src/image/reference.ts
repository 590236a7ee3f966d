/**
 * Docker image references: normalisation (`busybox` = `docker.io/library/busybox:latest`)
 * and the familiar form Docker shows in RepoTags (`busybox:latest`).
 */
import { InvalidParameterError } from '../errors/index.js';

export interface Reference {
  domain: string;       // docker.io, 127.0.0.1:5000, …
  path: string;         // library/busybox
  tag?: string;
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

export function parseReference(ref: string): Reference {
  if (!ref || ref.length > 255 + 128) throw new InvalidParameterError(`invalid reference format`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); if (!DIGEST.test(digest)) throw new InvalidParameterError(`invalid reference format`); }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); if (!TAG.test(tag)) throw new InvalidParameterError(`invalid reference format`); }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') { domain = first; path = rest.slice(slash + 1); }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (/[A-Z]/.test(path)) throw new InvalidParameterError(`invalid reference format: repository name (${path}) must be lowercase`);
  if (!path.split('/').every((c) => PATH_COMPONENT.test(c))) throw new InvalidParameterError(`invalid reference format`);
  if (domain === 'docker.io' && !path.includes('/')) path = 'library/' + path;
  return { domain, path, tag, digest };
}

/** `docker.io/library/busybox` → `busybox`; other registries keep their domain. */
export function familiarName(r: Reference): string {
  if (r.domain === 'docker.io') return r.path.startsWith('library/') ? r.path.slice(8) : r.path;
  return `${r.domain}/${r.path}`;
}

/** Familiar name:tag, defaulting the tag to latest when there is no digest. */
export function familiarTagged(ref: string): string {
  const r = parseReference(ref);
  return `${familiarName(r)}:${r.tag ?? 'latest'}`;
}

export function looksLikeImageId(s: string): boolean {
  return /^(sha256:)?[a-f0-9]{1,64}$/.test(s);
}
