/** docker login (POST /auth: validate credentials against the registry) and docker search (/v1/search). */
import http from 'node:http';
import { InvalidParameterError, UnauthorizedError } from '../errors/index.js';
import type { AuthConfig } from './auth-config.js';
import { DOCKER_HUB, DOCKER_HUB_INDEX, normaliseRegistryName, registryHost } from './hosts.js';
import { RegistryClient, RegistryHttpError, TokenAuthError } from './registry-client.js';

export interface LoginResult { Status: string; IdentityToken: string }

export async function loginToRegistry(auth: AuthConfig, insecureRegistries: string[]): Promise<LoginResult> {
  const host = registryHost(normaliseRegistryName(auth.serveraddress), insecureRegistries);
  const client = new RegistryClient(host, auth, []);
  try {
    await client.ping();
  } catch (e) {
    if (e instanceof TokenAuthError) throw new UnauthorizedError(e.message);
    throw e;
  }
  const { res } = await client.fetchBytes('GET', '/v2/', { allow: [401, 403] });
  if (res.statusCode !== 200) {
    throw new UnauthorizedError(`login attempt to ${client.baseUrl}/v2/ failed with status: ${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 0] ?? ''}`.trim());
  }
  return { Status: 'Login Succeeded', IdentityToken: client.refreshToken ?? '' };
}

export interface SearchResult { star_count: number; is_official: boolean; name: string; is_automated: boolean; description: string }

export interface SearchRequest { term: string; limit?: number; filters: Record<string, string[]>; auth: AuthConfig }

const parseBool = (v: string): boolean | undefined => (['1', 'true', 'True', 'TRUE', 't'].includes(v) ? true : ['0', 'false', 'False', 'FALSE', 'f'].includes(v) ? false : undefined);

/** Docker's search: `term` may name an index (`HOST/term`); filters is-official, is-automated, stars. */
export async function searchRegistry(req: SearchRequest, insecureRegistries: string[]): Promise<SearchResult[]> {
  for (const k of Object.keys(req.filters)) if (!['is-automated', 'is-official', 'stars'].includes(k)) throw new InvalidParameterError(`invalid filter '${k}'`);
  let official: boolean | undefined;
  let automated: boolean | undefined;
  let stars = 0;
  for (const v of req.filters['is-official'] ?? []) { official = parseBool(v); if (official === undefined) throw new InvalidParameterError(`invalid filter 'is-official=${v}'`); }
  for (const v of req.filters['is-automated'] ?? []) { automated = parseBool(v); if (automated === undefined) throw new InvalidParameterError(`invalid filter 'is-automated=${v}'`); }
  for (const v of req.filters.stars ?? []) {
    if (!/^-?\d+$/.test(v)) throw new InvalidParameterError(`invalid filter 'stars=${v}'`);
    stars = Math.max(stars, Number(v));
  }
  const limit = req.limit ?? 25;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InvalidParameterError(`limit ${limit} is outside the range of [1, 100]`);

  let index = DOCKER_HUB;
  let q = req.term;
  const slash = q.indexOf('/');
  if (slash > 0) {
    const first = q.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') { index = normaliseRegistryName(first); q = q.slice(slash + 1); }
  }
  const host = index === DOCKER_HUB
    ? { name: DOCKER_HUB, apiHost: DOCKER_HUB_INDEX, insecure: false }
    : registryHost(index, insecureRegistries);
  const client = new RegistryClient(host, req.auth, ['registry:catalog:*']);
  // Docker Hub's index answers searches without the v2 token dance.
  if (index === DOCKER_HUB) client.useBase(`https://${DOCKER_HUB_INDEX}`);
  let body: Buffer;
  try {
    ({ body } = await client.fetchBytes('GET', `/v1/search?q=${encodeURIComponent(q)}&n=${limit}`));
  } catch (e) {
    if (e instanceof RegistryHttpError && (e.status === 401 || e.status === 403)) throw new Error(`unauthorized: ${e.detail}`);
    throw e;
  }
  let parsed: { results?: Partial<SearchResult>[] };
  try { parsed = JSON.parse(body.toString('utf8')); } catch { throw new Error(`invalid search answer from ${host.name}`); }
  return (parsed.results ?? [])
    .map((r) => ({
      star_count: Number(r.star_count ?? 0), is_official: Boolean(r.is_official), name: String(r.name ?? ''),
      is_automated: Boolean(r.is_automated), description: String(r.description ?? ''),
    }))
    .filter((r) => (official === undefined || r.is_official === official) && (automated === undefined || r.is_automated === automated) && r.star_count >= stars)
    .slice(0, limit);
}
