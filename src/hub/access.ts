/**
 * Who may do what in the Hub. One function (`allowedActions`) decides, from the live database,
 * which registry actions a user has on a repository; the token endpoint grants the intersection of
 * that with what the credential's scope permits, and the Authorizer re-checks it on every request
 * (so a visibility switch or a removed member takes effect at once, not when tokens expire).
 *
 * A private repository the user may not pull is answered exactly like one that does not exist:
 * neither gets a grant, so both fail with the same 401.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { covers, isValidRepositoryName, parseBasicAuth, TokenAuthorizer, VerifiedTokens, type Access, type AuthDecision, type Authorizer, type TokenKey } from '../registry/index.js';
import type { HubStore, Role, TokenScope, User } from './db.js';
import { hashPassword, verifyPassword } from './passwords.js';

export type Action = 'pull' | 'push' | 'delete';

const ROLE_ACTIONS: Record<Role, Action[]> = { owner: ['pull', 'push', 'delete'], write: ['pull', 'push'], read: ['pull'] };
export const SCOPE_ACTIONS: Record<TokenScope | 'password', Action[]> = {
  read: ['pull'], 'read-write': ['pull', 'push'], delete: ['pull', 'push', 'delete'], password: ['pull', 'push', 'delete'],
};

const rank: Record<Role, number> = { read: 1, write: 2, owner: 3 };
const best = (...roles: (Role | undefined)[]): Role | undefined =>
  roles.filter((r): r is Role => !!r).sort((a, b) => rank[b] - rank[a])[0];

/** The user's role on a repository (namespace owner, org member, collaborator), if any. */
export function roleOn(store: HubStore, user: User | undefined, repo: string): Role | undefined {
  if (!user) return undefined;
  if (user.admin) return 'owner';
  const ns = repo.split('/')[0];
  if (ns === user.name) return 'owner';
  return best(store.memberRole(ns, user.id), store.repo(repo) ? store.collaboratorRole(repo, user.id) : undefined);
}

/** Actions on a repository: public ones may be pulled by anyone; new ones pushed by namespace writers. */
export function allowedActions(store: HubStore, user: User | undefined, repo: string): Action[] {
  if (!repo.includes('/') || !isValidRepositoryName(repo)) return []; // every repository lives in a namespace
  const rec = store.repo(repo);
  const role = roleOn(store, user, repo);
  const out = new Set<Action>(role ? ROLE_ACTIONS[role] : []);
  if (rec && rec.visibility === 'public') out.add('pull');
  return [...out];
}

export function canSee(store: HubStore, user: User | undefined, repo: string): boolean {
  return !!store.repo(repo) && allowedActions(store, user, repo).includes('pull');
}

/** Grants, per requested scope, what the user may do and the credential allows. */
export function grant(store: HubStore, user: User | undefined, credential: TokenScope | 'password' | undefined, requested: Access[]): Access[] {
  const limit = credential ? SCOPE_ACTIONS[credential] : ['pull'];
  const out: Access[] = [];
  for (const r of requested) {
    if (r.type === 'registry' && r.name === 'catalog') { out.push({ type: 'registry', name: 'catalog', actions: ['*'] }); continue; }
    if (r.type !== 'repository') continue;
    const allowed = allowedActions(store, user, r.name);
    const actions = r.actions.filter((a) => (allowed as string[]).includes(a) && (limit as string[]).includes(a));
    if (actions.length > 0) out.push({ type: 'repository', name: r.name, actions });
  }
  return out;
}

// ---- credentials ---------------------------------------------------------------------------

/** Counts failed sign-ins per client address and per user name; too many lock both for a while. */
export class LoginLimiter {
  private readonly fails = new Map<string, number[]>();
  constructor(readonly maxFailures = 5, readonly windowMs = 5 * 60_000) {}

  private recent(key: string): number[] {
    const cutoff = Date.now() - this.windowMs;
    const list = (this.fails.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length) this.fails.set(key, list); else this.fails.delete(key);
    return list;
  }

  /** Seconds until another attempt is allowed, or 0. */
  retryAfter(ip: string, user: string): number {
    let wait = 0;
    // One address may try several accounts (a shared NAT, a CI box): it gets a larger budget.
    for (const [key, max] of [[`ip:${ip}`, this.maxFailures * 4], [`user:${user}`, this.maxFailures]] as const) {
      const list = this.recent(key);
      if (list.length >= max) wait = Math.max(wait, Math.ceil((list[0] + this.windowMs - Date.now()) / 1000));
    }
    return wait;
  }

  failed(ip: string, user: string): void {
    if (this.fails.size > 100_000) this.fails.clear();
    for (const key of [`ip:${ip}`, `user:${user}`]) this.fails.set(key, [...this.recent(key), Date.now()]);
  }

  succeeded(_ip: string, user: string): void { this.fails.delete(`user:${user}`); }
}

export class RateLimitedError extends Error {
  constructor(readonly retryAfterSec: number) { super('too many failed sign-in attempts; try again later'); }
}

export interface Credential { user: User; scope: TokenScope | 'password' }

/** Checks a password or a personal access token (`bhp_…`) for a user name. */
export class CredentialChecker {
  // scrypt is slow on purpose; remember recent successful checks (keyed by a hash of the pair).
  private readonly verified = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  constructor(readonly store: HubStore, readonly limiter: LoginLimiter) {}

  async check(name: string, secret: string, ip: string): Promise<Credential | undefined> {
    const wait = this.limiter.retryAfter(ip, name);
    if (wait > 0) throw new RateLimitedError(wait);
    const cred = await this.verify(name, secret);
    if (cred) this.limiter.succeeded(ip, name); else this.limiter.failed(ip, name);
    return cred;
  }

  private dummyHash?: Promise<string>;

  private async verify(name: string, secret: string): Promise<Credential | undefined> {
    if (secret.startsWith('bhp_')) {
      const t = this.store.useToken(secret);
      return t && t.user.name === name ? { user: t.user, scope: t.scope } : undefined;
    }
    const hash = this.store.passwordHash(name);
    const user = this.store.user(name);
    if (!hash || !user) {
      // As slow as a wrong password, so the answer's timing does not tell which names exist.
      await verifyPassword(secret, await (this.dummyHash ??= hashPassword('no such user')));
      return undefined;
    }
    const key = createHash('sha256').update(`${name}\0${secret}\0${hash}`).digest('hex');
    if ((this.verified.get(key) ?? 0) > Date.now()) return { user, scope: 'password' };
    // Concurrent checks of the same pair (a client's parallel requests) share one scrypt run.
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = verifyPassword(secret, hash).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    if (!(await pending)) return undefined;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, Date.now() + 5 * 60_000);
    return { user, scope: 'password' };
  }

  /** Basic credentials of a request, checked; undefined when there are none. Throws on bad ones. */
  async fromBasic(req: IncomingMessage): Promise<Credential | undefined | false> {
    const creds = parseBasicAuth(req.headers.authorization);
    if (!creds) return undefined;
    return (await this.check(creds.user, creds.password, clientIp(req))) ?? false;
  }
}

export function clientIp(req: IncomingMessage): string { return req.socket.remoteAddress ?? '?'; }

// ---- the registry's Authorizer ---------------------------------------------------------------

export interface HubTokenConfig { service: string; issuer: string; key: TokenKey; realm: (req: IncomingMessage) => string }

/** Bearer tokens from the Hub's token endpoint, re-checked against current permissions. */
export class HubAuthorizer implements Authorizer {
  readonly tokens: TokenAuthorizer;
  /** Signature and lifetime checks of tokens seen before; permissions are still re-checked on every request. */
  private readonly verified: VerifiedTokens;
  constructor(readonly store: HubStore, readonly cfg: HubTokenConfig) {
    this.tokens = new TokenAuthorizer({ realm: cfg.realm, service: cfg.service, issuer: cfg.issuer, key: cfg.key });
    this.verified = new VerifiedTokens(cfg.key, { issuer: cfg.issuer, service: cfg.service, leewaySec: 5 });
  }

  /** The token's subject, if the request carries a valid token. */
  subject(req: IncomingMessage): { user?: User; valid: boolean } {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return { valid: false };
    const claims = this.verified.verify(m[1]);
    if (!claims) return { valid: false };
    return { valid: true, user: claims.sub ? this.store.user(claims.sub) : undefined };
  }

  async authorize(req: IncomingMessage, access: Access[]): Promise<AuthDecision> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const deny = (error?: string): AuthDecision => ({
      ok: false, status: 401, code: 'UNAUTHORIZED',
      message: error === 'invalid_token' ? 'invalid or expired token' : 'authentication required',
      challenge: this.tokens.challenge(req, access, error), detail: access.map((a) => ({ Type: a.type, Name: a.name, Action: a.actions.join(',') })),
    });
    if (!m) return deny();
    const claims = this.verified.verify(m[1]);
    if (!claims) return deny('invalid_token');
    if (!covers(claims.access, access)) return deny('insufficient_scope');
    const user = claims.sub ? this.store.user(claims.sub) : undefined;
    if (claims.sub && !user) return deny('invalid_token');
    for (const a of access) {
      if (a.type !== 'repository') continue;
      const now = allowedActions(this.store, user, a.name) as string[];
      if (!a.actions.every((x) => now.includes(x))) return deny('insufficient_scope');
    }
    return { ok: true, subject: claims.sub || undefined };
  }
}
