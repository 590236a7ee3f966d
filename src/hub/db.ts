/**
 * The Hub's metadata in SQLite (src/store): accounts, access tokens, organisations, repositories,
 * stars, collaborators, webhooks and their deliveries, web sessions. Blobs and manifests stay in
 * the registry's storage; this is only what the registry does not know.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { migrate, openDatabase, type Db } from '../store/index.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../errors/index.js';
import { hashPassword } from './passwords.js';

export type Role = 'owner' | 'write' | 'read';
export type TokenScope = 'read' | 'read-write' | 'delete';
export type Visibility = 'public' | 'private';

export interface User { id: number; name: string; admin: boolean; created: number }
export interface AccessToken { id: number; userId: number; name: string; scope: TokenScope; created: number; lastUsed: number | null }
export interface Repo {
  name: string; namespace: string; description: string; visibility: Visibility;
  created: number; updated: number; pullCount: number; starCount: number;
}
export interface Webhook { id: number; repo: string; name: string; url: string; created: number }
export interface Delivery { id: number; hookId: number; repo: string; attempt: number; status: 'ok' | 'failed' | 'retrying'; responseCode: number | null; error: string | null; at: number }

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS hub_users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password TEXT NOT NULL, admin INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS hub_tokens (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, scope TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER)`,
  `CREATE TABLE IF NOT EXISTS hub_orgs (name TEXT PRIMARY KEY, created INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS hub_members (org TEXT NOT NULL REFERENCES hub_orgs(name) ON DELETE CASCADE, user_id INTEGER NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE, role TEXT NOT NULL, PRIMARY KEY (org, user_id))`,
  `CREATE TABLE IF NOT EXISTS hub_repos (name TEXT PRIMARY KEY, namespace TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', visibility TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, pull_count INTEGER NOT NULL DEFAULT 0)`,
  `CREATE INDEX IF NOT EXISTS hub_repos_ns ON hub_repos(namespace)`,
  `CREATE TABLE IF NOT EXISTS hub_collaborators (repo TEXT NOT NULL REFERENCES hub_repos(name) ON DELETE CASCADE, user_id INTEGER NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE, role TEXT NOT NULL, PRIMARY KEY (repo, user_id))`,
  `CREATE TABLE IF NOT EXISTS hub_stars (repo TEXT NOT NULL REFERENCES hub_repos(name) ON DELETE CASCADE, user_id INTEGER NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE, PRIMARY KEY (repo, user_id))`,
  `CREATE TABLE IF NOT EXISTS hub_webhooks (id INTEGER PRIMARY KEY, repo TEXT NOT NULL REFERENCES hub_repos(name) ON DELETE CASCADE, name TEXT NOT NULL, url TEXT NOT NULL, created INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS hub_deliveries (id INTEGER PRIMARY KEY, hook_id INTEGER NOT NULL, repo TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT NOT NULL, response_code INTEGER, error TEXT, at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS hub_deliveries_repo ON hub_deliveries(repo, id)`,
  `CREATE TABLE IF NOT EXISTS hub_sessions (hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE, expires INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS hub_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

/** Namespace (user and organisation) names: one repository-name path component, no separators runs. */
const NAMESPACE_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export function validNamespaceName(name: string): boolean { return name.length >= 2 && name.length <= 64 && NAMESPACE_RE.test(name); }

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const now = (): number => Date.now();

interface RepoRow { name: string; namespace: string; description: string; visibility: Visibility; created: number; updated: number; pull_count: number; stars: number }
const repoOf = (r: RepoRow): Repo => ({
  name: r.name, namespace: r.namespace, description: r.description, visibility: r.visibility,
  created: r.created, updated: r.updated, pullCount: r.pull_count, starCount: r.stars,
});
const REPO_SELECT = `SELECT r.*, (SELECT COUNT(*) FROM hub_stars s WHERE s.repo = r.name) AS stars FROM hub_repos r`;

export class HubStore {
  readonly db: Db;

  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(path: string) {
    this.db = openDatabase(path);
    migrate(this.db, SCHEMA);
  }

  /** Prepared statements, compiled once (preparing costs more than most of these queries). */
  private q(sql: string): Database.Statement<unknown[]> {
    let st = this.statements.get(sql);
    if (!st) { st = this.db.prepare(sql); this.statements.set(sql, st); }
    return st;
  }

  close(): void { this.db.close(); }

  /** A per-installation secret (token signing, CSRF), created once. */
  secret(key: string): Buffer {
    const row = this.q('SELECT value FROM hub_settings WHERE key = ?').get(key) as { value: string } | undefined;
    if (row) return Buffer.from(row.value, 'base64');
    const v = randomBytes(32);
    this.q('INSERT OR IGNORE INTO hub_settings (key, value) VALUES (?, ?)').run(key, v.toString('base64'));
    return this.secret(key);
  }

  // ---- users ---------------------------------------------------------------------------------

  async createUser(name: string, password: string, admin = false): Promise<User> {
    if (!validNamespaceName(name)) throw new InvalidParameterError('user names are 2-64 characters: lower-case letters, digits, and . _ - between them');
    if (password.length < 8) throw new InvalidParameterError('passwords need at least 8 characters');
    if (this.namespaceTaken(name)) throw new ConflictError(`the name ${name} is taken`);
    const hash = await hashPassword(password);
    this.q('INSERT INTO hub_users (name, password, admin, created) VALUES (?, ?, ?, ?)').run(name, hash, admin ? 1 : 0, now());
    return this.user(name)!;
  }

  async setPassword(name: string, password: string): Promise<void> {
    if (password.length < 8) throw new InvalidParameterError('passwords need at least 8 characters');
    const r = this.q('UPDATE hub_users SET password = ? WHERE name = ?').run(await hashPassword(password), name);
    if (r.changes === 0) throw new NotFoundError(`no user ${name}`);
  }

  namespaceTaken(name: string): boolean {
    return !!this.q('SELECT 1 FROM hub_users WHERE name = ? UNION SELECT 1 FROM hub_orgs WHERE name = ?').get(name, name);
  }

  user(name: string): User | undefined {
    const r = this.q('SELECT id, name, admin, created FROM hub_users WHERE name = ?').get(name) as { id: number; name: string; admin: number; created: number } | undefined;
    return r && { id: r.id, name: r.name, admin: !!r.admin, created: r.created };
  }

  userById(id: number): User | undefined {
    const r = this.q('SELECT id, name, admin, created FROM hub_users WHERE id = ?').get(id) as { id: number; name: string; admin: number; created: number } | undefined;
    return r && { id: r.id, name: r.name, admin: !!r.admin, created: r.created };
  }

  passwordHash(name: string): string | undefined {
    return (this.q('SELECT password FROM hub_users WHERE name = ?').get(name) as { password: string } | undefined)?.password;
  }

  // ---- access tokens -------------------------------------------------------------------------

  /** Creates a personal access token; the secret is returned once and only its hash is kept. */
  createToken(userId: number, name: string, scope: TokenScope): { token: AccessToken; secret: string } {
    if (!['read', 'read-write', 'delete'].includes(scope)) throw new InvalidParameterError('scope must be read, read-write or delete');
    const label = name.trim().slice(0, 100);
    if (!label) throw new InvalidParameterError('a token needs a name');
    const secret = `bhp_${randomBytes(24).toString('base64url')}`;
    const r = this.q('INSERT INTO hub_tokens (user_id, name, hash, scope, created) VALUES (?, ?, ?, ?, ?)').run(userId, label, sha256(secret), scope, now());
    return { token: this.tokens(userId).find((t) => t.id === Number(r.lastInsertRowid))!, secret };
  }

  tokens(userId: number): AccessToken[] {
    return (this.q('SELECT * FROM hub_tokens WHERE user_id = ? ORDER BY id DESC').all(userId) as { id: number; user_id: number; name: string; scope: TokenScope; created: number; last_used: number | null }[])
      .map((t) => ({ id: t.id, userId: t.user_id, name: t.name, scope: t.scope, created: t.created, lastUsed: t.last_used }));
  }

  /** The user and scope a token secret belongs to (and marks it used). */
  useToken(secret: string): { user: User; scope: TokenScope } | undefined {
    const r = this.q('SELECT id, user_id, scope FROM hub_tokens WHERE hash = ?').get(sha256(secret)) as { id: number; user_id: number; scope: TokenScope } | undefined;
    if (!r) return undefined;
    this.q('UPDATE hub_tokens SET last_used = ? WHERE id = ?').run(now(), r.id);
    const user = this.userById(r.user_id);
    return user && { user, scope: r.scope };
  }

  deleteToken(userId: number, id: number): boolean {
    return this.q('DELETE FROM hub_tokens WHERE id = ? AND user_id = ?').run(id, userId).changes > 0;
  }

  // ---- organisations -------------------------------------------------------------------------

  createOrg(name: string, owner: User): void {
    if (!validNamespaceName(name)) throw new InvalidParameterError('organisation names are 2-64 characters: lower-case letters, digits, and . _ - between them');
    if (this.namespaceTaken(name)) throw new ConflictError(`the name ${name} is taken`);
    this.db.transaction(() => {
      this.q('INSERT INTO hub_orgs (name, created) VALUES (?, ?)').run(name, now());
      this.q('INSERT INTO hub_members (org, user_id, role) VALUES (?, ?, ?)').run(name, owner.id, 'owner');
    })();
  }

  isOrg(name: string): boolean { return !!this.q('SELECT 1 FROM hub_orgs WHERE name = ?').get(name); }

  orgsOf(userId: number): { org: string; role: Role }[] {
    return this.q('SELECT org, role FROM hub_members WHERE user_id = ? ORDER BY org').all(userId) as { org: string; role: Role }[];
  }

  members(org: string): { name: string; role: Role }[] {
    return this.q('SELECT u.name AS name, m.role AS role FROM hub_members m JOIN hub_users u ON u.id = m.user_id WHERE m.org = ? ORDER BY u.name').all(org) as { name: string; role: Role }[];
  }

  memberRole(org: string, userId: number): Role | undefined {
    return (this.q('SELECT role FROM hub_members WHERE org = ? AND user_id = ?').get(org, userId) as { role: Role } | undefined)?.role;
  }

  setMember(org: string, userName: string, role: Role): void {
    if (!['owner', 'write', 'read'].includes(role)) throw new InvalidParameterError('role must be owner, write or read');
    const u = this.user(userName);
    if (!u) throw new NotFoundError(`no user ${userName}`);
    if (!this.isOrg(org)) throw new NotFoundError(`no organisation ${org}`);
    this.q('INSERT INTO hub_members (org, user_id, role) VALUES (?, ?, ?) ON CONFLICT(org, user_id) DO UPDATE SET role = excluded.role').run(org, u.id, role);
  }

  removeMember(org: string, userName: string): void {
    const u = this.user(userName);
    if (!u) throw new NotFoundError(`no user ${userName}`);
    const owners = this.members(org).filter((m) => m.role === 'owner');
    if (owners.length === 1 && owners[0].name === userName) throw new ConflictError('an organisation keeps at least one owner');
    this.q('DELETE FROM hub_members WHERE org = ? AND user_id = ?').run(org, u.id);
  }

  // ---- repositories --------------------------------------------------------------------------

  repo(name: string): Repo | undefined {
    const r = this.q(`${REPO_SELECT} WHERE r.name = ?`).get(name) as RepoRow | undefined;
    return r && repoOf(r);
  }

  /** Creates the repository's record if it has none; returns whether it did. */
  ensureRepo(name: string, visibility: Visibility, description = ''): boolean {
    const ns = name.split('/')[0];
    const t = now();
    return this.q('INSERT OR IGNORE INTO hub_repos (name, namespace, description, visibility, created, updated) VALUES (?, ?, ?, ?, ?, ?)')
      .run(name, ns, description, visibility, t, t).changes > 0;
  }

  touchRepo(name: string): void { this.q('UPDATE hub_repos SET updated = ? WHERE name = ?').run(now(), name); }
  countPull(name: string): void { this.q('UPDATE hub_repos SET pull_count = pull_count + 1 WHERE name = ?').run(name); }

  setVisibility(name: string, visibility: Visibility): void {
    if (visibility !== 'public' && visibility !== 'private') throw new InvalidParameterError('visibility must be public or private');
    if (this.q('UPDATE hub_repos SET visibility = ? WHERE name = ?').run(visibility, name).changes === 0) throw new NotFoundError(`no repository ${name}`);
  }

  setDescription(name: string, description: string): void {
    if (description.length > 25_000) throw new InvalidParameterError('descriptions are at most 25000 characters');
    this.q('UPDATE hub_repos SET description = ?, updated = ? WHERE name = ?').run(description, now(), name);
  }

  deleteRepo(name: string): void { this.q('DELETE FROM hub_repos WHERE name = ?').run(name); }

  reposInNamespace(ns: string): Repo[] {
    return (this.q(`${REPO_SELECT} WHERE r.namespace = ? ORDER BY r.name`).all(ns) as RepoRow[]).map(repoOf);
  }

  /**
   * Repositories matching a query that a viewer may see: public ones, and private ones in
   * namespaces or collaborations the viewer has. Ranked by stars, pulls, then name.
   */
  search(q: string, viewer: User | undefined, limit: number, offset: number): { total: number; repos: Repo[] } {
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const uid = viewer?.id ?? -1;
    const admin = viewer?.admin ? 1 : 0;
    const where = `(r.name LIKE @like ESCAPE '\\' OR r.description LIKE @like ESCAPE '\\') AND (
      r.visibility = 'public' OR @admin = 1 OR r.namespace = @uname
      OR EXISTS (SELECT 1 FROM hub_members m WHERE m.org = r.namespace AND m.user_id = @uid)
      OR EXISTS (SELECT 1 FROM hub_collaborators c WHERE c.repo = r.name AND c.user_id = @uid))`;
    const params = { like, uid, admin, uname: viewer?.name ?? '\0' };
    const total = (this.q(`SELECT COUNT(*) AS n FROM hub_repos r WHERE ${where}`).get(params) as { n: number }).n;
    const rows = this.q(`${REPO_SELECT} WHERE ${where} ORDER BY stars DESC, r.pull_count DESC, r.name LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit, offset }) as RepoRow[];
    return { total, repos: rows.map(repoOf) };
  }

  collaborators(repo: string): { name: string; role: Role }[] {
    return this.q('SELECT u.name AS name, c.role AS role FROM hub_collaborators c JOIN hub_users u ON u.id = c.user_id WHERE c.repo = ? ORDER BY u.name').all(repo) as { name: string; role: Role }[];
  }

  collaboratorRole(repo: string, userId: number): Role | undefined {
    return (this.q('SELECT role FROM hub_collaborators WHERE repo = ? AND user_id = ?').get(repo, userId) as { role: Role } | undefined)?.role;
  }

  setCollaborator(repo: string, userName: string, role: Role): void {
    if (!['owner', 'write', 'read'].includes(role)) throw new InvalidParameterError('role must be owner, write or read');
    const u = this.user(userName);
    if (!u) throw new NotFoundError(`no user ${userName}`);
    this.q('INSERT INTO hub_collaborators (repo, user_id, role) VALUES (?, ?, ?) ON CONFLICT(repo, user_id) DO UPDATE SET role = excluded.role').run(repo, u.id, role);
  }

  removeCollaborator(repo: string, userName: string): void {
    const u = this.user(userName);
    if (u) this.q('DELETE FROM hub_collaborators WHERE repo = ? AND user_id = ?').run(repo, u.id);
  }

  // ---- stars ---------------------------------------------------------------------------------

  starred(repo: string, userId: number): boolean { return !!this.q('SELECT 1 FROM hub_stars WHERE repo = ? AND user_id = ?').get(repo, userId); }
  setStar(repo: string, userId: number, on: boolean): void {
    if (on) this.q('INSERT OR IGNORE INTO hub_stars (repo, user_id) VALUES (?, ?)').run(repo, userId);
    else this.q('DELETE FROM hub_stars WHERE repo = ? AND user_id = ?').run(repo, userId);
  }

  // ---- webhooks ------------------------------------------------------------------------------

  addWebhook(repo: string, name: string, url: string): Webhook {
    let u: URL;
    try { u = new URL(url); } catch { throw new InvalidParameterError('the webhook URL is not a URL'); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidParameterError('webhook URLs are http or https');
    const r = this.q('INSERT INTO hub_webhooks (repo, name, url, created) VALUES (?, ?, ?, ?)').run(repo, name.trim().slice(0, 100) || u.host, u.toString(), now());
    return this.webhooks(repo).find((h) => h.id === Number(r.lastInsertRowid))!;
  }

  webhooks(repo: string): Webhook[] { return this.q('SELECT * FROM hub_webhooks WHERE repo = ? ORDER BY id').all(repo) as Webhook[]; }
  deleteWebhook(repo: string, id: number): void { this.q('DELETE FROM hub_webhooks WHERE repo = ? AND id = ?').run(repo, id); }

  logDelivery(d: Omit<Delivery, 'id' | 'at'>): void {
    this.q('INSERT INTO hub_deliveries (hook_id, repo, attempt, status, response_code, error, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(d.hookId, d.repo, d.attempt, d.status, d.responseCode, d.error, now());
  }

  deliveries(repo: string, limit = 50): Delivery[] {
    return (this.q('SELECT * FROM hub_deliveries WHERE repo = ? ORDER BY id DESC LIMIT ?').all(repo, limit) as { id: number; hook_id: number; repo: string; attempt: number; status: Delivery['status']; response_code: number | null; error: string | null; at: number }[])
      .map((d) => ({ id: d.id, hookId: d.hook_id, repo: d.repo, attempt: d.attempt, status: d.status, responseCode: d.response_code, error: d.error, at: d.at }));
  }

  // ---- sessions ------------------------------------------------------------------------------

  createSession(userId: number, ttlMs: number): string {
    const id = randomBytes(32).toString('base64url');
    this.q('INSERT INTO hub_sessions (hash, user_id, expires) VALUES (?, ?, ?)').run(sha256(id), userId, now() + ttlMs);
    this.q('DELETE FROM hub_sessions WHERE expires < ?').run(now());
    return id;
  }

  sessionUser(id: string): User | undefined {
    const r = this.q('SELECT user_id, expires FROM hub_sessions WHERE hash = ?').get(sha256(id)) as { user_id: number; expires: number } | undefined;
    if (!r || r.expires < now()) return undefined;
    return this.userById(r.user_id);
  }

  deleteSession(id: string): void { this.q('DELETE FROM hub_sessions WHERE hash = ?').run(sha256(id)); }
}
