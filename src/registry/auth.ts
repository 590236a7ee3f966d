/**
 * Who may do what. The registry asks an Authorizer before every request, naming the access it
 * needs (Docker's scopes: `repository:<name>:pull,push,delete`, `registry:catalog:*`).
 * An Authorizer answers ok, or a challenge the HTTP edge sends as 401 + WWW-Authenticate.
 *
 * Two implementations: HtpasswdAuthorizer (Basic, bcrypt entries as `htpasswd -B` writes) and
 * TokenAuthorizer (Docker's bearer-token flow: the client fetches a signed token from a realm
 * and presents it). TokenIssuer is such a realm, backed by any password check and a grant
 * policy, so the Hub can put accounts and permissions behind the same interface.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, randomUUID, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import bcrypt from 'bcryptjs';

export interface Access { type: string; name: string; actions: string[] }

export type AuthDecision =
  | { ok: true; subject?: string }
  | { ok: false; status: 401 | 403; code: 'UNAUTHORIZED' | 'DENIED'; message: string; challenge?: string; detail?: unknown };

export interface Authorizer {
  /** `access` is empty for `GET /v2/` (authentication only). */
  authorize(req: IncomingMessage, access: Access[]): Promise<AuthDecision>;
}

/** Formats access as Docker scopes: `repository:team/app:pull,push`. */
export function formatScope(a: Access): string { return `${a.type}:${a.name}:${a.actions.join(',')}`; }

/** Parses one scope string; the name may not contain ':' (repository names cannot). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope.slice(last + 1).split(',').map((s) => s.trim()).filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

// ---- htpasswd --------------------------------------------------------------------------------

/** A user file of `name:bcrypt-hash` lines, re-read when it changes on disk. */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private loadedMtime = -1;
  // bcrypt is slow on purpose; remember recent successful checks (keyed by a hash of the pair).
  private readonly verified = new Map<string, number>();

  constructor(readonly path: string, private readonly cacheMs = 5 * 60_000) { this.reload(); }

  private reload(): void {
    const st = statSync(this.path);
    if (st.mtimeMs === this.loadedMtime) return;
    const users = new Map<string, string>();
    for (const raw of readFileSync(this.path, 'utf8').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i <= 0) continue;
      users.set(line.slice(0, i), line.slice(i + 1));
    }
    this.users = users;
    this.loadedMtime = st.mtimeMs;
    this.verified.clear();
  }

  async check(user: string, password: string): Promise<boolean> {
    try { this.reload(); } catch { return false; }
    const hash = this.users.get(user);
    if (!hash || !/^\$2[abxy]\$\d\d\$/.test(hash)) return false;
    const key = createHash('sha256').update(`${user}\0${password}\0${hash}`).digest('hex');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    // bcryptjs understands $2a$/$2b$; Apache's $2y$ is the same algorithm.
    const ok = await bcrypt.compare(password, hash.replace(/^\$2[xy]\$/, '$2b$'));
    if (ok) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, Date.now() + this.cacheMs);
    }
    return ok;
  }
}

/** Basic authentication against an htpasswd file; every authenticated user may do everything. */
export class HtpasswdAuthorizer implements Authorizer {
  readonly file: HtpasswdFile;
  constructor(path: string, readonly realm = 'berth-registry') { this.file = new HtpasswdFile(path); }

  async authorize(req: IncomingMessage, _access: Access[]): Promise<AuthDecision> {
    const creds = parseBasicAuth(req.headers.authorization);
    if (creds && await this.file.check(creds.user, creds.password)) return { ok: true, subject: creds.user };
    return {
      ok: false, status: 401, code: 'UNAUTHORIZED',
      message: creds ? 'invalid username or password' : 'authentication required',
      challenge: `Basic realm="${this.realm}"`,
    };
  }
}

// ---- tokens ------------------------------------------------------------------------------------

export type TokenAlgorithm = 'HS256' | 'ES256' | 'RS256';

/** What signs or verifies tokens: a shared secret (HS256) or a key pair (ES256/RS256, PEM). */
export type TokenKey =
  | { alg: 'HS256'; secret: string | Buffer }
  | { alg: 'ES256' | 'RS256'; privateKey?: string | KeyObject; publicKey?: string | KeyObject };

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  access: Access[];
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function keyObject(k: string | KeyObject, kind: 'private' | 'public'): KeyObject {
  if (typeof k !== 'string') return k;
  return kind === 'private' ? createPrivateKey(k) : createPublicKey(k);
}

/** Signs claims as a compact JWS (JWT). */
export function signToken(claims: TokenClaims, key: TokenKey): string {
  const header = b64url(JSON.stringify({ alg: key.alg, typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  let sig: Buffer;
  if (key.alg === 'HS256') sig = createHmac('sha256', key.secret).update(input).digest();
  else {
    if (!key.privateKey) throw new Error(`${key.alg} signing needs a private key`);
    sig = sign('sha256', Buffer.from(input), { key: keyObject(key.privateKey, 'private'), dsaEncoding: 'ieee-p1363' });
  }
  return `${input}.${b64url(sig)}`;
}

/** Verifies signature, algorithm, issuer, audience and lifetime; returns the claims or undefined. */
export function verifyToken(token: string, key: TokenKey, expect: { issuer: string; service: string; now?: number; leewaySec?: number }): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let header: { alg?: string };
  let claims: TokenClaims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch { return undefined; }
  // JSON that is not an object (`null`, a number) is no token either.
  if (!header || typeof header !== 'object' || !claims || typeof claims !== 'object') return undefined;
  if (header.alg !== key.alg) return undefined; // never let the token choose the algorithm
  const input = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  if (key.alg === 'HS256') {
    const want = createHmac('sha256', key.secret).update(input).digest();
    if (want.length !== sig.length || !timingSafeEqual(want, sig)) return undefined;
  } else {
    const pub = key.publicKey ? keyObject(key.publicKey, 'public') : key.privateKey ? createPublicKey(keyObject(key.privateKey, 'private')) : undefined;
    if (!pub || !verify('sha256', input, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)) return undefined;
  }
  const now = expect.now ?? Math.floor(Date.now() / 1000);
  const leeway = expect.leewaySec ?? 60;
  if (claims.iss !== expect.issuer) return undefined;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(expect.service)) return undefined;
  if (typeof claims.exp !== 'number' || claims.exp + leeway < now) return undefined;
  if (typeof claims.nbf === 'number' && claims.nbf - leeway > now) return undefined;
  if (!Array.isArray(claims.access)) claims.access = [];
  return claims;
}

/**
 * Tokens that verified, by their exact text, until they expire: a client sends one token with
 * many requests, and the signature check and JSON parsing need not run again for each. A changed
 * (tampered) token is other text, so it is verified afresh; lifetime is checked on every use.
 */
export class VerifiedTokens {
  private readonly claims = new Map<string, TokenClaims>();
  constructor(readonly key: TokenKey, readonly expect: { issuer: string; service: string; leewaySec?: number }, readonly max = 10_000) {}

  verify(token: string): TokenClaims | undefined {
    const now = Math.floor(Date.now() / 1000);
    const leeway = this.expect.leewaySec ?? 60;
    const hit = this.claims.get(token);
    if (hit) {
      if (hit.exp + leeway >= now && (typeof hit.nbf !== 'number' || hit.nbf - leeway <= now)) return hit;
      this.claims.delete(token);
      return undefined;
    }
    const claims = verifyToken(token, this.key, { ...this.expect, now });
    // Only tokens already valid are kept (one not yet valid may become so: verify it again then).
    if (claims) {
      if (this.claims.size >= this.max) this.claims.clear();
      this.claims.set(token, claims);
    }
    return claims;
  }
}

/** Whether granted access covers everything requested ('*' grants every action). */
export function covers(granted: Access[], requested: Access[]): boolean {
  return requested.every((r) => {
    const g = granted.filter((x) => x.type === r.type && x.name === r.name).flatMap((x) => x.actions);
    return r.actions.every((a) => g.includes(a) || g.includes('*'));
  });
}

export interface TokenAuthorizerOptions {
  /** URL of the token endpoint clients are sent to; a function derives it from the request (e.g. its Host). */
  realm: string | ((req: IncomingMessage) => string);
  /** The name this registry has in tokens' `aud`. */
  service: string;
  /** Expected `iss` of tokens. */
  issuer: string;
  key: TokenKey;
}

/** Docker's bearer-token flow: 401 with `Bearer realm=…,service=…,scope=…` until a valid token covers the request. */
export class TokenAuthorizer implements Authorizer {
  private readonly verified: VerifiedTokens;
  constructor(readonly options: TokenAuthorizerOptions) {
    this.verified = new VerifiedTokens(options.key, { issuer: options.issuer, service: options.service });
  }

  challenge(req: IncomingMessage, access: Access[], error?: string): string {
    const realm = typeof this.options.realm === 'function' ? this.options.realm(req) : this.options.realm;
    let c = `Bearer realm="${realm}",service="${this.options.service}"`;
    if (access.length > 0) c += `,scope="${access.map(formatScope).join(' ')}"`;
    if (error) c += `,error="${error}"`;
    return c;
  }

  async authorize(req: IncomingMessage, access: Access[]): Promise<AuthDecision> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'authentication required', challenge: this.challenge(req, access), detail: access };
    const claims = this.verified.verify(m[1]);
    if (!claims) return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'invalid or expired token', challenge: this.challenge(req, access, 'invalid_token') };
    if (!covers(claims.access, access)) {
      return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'token does not grant the requested access', challenge: this.challenge(req, access, 'insufficient_scope'), detail: access };
    }
    return { ok: true, subject: claims.sub };
  }
}

/** Decides what a (possibly anonymous) user gets of what they asked for. */
export type GrantPolicy = (user: string | undefined, requested: Access[]) => Access[] | Promise<Access[]>;

/** Authenticated users get what they ask for; anonymous users get nothing. */
export const grantAuthenticated: GrantPolicy = (user, requested) => (user ? requested : []);

export interface TokenIssuerOptions {
  issuer: string;
  service: string;
  key: TokenKey;
  /** Password check for Basic credentials sent to the token endpoint. */
  checkPassword: (user: string, password: string) => Promise<boolean>;
  policy?: GrantPolicy;
  ttlSec?: number;
}

/** A token endpoint (`GET /token?service=&scope=`), as Docker clients call it. */
export class TokenIssuer {
  constructor(readonly options: TokenIssuerOptions) {}

  /** Issues a token for a user (already authenticated) and the access granted to them. */
  async issue(user: string | undefined, requested: Access[]): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const granted = await (this.options.policy ?? grantAuthenticated)(user, requested);
    const now = Math.floor(Date.now() / 1000);
    const ttl = this.options.ttlSec ?? 300;
    const token = signToken({
      iss: this.options.issuer, sub: user ?? '', aud: this.options.service, exp: now + ttl, nbf: now - 1, iat: now,
      jti: randomUUID(), access: granted,
    }, this.options.key);
    return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    const service = url.searchParams.get('service');
    if (service !== null && service !== this.options.service) {
      send(400, { errors: [{ code: 'DENIED', message: `unknown service ${service}` }] });
      return;
    }
    let user: string | undefined;
    const creds = parseBasicAuth(req.headers.authorization);
    if (creds) {
      if (!(await this.options.checkPassword(creds.user, creds.password))) {
        send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, { 'WWW-Authenticate': 'Basic realm="berth-registry-token"' });
        return;
      }
      user = creds.user;
    }
    const requested = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).map(parseScope).filter((a): a is Access => !!a);
    const t = await this.issue(user, requested);
    send(200, { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt });
  }
}
