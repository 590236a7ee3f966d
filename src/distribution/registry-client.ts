/**
 * An HTTP client for one registry and one set of scopes: scheme selection (TLS, then plain HTTP
 * only where allowed), the WWW-Authenticate dance (Basic, or Bearer with a token from the realm),
 * redirects for blob downloads, and OCI error bodies turned into RegistryHttpError.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { hasCredentials, parseChallenges, type AuthConfig, type Challenge } from './auth-config.js';
import type { RegistryHost } from './hosts.js';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
const insecureHttpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

const IDLE_TIMEOUT_MS = 120_000;
const USER_AGENT = 'berth/1.0 (linux) docker/28 (compatible)';

/** An error answer from a registry; `code` is the first OCI error code, when the body had one. */
export class RegistryHttpError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, readonly detail: string, readonly url: string, readonly method: string) {
    super(code ? `${code.toLowerCase().replace(/_/g, ' ')}: ${detail}` : detail);
  }
}

/** Credentials refused by a token endpoint (not a 401 at the API: the docker CLI would prompt for a login). */
export class TokenAuthError extends Error {}

/** Scheme decisions per host for the daemon's lifetime (a failed TLS attempt is not repeated). */
const schemeCache = new Map<string, string>();

export interface RequestOptions {
  headers?: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  /** Follow redirects (blob GETs may be sent to storage elsewhere). */
  follow?: boolean;
}

export class RegistryClient {
  private base?: string;
  private authorization?: string;
  private challenge?: Challenge;
  /** Refresh token a Bearer login returned (docker login's IdentityToken). */
  refreshToken?: string;

  constructor(readonly host: RegistryHost, private readonly auth: AuthConfig, private scopes: string[]) {}

  get baseUrl(): string {
    if (!this.base) throw new Error('registry client used before ping');
    return this.base;
  }

  /** Skips the /v2/ ping: requests go to this base without credentials (Docker Hub's v1 search index). */
  useBase(base: string): void { this.base = base; }

  /** GET /v2/: picks the scheme, learns the challenge and fetches credentials for the scopes. */
  async ping(): Promise<void> {
    if (this.base) return;
    const res = await this.pingScheme();
    const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode === 401) {
      const challenges = parseChallenges(res.headers['www-authenticate']);
      this.challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
      await this.authenticate();
    } else if ((res.statusCode ?? 0) >= 400) {
      throw httpError(res, body, `${this.base}/v2/`, 'GET');
    }
  }

  private async pingScheme(): Promise<IncomingMessage> {
    const cached = schemeCache.get(this.host.apiHost);
    const schemes = cached ? [cached] : this.host.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = `${scheme}://${this.host.apiHost}`;
      try {
        const res = await rawRequest('GET', `${base}/v2/`, { 'User-Agent': USER_AGENT }, undefined, this.host.insecure);
        this.base = base;
        schemeCache.set(this.host.apiHost, scheme);
        return res;
      } catch (e) {
        lastErr = e;
      }
    }
    const err = lastErr as NodeJS.ErrnoException;
    throw new Error(`Get "${schemes.at(-1)}://${this.host.apiHost}/v2/": ${describeNetError(err, this.host.apiHost)}`);
  }

  /** Sets the Authorization header for the challenge (none needed: nothing to do). */
  private async authenticate(): Promise<void> {
    const c = this.challenge;
    if (!c) return;
    if (c.scheme === 'basic') {
      if (this.auth.username && this.auth.password !== undefined) {
        this.authorization = 'Basic ' + Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64');
      }
      return;
    }
    if (this.auth.registrytoken) { this.authorization = `Bearer ${this.auth.registrytoken}`; return; }
    const realm = c.params.realm;
    if (!realm) throw new Error(`registry ${this.host.name} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of this.scopes) url.searchParams.append('scope', s);
    let res: IncomingMessage;
    if (this.auth.identitytoken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.auth.identitytoken, client_id: 'docker', service: c.params.service ?? '' });
      if (this.scopes.length) form.set('scope', this.scopes.join(' '));
      res = await rawRequest('POST', realm, { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': USER_AGENT }, Buffer.from(form.toString()), this.host.insecure);
    } else {
      const headers: OutgoingHttpHeaders = { 'User-Agent': USER_AGENT };
      if (this.auth.username && this.auth.password !== undefined) {
        headers.Authorization = 'Basic ' + Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64');
        url.searchParams.set('account', this.auth.username);
        url.searchParams.set('client_id', 'docker');
        url.searchParams.set('offline_token', 'true');
      }
      res = await rawRequest('GET', url.toString(), headers, undefined, this.host.insecure);
    }
    const body = await readBody(res, 1 << 20);
    if (res.statusCode !== 200) {
      const err = httpError(res, body, url.toString(), 'GET');
      const msg = err.code ? err.message : `${(res.statusCode ?? 0)} ${http.STATUS_CODES[res.statusCode ?? 0] ?? ''}`.trim();
      throw new TokenAuthError(`Get "${this.base}/v2/": unauthorized: ${err.code ? err.detail : msg}`);
    }
    let json: { token?: string; access_token?: string; refresh_token?: string };
    try { json = JSON.parse(body.toString('utf8')); } catch { throw new Error(`token endpoint ${realm} answered with invalid JSON`); }
    const token = json.token ?? json.access_token;
    if (!token) throw new Error(`token endpoint ${realm} answered without a token`);
    this.authorization = `Bearer ${token}`;
    this.refreshToken = json.refresh_token;
  }

  /** True when the registry asked for credentials and we have none to give. */
  get missingCredentials(): boolean {
    return Boolean(this.challenge && !hasCredentials(this.auth) && !this.authorization);
  }

  get challengeScheme(): string | undefined { return this.challenge?.scheme; }

  /** A request to a path below the registry (or an absolute URL it gave, e.g. an upload Location). */
  async request(method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    await this.ping();
    let url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : this.base + pathOrUrl;
    const headers: OutgoingHttpHeaders = { 'User-Agent': USER_AGENT, ...opts.headers };
    if (this.authorization) headers.Authorization = this.authorization;
    for (let hop = 0; ; hop++) {
      let res: IncomingMessage;
      try { res = await rawRequest(method, url, headers, opts.body, this.host.insecure); } catch (e) {
        // Go's net/http words, as dockerd reports a registry it cannot reach: Get "URL": dial tcp: …
        const err = e as NodeJS.ErrnoException;
        if (!err?.code) throw e;
        throw new Error(`${method[0]}${method.slice(1).toLowerCase()} "${url}": ${describeNetError(err, new URL(url).host)}`);
      }
      const status = res.statusCode ?? 0;
      if (opts.follow && [301, 302, 303, 307, 308].includes(status) && res.headers.location && hop < 5) {
        res.resume();
        const next = new URL(res.headers.location, url);
        if (next.host !== new URL(url).host) delete headers.Authorization;
        url = next.toString();
        continue;
      }
      return res;
    }
  }

  /** A request whose body is read whole; non-2xx answers throw RegistryHttpError. */
  async fetchBytes(method: string, path: string, opts: RequestOptions & { limit?: number; allow?: number[] } = {}): Promise<{ res: IncomingMessage; body: Buffer }> {
    const res = await this.request(method, path, opts);
    const body = method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, opts.limit ?? 16 << 20);
    if (method === 'HEAD') res.resume();
    const status = res.statusCode ?? 0;
    if ((status < 200 || status >= 300) && !(opts.allow ?? []).includes(status)) throw httpError(res, body, this.absolute(path), method);
    return { res, body };
  }

  absolute(pathOrUrl: string): string {
    return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : (this.base ?? `https://${this.host.apiHost}`) + pathOrUrl;
  }
}

function rawRequest(method: string, url: string, headers: OutgoingHttpHeaders, body: Buffer | Readable | undefined, insecure: boolean): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const isHttps = u.protocol === 'https:';
    const h: OutgoingHttpHeaders = { ...headers };
    if (Buffer.isBuffer(body)) h['Content-Length'] = body.length;
    else if (body === undefined && ['PUT', 'POST', 'PATCH'].includes(method)) h['Content-Length'] = 0;
    const req = (isHttps ? https : http).request(u, {
      method, headers: h, agent: isHttps ? (insecure ? insecureHttpsAgent : httpsAgent) : httpAgent,
    }, resolve);
    req.on('error', reject);
    // A registry that stops answering (or reading) mid-transfer must not hang a pull or push forever.
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url}: no data for ${IDLE_TIMEOUT_MS / 1000}s`)));
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    }
  });
}

export async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > limit) { res.destroy(); throw new Error(`registry response larger than ${limit} bytes`); }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function httpError(res: IncomingMessage, body: Buffer, url: string, method: string): RegistryHttpError {
  const status = res.statusCode ?? 0;
  let code: string | undefined;
  let detail = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  try {
    const j = JSON.parse(body.toString('utf8'));
    const e = j?.errors?.[0];
    if (e?.code) { code = String(e.code); detail = String(e.message ?? code.toLowerCase()); }
    else if (typeof j?.details === 'string') detail = j.details;
    else if (typeof j?.message === 'string') detail = j.message;
  } catch { /* not JSON */ }
  if (!code && status === 401) code = 'UNAUTHORIZED';
  return new RegistryHttpError(status, code, detail, url, method);
}

function describeNetError(err: NodeJS.ErrnoException | undefined, host: string): string {
  if (!err) return 'unknown error';
  if (err.code === 'ECONNREFUSED') return `dial tcp ${host}: connect: connection refused`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `dial tcp: lookup ${host.replace(/:\d+$/, '')}: no such host`;
  if (err.code === 'EPROTO' || /wrong version number|packet length too long/.test(err.message)) return 'http: server gave HTTP response to HTTPS client';
  return err.message;
}
