/**
 * berth Hub's HTTP server: one address serves the registry API (/v2/…, mounted from
 * src/registry with the Hub's Authorizer), the token endpoint (/token), Docker's search API
 * (/v1/search) and the web interface (everything else).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createRegistryHandler, listenHttp, pageOf, parseBasicAuth, parseScope, RegistryError, RegistryStorage, signToken, type Access, type RegistryEvent, type TokenKey } from '../registry/index.js';
import { HubStore, type Repo, type User, type Visibility } from './db.js';
import { canSee, clientIp, CredentialChecker, grant, HubAuthorizer, LoginLimiter, RateLimitedError } from './access.js';
import { WebhookDispatcher } from './webhooks.js';
import { createWebHandler } from './web.js';
import { summary } from './markdown.js';

export interface HubOptions {
  /** Holds hub.db (metadata) and registry/ (blobs and manifests). */
  dataDir: string;
  host?: string;
  port?: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Visibility of repositories created by a push (default private). */
  defaultVisibility?: Visibility;
  /** Whether anyone may create an account on the web page. */
  allowSignup?: boolean;
  /** Lifetime of registry tokens (default 300 s). */
  tokenTtlSec?: number;
  /** Failed sign-ins per address or user name within the window before refusing (default 5 per 5 min). */
  loginMaxFailures?: number;
  loginWindowMs?: number;
  webhookAttempts?: number;
  webhookBaseDelayMs?: number;
  log?: (message: string) => void;
}

export interface HubContext {
  store: HubStore;
  storage: RegistryStorage;
  options: HubOptions;
  credentials: CredentialChecker;
  authorizer: HubAuthorizer;
  webhooks: WebhookDispatcher;
  secure: boolean;
  /** scheme://host the client used (Host header checked), for links and realms. */
  baseUrl(req?: IncomingMessage): string;
}

export interface RunningHub {
  url: string;
  address: string;
  port: number;
  server: Server;
  store: HubStore;
  storage: RegistryStorage;
  close(): Promise<void>;
}

export const SERVICE = 'berth-hub';
const HOST_RE = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

/** Docker Hub's search response for the repositories a viewer may see. */
export function searchResults(store: HubStore, viewer: User | undefined, q: string, n: number, page: number): unknown {
  const { total, repos } = store.search(q, viewer, n, (page - 1) * n);
  return {
    num_pages: Math.max(1, Math.ceil(total / n)), num_results: total, page_size: n, page, query: q,
    results: repos.map((r: Repo) => ({
      name: r.name, description: summary(r.description, 100), star_count: r.starCount, pull_count: r.pullCount,
      is_official: false, is_automated: false, is_trusted: false, is_private: r.visibility === 'private',
    })),
  };
}

export async function startHub(opts: HubOptions): Promise<RunningHub> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const store = new HubStore(join(opts.dataDir, 'hub.db'));
  const storage = new RegistryStorage(join(opts.dataDir, 'registry'));
  await storage.init();
  const host = opts.host ?? '127.0.0.1';
  const secure = !!opts.tls;
  const scheme = secure ? 'https' : 'http';
  let listenAddress = host;
  const baseUrl = (req?: IncomingMessage): string => {
    const h = req?.headers.host;
    return `${scheme}://${h && HOST_RE.test(h) ? h : listenAddress}`;
  };
  const key: TokenKey = { alg: 'HS256', secret: store.secret('token-key') };
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const limiter = new LoginLimiter(opts.loginMaxFailures ?? 5, opts.loginWindowMs ?? 5 * 60_000);
  const credentials = new CredentialChecker(store, limiter);
  const authorizer = new HubAuthorizer(store, { service: SERVICE, issuer: SERVICE, key, realm: (req) => `${baseUrl(req)}/token` });
  const webhooks = new WebhookDispatcher(store, {
    attempts: opts.webhookAttempts, baseDelayMs: opts.webhookBaseDelayMs, baseUrl: () => baseUrl(), log,
  });
  const ctx: HubContext = { store, storage, options: opts, credentials, authorizer, webhooks, secure, baseUrl };

  const onEvent = (e: RegistryEvent): void => {
    if (e.action === 'push') {
      const created = store.ensureRepo(e.repository, opts.defaultVisibility ?? 'private');
      if (!created) store.touchRepo(e.repository);
      if (e.tag) webhooks.pushed(e.repository, e.tag, e.actor ?? '');
    } else {
      store.touchRepo(e.repository);
    }
  };
  const registry = createRegistryHandler({ storage, authorizer, onEvent, log, deleteEnabled: true });
  const web = createWebHandler(ctx);

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The token endpoint speaks GET only (no OAuth POST): a 405 makes clients fall back to it.
    if (req.method !== 'GET' && req.method !== 'HEAD') { sendJson(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'use GET with Basic credentials' }] }, { Allow: 'GET' }); return; }
    // Basic credentials that are there but unreadable are not anonymity.
    const auth = req.headers.authorization;
    if (auth !== undefined && /^Basic(\s|$)/i.test(auth) && !parseBasicAuth(auth)) {
      sendJson(res, 400, { errors: [{ code: 'UNAUTHORIZED', message: 'malformed Authorization header: Basic credentials expected' }] });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const service = url.searchParams.get('service');
    if (service !== null && service !== SERVICE) { sendJson(res, 400, { errors: [{ code: 'DENIED', message: `unknown service ${service}` }] }); return; }
    let cred;
    try { cred = await credentials.fromBasic(req); } catch (err) {
      if (err instanceof RateLimitedError) {
        sendJson(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: err.message }] }, { 'Retry-After': String(err.retryAfterSec) });
        return;
      }
      throw err;
    }
    if (cred === false) {
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] }, { 'WWW-Authenticate': 'Basic realm="berth-hub"' });
      return;
    }
    const requested = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).map(parseScope).filter((a): a is Access => !!a).slice(0, 32);
    const access = grant(store, cred?.user, cred?.scope, requested);
    const now = Math.floor(Date.now() / 1000);
    const ttl = opts.tokenTtlSec ?? 300;
    const t = signToken({ iss: SERVICE, sub: cred?.user.name ?? '', aud: SERVICE, exp: now + ttl, nbf: now - 1, iat: now, jti: randomUUID(), access }, key);
    sendJson(res, 200, { token: t, access_token: t, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() });
  }

  /** The caller of an API request: a bearer token's subject, Basic credentials, or the web session. */
  async function apiViewer(req: IncomingMessage): Promise<User | undefined> {
    const auth = req.headers.authorization ?? '';
    if (/^Bearer /i.test(auth)) return authorizer.subject(req).user;
    if (/^Basic /i.test(auth)) { const c = await credentials.fromBasic(req); return c ? c.user : undefined; }
    return web.sessionUser(req);
  }

  async function search(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = (url.searchParams.get('q') ?? '').trim().slice(0, 200);
    const n = Math.min(Math.max(Math.floor(Number(url.searchParams.get('n') ?? 25)) || 25, 1), 100);
    const page = Math.min(Math.max(Math.floor(Number(url.searchParams.get('page') ?? 1)) || 1, 1), 10_000);
    let viewer: User | undefined;
    try { viewer = await apiViewer(req); } catch { viewer = undefined; }
    sendJson(res, 200, searchResults(store, viewer, q, n, page));
  }

  /** The catalog lists only what the caller may pull. */
  async function catalog(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const access: Access[] = [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    const d = await authorizer.authorize(req, access);
    if (!d.ok) {
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: d.message, detail: d.detail }] }, d.challenge ? { 'WWW-Authenticate': d.challenge } : {});
      return;
    }
    const viewer = d.subject ? store.user(d.subject) : undefined;
    const url = new URL(req.url ?? '/', 'http://x');
    const all = (await storage.listRepositories()).filter((r) => canSee(store, viewer, r));
    const headers: Record<string, string> = { 'Docker-Distribution-API-Version': 'registry/2.0' };
    let page: { items: string[]; link?: string };
    try { page = pageOf(url.searchParams, all, '/v2/_catalog'); } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      sendJson(res, e.status, { errors: [{ code: e.code, message: e.message, detail: e.detail }] }, headers);
      return;
    }
    if (page.link) headers.Link = page.link;
    sendJson(res, 200, { repositories: page.items }, headers);
  }

  const manifestGet = /^\/v2\/(.+)\/manifests\/[^/]+$/;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const fail = (err: unknown): void => {
      log(`hub: ${req.method} ${path}: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] });
      else res.destroy();
    };
    if (path === '/token') { token(req, res).catch(fail); return; }
    if (path === '/v1/search') { search(req, res).catch(fail); return; }
    if (path === '/v2/_catalog') { catalog(req, res).catch(fail); return; }
    if (path === '/v2' || path.startsWith('/v2/')) {
      const m = req.method === 'GET' ? manifestGet.exec(path) : null;
      if (m) {
        // Counted only once the registry has served it: a name that does not decode was refused there.
        res.once('finish', () => { if (res.statusCode === 200) { try { store.countPull(decodeURIComponent(m[1])); } catch { /* invalid name */ } } });
      }
      registry(req, res);
      return;
    }
    web.handle(req, res).catch(fail);
  };

  const { server, port, hostPart } = await listenHttp(handler, { host, port: opts.port, tls: opts.tls });
  listenAddress = `${hostPart}:${port}`;
  const purge = setInterval(() => { storage.purgeStaleUploads(24 * 3600_000).catch(() => undefined); }, 10 * 60_000);
  purge.unref();
  return {
    url: `${scheme}://${listenAddress}`, address: listenAddress, port, server, store, storage,
    close: () => new Promise<void>((resolve) => {
      clearInterval(purge);
      webhooks.close();
      server.close(() => { store.close(); resolve(); });
      server.closeAllConnections();
    }),
  };
}
