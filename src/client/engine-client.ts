/**
 * EngineClient: a typed client for the Docker Engine API (and berthd), one small method per
 * endpoint. Version negotiation happens on the first call: /_ping's API-Version header, and the
 * lower of the daemon's and CLIENT_API_VERSION is used as the /vX.Y path prefix.
 */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import {
  CLIENT_API_VERSION, FALLBACK_API_VERSION, resolveEndpoint,
  type EndpointOptions, type EngineEndpoint,
} from './hosts.js';
import { Transport, readBody, readJson, type HijackedConnection, type Query, type RequestOptions } from './transport.js';
import { jsonLines, type JsonMessage } from './streams.js';
import { StreamError } from './errors.js';
import { endpointFromEnvironment, type ConnectOptions } from './connect.js';
import type * as T from './types.js';

export interface EngineClientOptions extends EndpointOptions {
  /** Pin an API version (DOCKER_API_VERSION); skips negotiation. */
  apiVersion?: string;
  /** Upper bound for negotiation; defaults to CLIENT_API_VERSION. */
  maxApiVersion?: string;
  /** Use this endpoint instead of resolving one from options/environment. */
  endpoint?: EngineEndpoint;
  env?: NodeJS.ProcessEnv;
}

export interface PingResult { apiVersion?: string; osType?: string; experimental?: boolean; builderVersion?: string }

/** Compares dotted API versions numerically ("1.9" < "1.41"). */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number); const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export interface LogsOptions {
  follow?: boolean; stdout?: boolean; stderr?: boolean; since?: string | number; until?: string | number;
  timestamps?: boolean; tail?: string | number; details?: boolean;
}
export interface AttachOptions { stream?: boolean; stdin?: boolean; stdout?: boolean; stderr?: boolean; logs?: boolean; detachKeys?: string }
export interface EventsOptions { since?: string; until?: string; filters?: T.Filters; signal?: AbortSignal }

function filtersOrUndefined(f: T.Filters | undefined): T.Filters | undefined {
  return f && Object.keys(f).length ? f : undefined;
}

const enc = encodeURIComponent;

export class EngineClient {
  readonly endpoint: EngineEndpoint;
  private readonly transport: Transport;
  private negotiated?: string;
  private negotiation?: Promise<string>;
  private readonly maxApiVersion: string;

  constructor(opts: EngineClientOptions = {}) {
    const env = opts.env ?? process.env;
    this.endpoint = opts.endpoint ?? resolveEndpoint(opts, env);
    this.transport = new Transport(this.endpoint);
    this.maxApiVersion = opts.maxApiVersion ?? CLIENT_API_VERSION;
    const pinned = opts.apiVersion ?? (env.DOCKER_API_VERSION || undefined);
    if (pinned) this.negotiated = pinned.replace(/^v/, '');
  }

  /**
   * A client for the daemon the environment names, as the docker CLI picks it: DOCKER_CONTEXT,
   * DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_CONFIG's current context.
   */
  static fromEnvironment(opts: ConnectOptions = {}, env: NodeJS.ProcessEnv = process.env): EngineClient {
    return new EngineClient({ endpoint: endpointFromEnvironment(opts, env), env });
  }

  /** Host string as shown in messages, e.g. unix:///run/berth.sock. */
  get host(): string { return this.endpoint.host; }

  /** The newest version this client will ask for. */
  get clientVersion(): string { return this.maxApiVersion; }

  /** The API version in use (negotiating first if needed). */
  async apiVersion(): Promise<string> {
    if (this.negotiated) return this.negotiated;
    this.negotiation ??= this.ping().then((p) => {
      const server = p.apiVersion ?? FALLBACK_API_VERSION;
      this.negotiated = compareApiVersions(server, this.maxApiVersion) < 0 ? server : this.maxApiVersion;
      return this.negotiated;
    });
    return this.negotiation;
  }

  close(): void { this.transport.close(); }

  // ---- plumbing -------------------------------------------------------------------------

  private async path(p: string): Promise<string> { return `/v${await this.apiVersion()}${p}`; }

  /** A versioned request returning the raw response (for streaming endpoints). */
  async stream(method: string, p: string, opts?: RequestOptions): Promise<http.IncomingMessage> {
    return this.transport.request(method, await this.path(p), opts);
  }

  /** A versioned request whose JSON body is returned (undefined for empty bodies). */
  async json<R>(method: string, p: string, opts?: RequestOptions): Promise<R> {
    return readJson<R>(await this.stream(method, p, opts));
  }

  /** A versioned request whose body is drained and ignored. */
  async call(method: string, p: string, opts?: RequestOptions): Promise<void> {
    await readBody(await this.stream(method, p, opts));
  }

  /** A versioned hijacked request (attach, exec start). */
  async hijack(method: string, p: string, opts?: RequestOptions): Promise<HijackedConnection> {
    return this.transport.hijack(method, await this.path(p), opts);
  }

  /** Reads a JSON message stream; a message with `error` is thrown as a StreamError (unless throwOnError is false). */
  async *messages(res: Readable, opts: { throwOnError?: boolean } = {}): AsyncGenerator<JsonMessage> {
    for await (const m of jsonLines<JsonMessage>(res)) {
      if (m.error && opts.throwOnError !== false) throw new StreamError(m.errorDetail?.message ?? m.error, m.errorDetail?.code);
      yield m;
    }
  }

  // ---- system ---------------------------------------------------------------------------

  /** GET /_ping (unversioned); the API-Version header drives negotiation. */
  async ping(): Promise<PingResult> {
    const res = await this.transport.request('GET', '/_ping');
    await readBody(res);
    const h = res.headers;
    return {
      apiVersion: h['api-version'] as string | undefined,
      osType: h['ostype'] as string | undefined,
      experimental: h['docker-experimental'] === 'true',
      builderVersion: h['builder-version'] as string | undefined,
    };
  }
  version(): Promise<T.VersionResponse> { return this.json('GET', '/version'); }
  /** POST /auth: the daemon checks the credentials against the registry. */
  login(auth: T.AuthConfig): Promise<{ Status: string; IdentityToken?: string }> { return this.json('POST', '/auth', { body: auth }); }
  info(): Promise<T.SystemInfo> { return this.json('GET', '/info'); }
  diskUsage(types?: string[]): Promise<T.DiskUsage> { return this.json('GET', '/system/df', { query: { type: types } }); }

  /** Streams events until `until` passes or the signal aborts. */
  async *events(opts: EventsOptions = {}): AsyncGenerator<T.SystemEvent> {
    const res = await this.stream('GET', '/events', {
      query: { since: opts.since, until: opts.until, filters: filtersOrUndefined(opts.filters) }, signal: opts.signal,
    });
    try {
      for await (const e of jsonLines<T.SystemEvent>(preciseTimeNano(res))) yield e;
    } catch (e) {
      if (opts.signal?.aborted) return;
      throw e;
    }
  }

  // ---- containers -----------------------------------------------------------------------

  listContainers(opts: { all?: boolean; limit?: number; size?: boolean; filters?: T.Filters } = {}): Promise<T.ContainerSummary[]> {
    return this.json('GET', '/containers/json', {
      query: { all: opts.all || undefined, limit: opts.limit, size: opts.size || undefined, filters: filtersOrUndefined(opts.filters) },
    });
  }
  createContainer(body: T.ContainerCreateBody, opts: { name?: string; platform?: string } = {}): Promise<T.ContainerCreateResponse> {
    return this.json('POST', '/containers/create', { query: { name: opts.name, platform: opts.platform }, body });
  }
  inspectContainer(id: string, opts: { size?: boolean } = {}): Promise<T.ContainerInspect> {
    return this.json('GET', `/containers/${enc(id)}/json`, { query: { size: opts.size || undefined } });
  }
  /** Raw inspect body, for `inspect` output that keeps the daemon's field order. */
  async inspectContainerRaw(id: string, opts: { size?: boolean } = {}): Promise<Buffer> {
    return readBody(await this.stream('GET', `/containers/${enc(id)}/json`, { query: { size: opts.size || undefined } }));
  }
  startContainer(id: string, opts: { detachKeys?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/start`, { query: { detachKeys: opts.detachKeys } });
  }
  stopContainer(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/stop`, { query: { t: opts.timeout, signal: opts.signal } });
  }
  restartContainer(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/restart`, { query: { t: opts.timeout, signal: opts.signal } });
  }
  killContainer(id: string, signal?: string): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/kill`, { query: { signal } });
  }
  removeContainer(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    return this.call('DELETE', `/containers/${enc(id)}`, {
      query: { force: opts.force || undefined, v: opts.volumes || undefined, link: opts.link || undefined },
    });
  }
  renameContainer(id: string, name: string): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/rename`, { query: { name } });
  }
  pauseContainer(id: string): Promise<void> { return this.call('POST', `/containers/${enc(id)}/pause`); }
  unpauseContainer(id: string): Promise<void> { return this.call('POST', `/containers/${enc(id)}/unpause`); }
  /** POST /containers/{id}/wait; resolves when the condition is met. Call before start for next-exit. */
  async waitContainer(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<T.WaitResponse> {
    return this.json('POST', `/containers/${enc(id)}/wait`, { query: { condition } });
  }
  /** Like waitContainer but returns once the daemon has accepted the request (response head), then the result. */
  async waitContainerStarted(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<{ result: Promise<T.WaitResponse> }> {
    const res = await this.stream('POST', `/containers/${enc(id)}/wait`, { query: { condition } });
    const result = readJson<T.WaitResponse>(res);
    result.catch(() => {});
    return { result };
  }
  resizeContainer(id: string, height: number, width: number): Promise<void> {
    return this.call('POST', `/containers/${enc(id)}/resize`, { query: { h: height, w: width } });
  }
  attachContainer(id: string, opts: AttachOptions = {}): Promise<HijackedConnection> {
    return this.hijack('POST', `/containers/${enc(id)}/attach`, {
      query: {
        stream: opts.stream ?? true, stdin: opts.stdin || undefined, stdout: opts.stdout ?? true,
        stderr: opts.stderr ?? true, logs: opts.logs || undefined, detachKeys: opts.detachKeys,
      },
    });
  }
  /** GET /containers/{id}/logs: multiplexed frames unless the container has a TTY (then raw). */
  containerLogs(id: string, opts: LogsOptions = {}): Promise<http.IncomingMessage> {
    return this.stream('GET', `/containers/${enc(id)}/logs`, {
      query: {
        follow: opts.follow || undefined, stdout: opts.stdout ?? true, stderr: opts.stderr ?? true,
        since: opts.since, until: opts.until, timestamps: opts.timestamps || undefined,
        tail: opts.tail === undefined ? undefined : String(opts.tail), details: opts.details || undefined,
      },
    });
  }
  topContainer(id: string, psArgs?: string): Promise<T.ContainerTop> {
    return this.json('GET', `/containers/${enc(id)}/top`, { query: { ps_args: psArgs } });
  }
  containerChanges(id: string): Promise<T.ContainerChange[] | null> { return this.json('GET', `/containers/${enc(id)}/changes`); }
  /** One stats sample (stream=false) or the raw stream of samples (stream=true). */
  async containerStats(id: string): Promise<Record<string, unknown>> {
    return this.json('GET', `/containers/${enc(id)}/stats`, { query: { stream: false } });
  }
  async *containerStatsStream(id: string, signal?: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const res = await this.stream('GET', `/containers/${enc(id)}/stats`, { query: { stream: true }, signal });
    try { yield* jsonLines<Record<string, unknown>>(res); } catch (e) { if (!signal?.aborted) throw e; }
  }
  updateContainer(id: string, body: T.ContainerUpdateBody): Promise<T.ContainerUpdateResponse> {
    return this.json('POST', `/containers/${enc(id)}/update`, { body });
  }
  exportContainer(id: string): Promise<http.IncomingMessage> { return this.stream('GET', `/containers/${enc(id)}/export`); }
  pruneContainers(filters?: T.Filters): Promise<T.PruneResponse> {
    return this.json('POST', '/containers/prune', { query: { filters: filtersOrUndefined(filters) } });
  }
  /** HEAD /containers/{id}/archive: the X-Docker-Container-Path-Stat header, decoded. */
  async statContainerPath(id: string, path: string): Promise<T.PathStat> {
    let res;
    try {
      res = await this.stream('HEAD', `/containers/${enc(id)}/archive`, { query: { path } });
    } catch (e) {
      // HEAD errors carry no body: ask with GET to get the daemon's message (missing path, container or endpoint).
      if (!(e instanceof Error) || (e as { status?: number }).status === undefined) throw e;
      const probe = await this.stream('GET', `/containers/${enc(id)}/archive`, { query: { path } });
      probe.destroy();
      throw e;
    }
    await readBody(res);
    return decodePathStat(res.headers['x-docker-container-path-stat'] as string | undefined);
  }
  /** GET /containers/{id}/archive: a tar of `path` and its stat. */
  async getArchive(id: string, path: string): Promise<{ stat: T.PathStat; stream: http.IncomingMessage }> {
    const res = await this.stream('GET', `/containers/${enc(id)}/archive`, { query: { path } });
    return { stat: decodePathStat(res.headers['x-docker-container-path-stat'] as string | undefined), stream: res };
  }
  /** PUT /containers/{id}/archive: extracts a tar into directory `path`. */
  putArchive(id: string, path: string, tar: Readable | Buffer, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    return this.call('PUT', `/containers/${enc(id)}/archive`, {
      query: { path, noOverwriteDirNonDir: opts.noOverwriteDirNonDir || undefined, copyUIDGID: opts.copyUIDGID || undefined },
      rawBody: tar, contentType: 'application/x-tar',
    });
  }
  commitContainer(opts: { container: string; repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[]; config?: T.ContainerConfig }): Promise<{ Id: string }> {
    return this.json('POST', '/commit', {
      query: {
        container: opts.container, repo: opts.repo, tag: opts.tag, comment: opts.comment, author: opts.author,
        pause: opts.pause === undefined ? undefined : opts.pause, changes: opts.changes,
      },
      body: opts.config ?? {},
    });
  }

  // ---- exec -----------------------------------------------------------------------------

  createExec(container: string, body: T.ExecCreateBody): Promise<{ Id: string }> {
    return this.json('POST', `/containers/${enc(container)}/exec`, { body });
  }
  /** POST /exec/{id}/start hijacked (interactive or output-streaming). */
  startExecAttached(execId: string, opts: { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<HijackedConnection> {
    return this.hijack('POST', `/exec/${enc(execId)}/start`, { body: { Detach: false, Tty: opts.tty ?? false, ConsoleSize: opts.consoleSize } });
  }
  startExecDetached(execId: string, opts: { tty?: boolean } = {}): Promise<void> {
    return this.call('POST', `/exec/${enc(execId)}/start`, { body: { Detach: true, Tty: opts.tty ?? false } });
  }
  inspectExec(execId: string): Promise<T.ExecInspect> { return this.json('GET', `/exec/${enc(execId)}/json`); }
  resizeExec(execId: string, height: number, width: number): Promise<void> {
    return this.call('POST', `/exec/${enc(execId)}/resize`, { query: { h: height, w: width } });
  }

  // ---- images ---------------------------------------------------------------------------

  listImages(opts: { all?: boolean; filters?: T.Filters; digests?: boolean } = {}): Promise<T.ImageSummary[]> {
    return this.json('GET', '/images/json', {
      query: { all: opts.all || undefined, filters: filtersOrUndefined(opts.filters), digests: opts.digests || undefined },
    });
  }
  inspectImage(name: string): Promise<T.ImageInspect> { return this.json('GET', `/images/${name}/json`); }
  async inspectImageRaw(name: string): Promise<Buffer> { return readBody(await this.stream('GET', `/images/${name}/json`)); }
  imageHistory(name: string): Promise<T.ImageHistoryItem[]> { return this.json('GET', `/images/${name}/history`); }
  tagImage(name: string, repo: string, tag?: string): Promise<void> {
    return this.call('POST', `/images/${name}/tag`, { query: { repo, tag } });
  }
  removeImage(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<T.ImageDeleteItem[]> {
    return this.json('DELETE', `/images/${name}`, { query: { force: opts.force || undefined, noprune: opts.noprune || undefined } });
  }
  pruneImages(filters?: T.Filters): Promise<T.PruneResponse> {
    return this.json('POST', '/images/prune', { query: { filters: filtersOrUndefined(filters) } });
  }
  /** POST /images/load with a docker-save (or OCI layout) tar; returns the JSON message stream. */
  loadImage(tar: Readable | Buffer, opts: { quiet?: boolean } = {}): Promise<http.IncomingMessage> {
    return this.stream('POST', '/images/load', { query: { quiet: opts.quiet || undefined }, rawBody: tar, contentType: 'application/x-tar' });
  }
  /** GET /images/get?names=... (or /images/{name}/get for one); a tar stream. */
  saveImages(names: string[]): Promise<http.IncomingMessage> {
    if (names.length === 1) return this.stream('GET', `/images/${names[0]}/get`);
    return this.stream('GET', '/images/get', { query: { names } });
  }
  /** POST /images/create?fromSrc=- (docker import); JSON message stream. */
  importImage(tar: Readable | Buffer, opts: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {}): Promise<http.IncomingMessage> {
    return this.stream('POST', '/images/create', {
      query: { fromSrc: '-', repo: opts.repo, tag: opts.tag, message: opts.message, changes: opts.changes, platform: opts.platform },
      rawBody: tar, contentType: 'application/x-tar',
    });
  }
  /** POST /images/create?fromImage= (pull); JSON message stream. */
  pullImage(ref: string, opts: { tag?: string; platform?: string; registryAuth?: string } = {}): Promise<http.IncomingMessage> {
    return this.stream('POST', '/images/create', {
      query: { fromImage: ref, tag: opts.tag, platform: opts.platform },
      headers: opts.registryAuth ? { 'X-Registry-Auth': opts.registryAuth } : undefined,
    });
  }
  pushImage(name: string, opts: { tag?: string; registryAuth?: string } = {}): Promise<http.IncomingMessage> {
    return this.stream('POST', `/images/${name}/push`, {
      query: { tag: opts.tag }, headers: { 'X-Registry-Auth': opts.registryAuth ?? 'e30=' },
    });
  }
  /** POST /build with a tar context; JSON message stream. `query` takes the API's parameters (t, dockerfile, buildargs...). */
  buildImage(context: Readable | Buffer, query: Query = {}, headers?: Record<string, string>): Promise<http.IncomingMessage> {
    return this.stream('POST', '/build', { query, rawBody: context, contentType: 'application/x-tar', headers });
  }

  // ---- volumes --------------------------------------------------------------------------

  async listVolumes(filters?: T.Filters): Promise<{ Volumes: T.Volume[] | null; Warnings: string[] | null }> {
    return this.json('GET', '/volumes', { query: { filters: filtersOrUndefined(filters) } });
  }
  createVolume(body: T.VolumeCreateBody = {}): Promise<T.Volume> { return this.json('POST', '/volumes/create', { body }); }
  inspectVolume(name: string): Promise<T.Volume> { return this.json('GET', `/volumes/${enc(name)}`); }
  async inspectVolumeRaw(name: string): Promise<Buffer> { return readBody(await this.stream('GET', `/volumes/${enc(name)}`)); }
  removeVolume(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.call('DELETE', `/volumes/${enc(name)}`, { query: { force: opts.force || undefined } });
  }
  pruneVolumes(filters?: T.Filters): Promise<T.PruneResponse> {
    return this.json('POST', '/volumes/prune', { query: { filters: filtersOrUndefined(filters) } });
  }

  // ---- networks -------------------------------------------------------------------------

  listNetworks(filters?: T.Filters): Promise<T.Network[]> {
    return this.json('GET', '/networks', { query: { filters: filtersOrUndefined(filters) } });
  }
  createNetwork(body: T.NetworkCreateBody): Promise<{ Id: string; Warning?: string }> {
    return this.json('POST', '/networks/create', { body });
  }
  inspectNetwork(id: string): Promise<T.Network> { return this.json('GET', `/networks/${enc(id)}`); }
  async inspectNetworkRaw(id: string): Promise<Buffer> { return readBody(await this.stream('GET', `/networks/${enc(id)}`)); }
  removeNetwork(id: string): Promise<void> { return this.call('DELETE', `/networks/${enc(id)}`); }
  connectNetwork(id: string, container: string, endpointConfig?: Record<string, unknown>): Promise<void> {
    return this.call('POST', `/networks/${enc(id)}/connect`, { body: { Container: container, EndpointConfig: endpointConfig } });
  }
  disconnectNetwork(id: string, container: string, force = false): Promise<void> {
    return this.call('POST', `/networks/${enc(id)}/disconnect`, { body: { Container: container, Force: force } });
  }
  pruneNetworks(filters?: T.Filters): Promise<T.PruneResponse> {
    return this.json('POST', '/networks/prune', { query: { filters: filtersOrUndefined(filters) } });
  }
}

/** Keeps events' int64 timeNano exact: adds `timeNanoText` (the digits as sent) next to the lossy number. */
async function* preciseTimeNano(src: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  for await (const chunk of src) {
    yield (typeof chunk === 'string' ? chunk : chunk.toString('utf8'))
      .replace(/"timeNano":(\d+)/g, '"timeNano":$1,"timeNanoText":"$1"');
  }
}

function decodePathStat(header: string | undefined): T.PathStat {
  if (!header) return { name: '', size: 0, mode: 0, mtime: '', linkTarget: '' };
  return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as T.PathStat;
}
