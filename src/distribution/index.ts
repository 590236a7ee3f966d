/**
 * The distribution client inside berthd: pull, push, login and search against any registry
 * speaking the OCI distribution API (berth's own, docker-registry, Docker Hub).
 *
 *   const dist = new DistributionService({ images, events, dataRoot, insecureRegistries: ['10.0.0.5:5000'] });
 *   await dist.pull({ fromImage: '127.0.0.1:5000/team/app', tag: '1', auth: {}, emit: (m) => send(m) });
 *   await dist.push({ name: '127.0.0.1:5000/team/app', tag: '1', auth, emit });
 *   await dist.login({ username, password, serveraddress: '127.0.0.1:5000' });   // { Status: 'Login Succeeded', … }
 *   await dist.search({ term: '127.0.0.1:5000/app', filters: {}, auth: {} });
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBus } from '../events/index.js';
import type { ImageStore } from '../image/index.js';
import type { AuthConfig } from './auth-config.js';
import { BlobMetadata } from './blob-metadata.js';
import { insecureRegistriesFromEnv } from './hosts.js';
import { loginToRegistry, searchRegistry, type LoginResult, type SearchRequest, type SearchResult } from './login-search.js';
import { inspectDistribution, pullImage, type DistributionDeps, type DistributionInspect, type PullRequest } from './pull.js';
import { pushImage, type PushRequest } from './push.js';

export { decodeAuthHeader, normaliseAuthConfig, parseChallenges, type AuthConfig, type Challenge } from './auth-config.js';
export { registryHost, isInsecure, normaliseRegistryName, insecureRegistriesFromEnv, type RegistryHost } from './hosts.js';
export { humanSize, progressBar, type ProgressMessage, type Emit } from './progress.js';
export { parseManifest, selectPlatform, parsePlatform, dockerManifest, MediaType, type ParsedManifest, type Descriptor, type Platform } from './manifest.js';
export { RegistryClient, RegistryHttpError } from './registry-client.js';
export { BlobMetadata, type KnownBlob } from './blob-metadata.js';
export { pullReference, familiarString, type PullRequest, type DistributionInspect } from './pull.js';
export type { PushRequest } from './push.js';
export type { LoginResult, SearchRequest, SearchResult } from './login-search.js';

export interface DistributionOptions {
  images: ImageStore;
  events: EventBus;
  /** berthd's data root: <dataRoot>/distribution holds the layer→blob table and downloads in progress. */
  dataRoot: string;
  /** --insecure-registry values (host, host:port, IPv4 CIDR); default: BERTH_INSECURE_REGISTRIES. */
  insecureRegistries?: string[];
}

export class DistributionService {
  private readonly deps: DistributionDeps;

  constructor(opts: DistributionOptions) {
    const dir = join(opts.dataRoot, 'distribution');
    const tmpDir = join(dir, 'tmp');
    mkdirSync(tmpDir, { recursive: true });
    // Downloads a crash left behind.
    for (const f of readdirSync(tmpDir)) rmSync(join(tmpDir, f), { force: true, recursive: true });
    this.deps = {
      images: opts.images, events: opts.events, tmpDir,
      metadata: new BlobMetadata(join(dir, 'blobs.json')),
      insecureRegistries: opts.insecureRegistries ?? insecureRegistriesFromEnv(),
    };
  }

  pull(req: PullRequest): Promise<void> { return pullImage(this.deps, req); }
  push(req: PushRequest): Promise<void> { return pushImage(this.deps, req); }
  login(auth: AuthConfig): Promise<LoginResult> { return loginToRegistry(auth, this.deps.insecureRegistries); }
  search(req: SearchRequest): Promise<SearchResult[]> { return searchRegistry(req, this.deps.insecureRegistries); }
  inspect(name: string, auth: AuthConfig): Promise<DistributionInspect> { return inspectDistribution(this.deps, name, auth); }
  /** Writes the layer→blob table now (it is otherwise written shortly after each change). */
  flush(): void { this.deps.metadata.flush(); }
}
