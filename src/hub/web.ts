/**
 * The Hub's web interface: server-rendered pages over the same store and permissions as the
 * registry. Sessions are random ids in an HttpOnly, SameSite=Lax cookie (Secure under TLS);
 * every POST carries a CSRF token bound to the session (or, before sign-in, to a pre-session
 * cookie) and is refused when the Origin is foreign. A private repository the viewer may not see
 * gets the very same 404 page as one that does not exist.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isValidRepositoryName, isValidTag } from '../registry/index.js';
import { BerthError } from '../errors/index.js';
import type { HubContext } from './server.js';
import type { Repo, Role, TokenScope, User } from './db.js';
import { allowedActions, canSee, clientIp, RateLimitedError, roleOn } from './access.js';
import { html, raw, type Safe } from './html.js';
import { renderMarkdown, summary } from './markdown.js';
import { formatBytes, listTagInfo, timeAgo, type TagInfo } from './images.js';
import { CSS, JS } from './assets.js';

const SESSION_COOKIE = 'hub_session';
const PRE_COOKIE = 'hub_pre';
const SESSION_TTL_MS = 14 * 24 * 3600_000;
const FORM_LIMIT = 64 * 1024;

interface W {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  path: string;
  user?: User;
  /** Session id or pre-session id the CSRF token is bound to. */
  csrfKey: string;
  csrf: string;
  form?: URLSearchParams;
  setCookies: string[];
}

class HttpError extends Error { constructor(readonly status: number, message: string) { super(message); } }

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'forms are sent as application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > FORM_LIMIT) throw new HttpError(413, 'form too large');
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

const FLASH: Record<string, string> = {
  created: 'Repository created.', visibility: 'Visibility changed.', description: 'Description saved.', 'tag-deleted': 'Tag deleted.',
  collaborator: 'Collaborators updated.', webhook: 'Webhooks updated.', 'token-deleted': 'Token revoked.', member: 'Members updated.',
  org: 'Organisation created.', welcome: 'Welcome! Your account is ready.', starred: 'Starred.', unstarred: 'Star removed.',
};

export function createWebHandler(ctx: HubContext): { handle(req: IncomingMessage, res: ServerResponse): Promise<void>; sessionUser(req: IncomingMessage): User | undefined } {
  const { store, storage, options } = ctx;
  const csrfSecret = store.secret('csrf-key');
  const csrfFor = (key: string): string => createHmac('sha256', csrfSecret).update(key).digest('base64url');

  function sessionUser(req: IncomingMessage): User | undefined {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    return id ? store.sessionUser(id) : undefined;
  }

  function cookie(name: string, value: string, maxAgeSec: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSec}${ctx.secure ? '; Secure' : ''}`;
  }

  // ---- responses --------------------------------------------------------------------------------

  function send(w: W, status: number, body: string, type = 'text/html; charset=utf-8', extra: Record<string, string> = {}): void {
    const headers: Record<string, string | string[]> = {
      'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)),
      'Content-Security-Policy': "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin', 'X-Frame-Options': 'DENY',
      'Cache-Control': 'no-store', ...extra,
    };
    if (w.setCookies.length) headers['Set-Cookie'] = w.setCookies;
    w.res.writeHead(status, headers);
    w.res.end(w.req.method === 'HEAD' ? undefined : body);
  }

  function redirect(w: W, to: string): void {
    const headers: Record<string, string | string[]> = { Location: to, 'Content-Length': '0', 'Cache-Control': 'no-store' };
    if (w.setCookies.length) headers['Set-Cookie'] = w.setCookies;
    w.res.writeHead(303, headers);
    w.res.end();
  }

  const csrfField = (w: W): Safe => html`<input type="hidden" name="_csrf" value="${w.csrf}">`;

  function page(w: W, title: string, body: Safe, opts: { status?: number; flash?: { kind: 'ok' | 'error'; text: string } } = {}): void {
    const u = w.user;
    const q = w.path === '/search' ? w.url.searchParams.get('q') ?? '' : '';
    const code = w.url.searchParams.get('ok');
    const flash = opts.flash ?? (code && FLASH[code] ? { kind: 'ok' as const, text: FLASH[code] } : undefined);
    const doc = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · berth Hub</title><link rel="stylesheet" href="/static/hub.css"><script src="/static/hub.js" defer></script></head>
<body><header class="top"><div class="bar">
<a class="brand" href="/"><span class="logo">⚓</span>berth Hub</a>
<form class="search" action="/search" method="get" role="search"><input type="search" name="q" value="${q}" placeholder="Search repositories" aria-label="Search repositories"></form>
<nav class="menu">${u ? html`<a href="/new">New repository</a><a href="/orgs">Organisations</a><a href="/settings/tokens">Access tokens</a>
<a class="who" href="/u/${u.name}">${u.name}</a><form class="inline" method="post" action="/logout">${csrfField(w)}<button class="link" type="submit">Sign out</button></form>`
      : html`<a href="/search">Explore</a>${options.allowSignup ? html`<a href="/signup">Sign up</a>` : ''}<a class="who" href="/login">Sign in</a>`}</nav>
</div></header>
<main>${flash ? html`<div class="flash ${flash.kind}" role="status">${flash.text}</div>` : ''}${body}</main>
<footer>berth Hub · images for everyone, on your own machine</footer></body></html>`;
    send(w, opts.status ?? 200, doc.html);
  }

  function notFound(w: W): void {
    page(w, 'Not found', html`<div class="card empty"><h1>Not found</h1><p>There is nothing here, or you do not have access to it.</p><p><a class="btn" href="/search">Explore repositories</a></p></div>`, { status: 404 });
  }

  function requireUser(w: W): User {
    if (!w.user) throw new HttpError(401, 'sign in first');
    return w.user;
  }

  // ---- fragments --------------------------------------------------------------------------------

  const visBadge = (r: Repo): Safe => html`<span class="badge ${r.visibility}">${r.visibility === 'private' ? 'Private' : 'Public'}</span>`;

  function repoList(repos: Repo[], empty: string): Safe {
    if (repos.length === 0) return html`<div class="card empty">${empty}</div>`;
    return html`<ul class="repos">${repos.map((r) => html`<li><div><a class="name" href="/r/${r.name}">${r.name}</a> ${visBadge(r)}
<div class="desc">${summary(r.description) || 'No description'}</div></div>
<div class="stats"><span title="stars">★ ${r.starCount}</span><span title="pulls">↓ ${r.pullCount}</span><span>${timeAgo(r.updated)}</span></div></li>`)}</ul>`;
  }

  const host = (w: W): string => new URL(ctx.baseUrl(w.req)).host;

  // ---- pages --------------------------------------------------------------------------------------

  function home(w: W): void {
    const top = store.search('', w.user, 12, 0);
    page(w, 'Home', html`<section class="hero"><h1>Find, share and run container images</h1>
<p>Public images anyone can pull; private ones only your team can see.</p>
<form action="/search" method="get"><input type="search" name="q" placeholder="Search for images, e.g. busybox" aria-label="Search"><button class="btn" type="submit">Search</button></form></section>
<h2>${w.user ? 'Repositories you can see' : 'Popular repositories'}</h2>${repoList(top.repos, 'No repositories yet. Push one with docker push.')}`);
  }

  function search(w: W): void {
    const q = (w.url.searchParams.get('q') ?? '').trim().slice(0, 200);
    const pageNo = Math.max(1, Math.min(10_000, Math.floor(Number(w.url.searchParams.get('page') ?? 1)) || 1));
    const size = 25;
    const r = store.search(q, w.user, size, (pageNo - 1) * size);
    const pages = Math.max(1, Math.ceil(r.total / size));
    const link = (p: number): string => `/search?q=${encodeURIComponent(q)}&page=${p}`;
    page(w, q ? `Search: ${q}` : 'Explore', html`<h1>${q ? html`Results for “${q}”` : 'Explore repositories'}</h1>
<p class="muted">${r.total} ${r.total === 1 ? 'repository' : 'repositories'}</p>
${repoList(r.repos, q ? 'No repositories match your search.' : 'No repositories yet.')}
${pages > 1 ? html`<div class="pager">${pageNo > 1 ? html`<a class="btn secondary" href="${link(pageNo - 1)}">← Previous</a>` : ''}<span class="muted">Page ${pageNo} of ${pages}</span>${pageNo < pages ? html`<a class="btn secondary" href="${link(pageNo + 1)}">Next →</a>` : ''}</div>` : ''}`);
  }

  function loginPage(w: W, error?: string, status = 200, name = ''): void {
    page(w, 'Sign in', html`<div class="auth card"><h1>Sign in</h1>
<form method="post" action="/login">${csrfField(w)}<input type="hidden" name="next" value="${safeNext(w.url.searchParams.get('next') ?? w.form?.get('next') ?? '/')}">
<label for="u">User name</label><input id="u" type="text" name="username" autocomplete="username" required value="${name}">
<label for="p">Password</label><input id="p" type="password" name="password" autocomplete="current-password" required>
<p><button class="btn" type="submit">Sign in</button></p></form>
${options.allowSignup ? html`<p class="muted small">New here? <a href="/signup">Create an account</a></p>` : ''}</div>`, { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  const safeNext = (n: string): string => (/^\/(?![/\\])[^\s]*$/.test(n) ? n : '/');

  async function login(w: W): Promise<void> {
    const name = (w.form!.get('username') ?? '').trim();
    const password = w.form!.get('password') ?? '';
    try {
      const c = await ctx.credentials.check(name, password, clientIp(w.req));
      if (!c || c.scope !== 'password') { loginPage(w, 'Incorrect user name or password.', 401, name); return; }
      const id = store.createSession(c.user.id, SESSION_TTL_MS);
      w.setCookies.push(cookie(SESSION_COOKIE, id, SESSION_TTL_MS / 1000));
      redirect(w, safeNext(w.form!.get('next') ?? '/'));
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      w.res.setHeader('Retry-After', String(err.retryAfterSec));
      loginPage(w, 'Too many failed sign-in attempts. Wait a few minutes and try again.', 429, name);
    }
  }

  function logout(w: W): void {
    const id = parseCookies(w.req.headers.cookie).get(SESSION_COOKIE);
    if (id) store.deleteSession(id);
    w.setCookies.push(cookie(SESSION_COOKIE, '', 0));
    redirect(w, '/');
  }

  function signupPage(w: W, error?: string, status = 200): void {
    page(w, 'Sign up', html`<div class="auth card"><h1>Create an account</h1>
<form method="post" action="/signup">${csrfField(w)}
<label for="u">User name</label><input id="u" type="text" name="username" autocomplete="username" required pattern="[a-z0-9]+([._-][a-z0-9]+)*" value="${w.form?.get('username') ?? ''}">
<p class="muted small">Lower-case letters and digits; it becomes your namespace (name/repository).</p>
<label for="p">Password</label><input id="p" type="password" name="password" autocomplete="new-password" minlength="8" required>
<p><button class="btn" type="submit">Create account</button></p></form></div>`, { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  async function signup(w: W): Promise<void> {
    try {
      const u = await store.createUser((w.form!.get('username') ?? '').trim(), w.form!.get('password') ?? '');
      const id = store.createSession(u.id, SESSION_TTL_MS);
      w.setCookies.push(cookie(SESSION_COOKIE, id, SESSION_TTL_MS / 1000));
      redirect(w, '/?ok=welcome');
    } catch (err) {
      if (err instanceof BerthError && err.status < 500) { signupPage(w, err.message, err.status); return; }
      throw err;
    }
  }

  function writableNamespaces(u: User): string[] {
    return [u.name, ...store.orgsOf(u.id).filter((o) => o.role !== 'read').map((o) => o.org)];
  }

  function newRepoPage(w: W, error?: string, status = 200): void {
    const u = requireUser(w);
    const f = w.form;
    const defVis = f?.get('visibility') ?? options.defaultVisibility ?? 'private';
    page(w, 'New repository', html`<h1>Create a repository</h1><div class="card"><form method="post" action="/new">${csrfField(w)}
<div class="row"><div><label for="ns">Namespace</label><select id="ns" name="namespace">${writableNamespaces(u).map((n) => html`<option${f?.get('namespace') === n ? raw(' selected') : ''}>${n}</option>`)}</select></div>
<div><label for="n">Repository name</label><input id="n" type="text" name="name" required value="${f?.get('name') ?? ''}" placeholder="my-app"></div></div>
<label>Visibility</label>
<label class="radio"><input type="radio" name="visibility" value="public"${defVis === 'public' ? raw(' checked') : ''}> Public — anyone can pull</label>
<label class="radio"><input type="radio" name="visibility" value="private"${defVis !== 'public' ? raw(' checked') : ''}> Private — only you and people you allow</label>
<label for="d">Description (Markdown)</label><textarea id="d" name="description">${f?.get('description') ?? ''}</textarea>
<p><button class="btn" type="submit">Create</button></p></form></div>`, { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  function createRepo(w: W): void {
    const u = requireUser(w);
    const ns = w.form!.get('namespace') ?? '';
    const name = `${ns}/${(w.form!.get('name') ?? '').trim()}`;
    const vis = w.form!.get('visibility') === 'public' ? 'public' : 'private';
    if (!writableNamespaces(u).includes(ns)) { newRepoPage(w, 'You cannot create repositories in that namespace.', 403); return; }
    if (!isValidRepositoryName(name)) { newRepoPage(w, 'Repository names use lower-case letters, digits and separators (. _ -), as in my-app.', 400); return; }
    const description = w.form!.get('description') ?? '';
    if (description.length > 25_000) { newRepoPage(w, 'Descriptions are at most 25000 characters.', 400); return; }
    if (!store.ensureRepo(name, vis, description)) { newRepoPage(w, 'That repository already exists.', 409); return; }
    redirect(w, `/r/${name}?ok=created`);
  }

  function tagRows(w: W, repo: Repo, tags: TagInfo[], canDelete: boolean): Safe {
    if (tags.length === 0) return html`<div class="empty">No tags yet. Push one:<div class="pull mt10"><code>docker push ${host(w)}/${repo.name}:latest</code></div></div>`;
    return html`<div class="table-wrap"><table><thead><tr><th>Tag</th><th>Digest</th><th>OS/Arch</th><th>Size</th><th>Pushed</th>${canDelete ? html`<th></th>` : ''}</tr></thead><tbody>
${tags.map((t) => html`<tr><td><strong>${t.tag}</strong><details><summary>${plural(t.platforms.reduce((n, p) => n + p.layers.length, 0), 'layer')}</summary>${t.platforms.map((p) => html`<div class="small muted">${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}</div><ol class="layers">${p.layers.map((l) => html`<li><span class="mono">${l.digest.slice(0, 19)}</span> · ${formatBytes(l.size)}${l.createdBy ? html` · <span class="muted">${l.createdBy.slice(0, 120)}</span>` : ''}</li>`)}</ol>`)}</details></td>
<td><code title="${t.digest}">${t.digest.slice(0, 19)}…</code></td>
<td>${t.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`).join(', ') || '—'}</td>
<td>${formatBytes(t.size)}</td><td title="${new Date(t.pushed).toISOString()}">${timeAgo(t.pushed)}</td>
${canDelete ? html`<td><form method="post" action="/r/${repo.name}/-/delete-tag" data-confirm="Delete tag ${t.tag}?">${csrfField(w)}<input type="hidden" name="tag" value="${t.tag}"><button class="btn danger small" type="submit">Delete</button></form></td>` : ''}</tr>`)}
</tbody></table></div>`;
  }

  async function repoPage(w: W, repo: Repo): Promise<void> {
    const actions = allowedActions(store, w.user, repo.name);
    const role = roleOn(store, w.user, repo.name);
    const tags = await listTagInfo(storage, repo.name);
    const firstTag = tags.find((t) => t.tag === 'latest')?.tag ?? tags[0]?.tag ?? 'latest';
    const pullCmd = `docker pull ${host(w)}/${repo.name}${firstTag === 'latest' ? '' : `:${firstTag}`}`;
    const starred = w.user ? store.starred(repo.name, w.user.id) : false;
    page(w, repo.name, html`<div class="row center"><div class="grow"><h1><a href="/u/${repo.namespace}">${repo.namespace}</a> / ${repo.name.slice(repo.namespace.length + 1)} ${visBadge(repo)}</h1>
<div class="muted small">Updated ${timeAgo(repo.updated)} · ${plural(repo.pullCount, 'pull')} · ${plural(repo.starCount, 'star')}</div></div>
<div class="actions">${w.user ? html`<form class="inline" method="post" action="/r/${repo.name}/-/star">${csrfField(w)}<input type="hidden" name="star" value="${starred ? '0' : '1'}"><button class="btn secondary star" type="submit">${starred ? '★ Starred' : '☆ Star'}</button></form>` : ''}
${role === 'owner' ? html`<a class="btn secondary" href="/r/${repo.name}/-/settings">Settings</a>` : ''}</div></div>
<div class="grid mt18"><div>
<div class="card"><h2 class="mt0">Tags</h2>${tagRows(w, repo, tags, actions.includes('delete'))}</div>
<div class="card"><h2 class="mt0">Overview</h2><div class="md">${repo.description ? raw(renderMarkdown(repo.description)) : html`<p class="muted">No description yet.</p>`}</div></div>
</div><aside>
<div class="card"><h3 class="mt0">Pull this image</h3><div class="pull"><code id="pull-cmd">${pullCmd}</code><button type="button" data-copy="${pullCmd}" aria-label="Copy pull command">Copy</button></div>
${actions.includes('push') ? html`<p class="small muted mb0">Push: <code class="mono">docker push ${host(w)}/${repo.name}:TAG</code></p>` : ''}</div>
<div class="card small"><div><strong>Visibility:</strong> ${repo.visibility}</div><div><strong>Created:</strong> ${new Date(repo.created).toISOString().slice(0, 10)}</div>
${role ? html`<div><strong>Your access:</strong> ${role}</div>` : ''}</div></aside></div>`);
  }

  function settingsPage(w: W, repo: Repo, error?: string, status = 200): void {
    const hooks = store.webhooks(repo.name);
    const deliveries = store.deliveries(repo.name, 30);
    const a = `/r/${repo.name}/-`;
    page(w, `${repo.name} settings`, html`<h1><a href="/r/${repo.name}">${repo.name}</a> · Settings</h1>
<div class="card"><h2 class="mt0">Visibility</h2><p>This repository is <strong id="visibility">${repo.visibility}</strong>. ${repo.visibility === 'private' ? 'Only you and the people you allow can see and pull it.' : 'Anyone can find and pull it.'}</p>
<form method="post" action="${a}/visibility" data-confirm="Make this repository ${repo.visibility === 'private' ? 'public' : 'private'}?">${csrfField(w)}<input type="hidden" name="visibility" value="${repo.visibility === 'private' ? 'public' : 'private'}">
<button class="btn ${repo.visibility === 'private' ? '' : 'danger'}" type="submit">Make ${repo.visibility === 'private' ? 'public' : 'private'}</button></form></div>
<div class="card"><h2 class="mt0">Description</h2><form method="post" action="${a}/description">${csrfField(w)}<textarea name="description" aria-label="Description">${repo.description}</textarea><p><button class="btn" type="submit">Save description</button></p></form></div>
<div class="card"><h2 class="mt0">Collaborators</h2>
<table><tbody>${store.collaborators(repo.name).map((c) => html`<tr><td>${c.name}</td><td>${c.role}</td><td><form class="inline" method="post" action="${a}/collaborators/remove">${csrfField(w)}<input type="hidden" name="user" value="${c.name}"><button class="btn danger small" type="submit">Remove</button></form></td></tr>`)}</tbody></table>
<form method="post" action="${a}/collaborators">${csrfField(w)}<div class="row"><div><label for="cu">User</label><input id="cu" type="text" name="user" required></div>
<div><label for="cr">Role</label><select id="cr" name="role"><option value="read">read</option><option value="write">write</option><option value="owner">owner</option></select></div><button class="btn" type="submit">Add</button></div></form></div>
<div class="card"><h2 class="mt0">Webhooks</h2><p class="muted small">Each push POSTs a JSON payload (Docker Hub's shape) to these URLs; failures are retried with back-off.</p>
<table><tbody>${hooks.map((h) => html`<tr><td>${h.name}</td><td class="mono">${h.url}</td><td><form class="inline" method="post" action="${a}/webhooks/delete">${csrfField(w)}<input type="hidden" name="id" value="${h.id}"><button class="btn danger small" type="submit">Remove</button></form></td></tr>`)}</tbody></table>
<form method="post" action="${a}/webhooks">${csrfField(w)}<div class="row"><div><label for="hn">Name</label><input id="hn" type="text" name="name"></div><div><label for="hu">URL</label><input id="hu" type="url" name="url" required placeholder="https://ci.example.com/hook"></div><button class="btn" type="submit">Add webhook</button></div></form>
<h3>Recent deliveries</h3>${deliveries.length === 0 ? html`<p class="muted small">None yet.</p>` : html`<div class="table-wrap"><table id="deliveries"><thead><tr><th>When</th><th>Hook</th><th>Attempt</th><th>Result</th></tr></thead><tbody>
${deliveries.map((d) => html`<tr><td>${new Date(d.at).toISOString().replace('T', ' ').slice(0, 19)}</td><td>${hooks.find((h) => h.id === d.hookId)?.name ?? `#${d.hookId}`}</td><td>${d.attempt}</td><td><span class="badge ${d.status === 'ok' ? 'public' : 'private'}">${d.status}</span> ${d.responseCode ?? ''} ${d.error ?? ''}</td></tr>`)}</tbody></table></div>`}</div>`,
    { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  async function repoPost(w: W, repo: Repo, action: string): Promise<void> {
    const u = requireUser(w);
    const f = w.form!;
    const a = `/r/${repo.name}`;
    if (action === 'star') { store.setStar(repo.name, u.id, f.get('star') !== '0'); redirect(w, `${a}?ok=${f.get('star') !== '0' ? 'starred' : 'unstarred'}`); return; }
    const acts = allowedActions(store, u, repo.name);
    if (action === 'delete-tag') {
      if (!acts.includes('delete')) throw new HttpError(403, 'you may not delete tags here');
      const tag = f.get('tag') ?? '';
      if (!isValidTag(tag) || !(await storage.deleteTag(repo.name, tag))) throw new HttpError(404, 'no such tag');
      store.touchRepo(repo.name);
      redirect(w, `${a}?ok=tag-deleted`);
      return;
    }
    if (roleOn(store, u, repo.name) !== 'owner') throw new HttpError(403, 'only owners change settings');
    try {
      switch (action) {
        case 'visibility': store.setVisibility(repo.name, f.get('visibility') === 'public' ? 'public' : 'private'); redirect(w, `${a}/-/settings?ok=visibility`); return;
        case 'description': store.setDescription(repo.name, f.get('description') ?? ''); redirect(w, `${a}?ok=description`); return;
        case 'collaborators': store.setCollaborator(repo.name, (f.get('user') ?? '').trim(), (f.get('role') ?? 'read') as Role); redirect(w, `${a}/-/settings?ok=collaborator`); return;
        case 'collaborators/remove': store.removeCollaborator(repo.name, f.get('user') ?? ''); redirect(w, `${a}/-/settings?ok=collaborator`); return;
        case 'webhooks': store.addWebhook(repo.name, f.get('name') ?? '', f.get('url') ?? ''); redirect(w, `${a}/-/settings?ok=webhook`); return;
        case 'webhooks/delete': store.deleteWebhook(repo.name, Number(f.get('id'))); redirect(w, `${a}/-/settings?ok=webhook`); return;
        default: throw new HttpError(404, 'not found');
      }
    } catch (err) {
      if (err instanceof BerthError && err.status < 500) { settingsPage(w, store.repo(repo.name)!, err.message, err.status); return; }
      throw err;
    }
  }

  function namespacePage(w: W, ns: string): void {
    const isOrg = store.isOrg(ns);
    if (!isOrg && !store.user(ns)) { notFound(w); return; }
    const repos = store.reposInNamespace(ns).filter((r) => canSee(store, w.user, r.name));
    page(w, ns, html`<h1>${ns}</h1><p class="muted">${isOrg ? html`Organisation · <a href="/orgs/${ns}">members</a>` : 'User'}</p>${repoList(repos, 'No repositories to show.')}`);
  }

  function tokensPage(w: W, created?: { secret: string; name: string }, error?: string, status = 200): void {
    const u = requireUser(w);
    const tokens = store.tokens(u.id);
    page(w, 'Access tokens', html`<h1>Access tokens</h1><p class="muted">Use a token instead of your password: <code class="mono">docker login ${host(w)} -u ${u.name}</code> and paste the token.</p>
${created ? html`<div class="card"><h3 class="mt0">Token “${created.name}” created</h3><p>Copy it now: it will not be shown again.</p><div class="secret" id="new-token">${created.secret}</div><p><button class="btn secondary small" type="button" data-copy="${created.secret}">Copy token</button></p></div>` : ''}
<div class="card"><h2 class="mt0">New token</h2><form method="post" action="/settings/tokens">${csrfField(w)}<div class="row"><div><label for="tn">Description</label><input id="tn" type="text" name="name" required placeholder="CI on my laptop"></div>
<div><label for="ts">Scope</label><select id="ts" name="scope"><option value="read">Read-only (pull)</option><option value="read-write" selected>Read &amp; write (pull, push)</option><option value="delete">Read, write &amp; delete</option></select></div>
<button class="btn" type="submit">Generate</button></div></form></div>
<div class="card"><h2 class="mt0">Your tokens</h2>${tokens.length === 0 ? html`<p class="muted">No tokens yet.</p>` : html`<div class="table-wrap"><table><thead><tr><th>Description</th><th>Scope</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
${tokens.map((t) => html`<tr><td>${t.name}</td><td>${t.scope}</td><td>${timeAgo(t.created)}</td><td>${t.lastUsed ? timeAgo(t.lastUsed) : 'never'}</td><td><form class="inline" method="post" action="/settings/tokens/delete" data-confirm="Revoke this token?">${csrfField(w)}<input type="hidden" name="id" value="${t.id}"><button class="btn danger small" type="submit">Revoke</button></form></td></tr>`)}
</tbody></table></div>`}</div>`, { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  function orgsPage(w: W, error?: string, status = 200): void {
    const u = requireUser(w);
    const orgs = store.orgsOf(u.id);
    page(w, 'Organisations', html`<h1>Organisations</h1>
<div class="card">${orgs.length === 0 ? html`<p class="muted">You are not in any organisation yet.</p>` : html`<table><tbody>${orgs.map((o) => html`<tr><td><a href="/orgs/${o.org}">${o.org}</a></td><td>${o.role}</td></tr>`)}</tbody></table>`}</div>
<div class="card"><h2 class="mt0">New organisation</h2><form method="post" action="/orgs">${csrfField(w)}<div class="row"><div><label for="on">Name</label><input id="on" type="text" name="name" required></div><button class="btn" type="submit">Create</button></div></form></div>`,
    { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  function orgPage(w: W, org: string, error?: string, status = 200): void {
    const u = requireUser(w);
    const role = u.admin ? 'owner' : store.memberRole(org, u.id);
    if (!store.isOrg(org) || !role) { notFound(w); return; }
    const owner = role === 'owner';
    page(w, org, html`<h1>${org}</h1><p class="muted">Your role: ${role} · <a href="/u/${org}">repositories</a></p>
<div class="card"><h2 class="mt0">Members</h2><table><thead><tr><th>User</th><th>Role</th><th></th></tr></thead><tbody>${store.members(org).map((m) => html`<tr><td>${m.name}</td><td>${m.role}</td><td>${owner ? html`<form class="inline" method="post" action="/orgs/${org}/members/remove">${csrfField(w)}<input type="hidden" name="user" value="${m.name}"><button class="btn danger small" type="submit">Remove</button></form>` : ''}</td></tr>`)}</tbody></table>
${owner ? html`<form method="post" action="/orgs/${org}/members">${csrfField(w)}<div class="row"><div><label for="mu">User</label><input id="mu" type="text" name="user" required></div>
<div><label for="mr">Role</label><select id="mr" name="role"><option value="read">read</option><option value="write">write</option><option value="owner">owner</option></select></div><button class="btn" type="submit">Add or change</button></div></form>` : ''}</div>`,
    { status, flash: error ? { kind: 'error', text: error } : undefined });
  }

  // ---- routing ------------------------------------------------------------------------------------

  async function route(w: W): Promise<void> {
    const { path } = w;
    const method = w.req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    if (path === '/static/hub.css' && get) { send(w, 200, CSS, 'text/css; charset=utf-8', { 'Cache-Control': 'public, max-age=3600' }); return; }
    if (path === '/static/hub.js' && get) { send(w, 200, JS, 'text/javascript; charset=utf-8', { 'Cache-Control': 'public, max-age=3600' }); return; }
    if (path === '/favicon.ico') { w.res.writeHead(204); w.res.end(); return; }
    if (!get && method !== 'POST') throw new HttpError(405, 'method not allowed');
    if (method === 'POST') {
      // CSRF: the form's token must be the one bound to this browser's session, and a sent Origin must be ours.
      w.form = await readForm(w.req);
      const origin = w.req.headers.origin;
      const sent = Buffer.from(w.form.get('_csrf') ?? '');
      const want = Buffer.from(w.csrf);
      if ((origin && origin !== ctx.baseUrl(w.req)) || sent.length !== want.length || !timingSafeEqual(sent, want)) {
        throw new HttpError(403, 'This form has expired or did not come from this site. Reload the page and try again.');
      }
    }
    if (path === '/' && get) return home(w);
    if (path === '/search' && get) return search(w);
    if (path === '/login') return get ? loginPage(w) : login(w);
    if (path === '/logout' && !get) return logout(w);
    if (path === '/signup') {
      if (!options.allowSignup) return notFound(w);
      return get ? signupPage(w) : signup(w);
    }
    if (!w.user && get && ['/new', '/settings/tokens', '/orgs'].includes(path)) { redirect(w, `/login?next=${encodeURIComponent(path)}`); return; }
    if (path === '/new') return get ? newRepoPage(w) : createRepo(w);
    if (path === '/settings/tokens') {
      if (get) return tokensPage(w);
      const u = requireUser(w);
      try {
        const t = store.createToken(u.id, w.form!.get('name') ?? '', (w.form!.get('scope') ?? 'read') as TokenScope);
        return tokensPage(w, { secret: t.secret, name: t.token.name });
      } catch (err) {
        if (err instanceof BerthError && err.status < 500) return tokensPage(w, undefined, err.message, err.status);
        throw err;
      }
    }
    if (path === '/settings/tokens/delete' && !get) { store.deleteToken(requireUser(w).id, Number(w.form!.get('id'))); redirect(w, '/settings/tokens?ok=token-deleted'); return; }
    if (path === '/orgs') {
      if (get) return orgsPage(w);
      const u = requireUser(w);
      try { store.createOrg((w.form!.get('name') ?? '').trim(), u); } catch (err) {
        if (err instanceof BerthError && err.status < 500) return orgsPage(w, err.message, err.status);
        throw err;
      }
      redirect(w, `/orgs/${w.form!.get('name')!.trim()}?ok=org`);
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/orgs\/([a-z0-9._-]+)(\/members(?:\/remove)?)?$/.exec(path))) {
      const org = m[1];
      if (get && !m[2]) return orgPage(w, org);
      if (get) return notFound(w);
      const u = requireUser(w);
      if (!u.admin && store.memberRole(org, u.id) !== 'owner') return notFound(w);
      try {
        if (m[2] === '/members') store.setMember(org, (w.form!.get('user') ?? '').trim(), (w.form!.get('role') ?? 'read') as Role);
        else store.removeMember(org, w.form!.get('user') ?? '');
      } catch (err) {
        if (err instanceof BerthError && err.status < 500) return orgPage(w, org, err.message, err.status);
        throw err;
      }
      redirect(w, `/orgs/${org}?ok=member`);
      return;
    }
    if ((m = /^\/u\/([a-z0-9._-]+)$/.exec(path)) && get) return namespacePage(w, m[1]);
    if ((m = /^\/r\/(.+?)(?:\/-\/(.+))?$/.exec(path))) {
      let name: string;
      try { name = decodeURIComponent(m[1]); } catch { return notFound(w); }
      const sub = m[2];
      const repo = isValidRepositoryName(name) ? store.repo(name) : undefined;
      if (!repo || !canSee(store, w.user, name)) return notFound(w);
      if (!sub && get) return repoPage(w, repo);
      if (sub === 'settings' && get) {
        if (roleOn(store, w.user, name) !== 'owner') return notFound(w);
        return settingsPage(w, repo);
      }
      if (sub && !get) return repoPost(w, repo, sub);
    }
    notFound(w);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const cookies = parseCookies(req.headers.cookie);
    const w: W = { req, res, url, path: url.pathname, csrfKey: '', csrf: '', setCookies: [] };
    const sid = cookies.get(SESSION_COOKIE);
    w.user = sid ? store.sessionUser(sid) : undefined;
    if (w.user && sid) w.csrfKey = `s:${sid}`;
    else {
      let pre = cookies.get(PRE_COOKIE);
      if ((!pre || !/^[A-Za-z0-9_-]{20,64}$/.test(pre)) && !w.path.startsWith('/static/')) {
        pre = randomBytes(18).toString('base64url');
        w.setCookies.push(cookie(PRE_COOKIE, pre, 24 * 3600));
      }
      w.csrfKey = `p:${pre ?? ''}`;
    }
    w.csrf = csrfFor(w.csrfKey);
    try {
      await route(w);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (res.headersSent) { res.destroy(); return; }
      if (err.status === 401) { redirect(w, `/login?next=${encodeURIComponent(w.path)}`); return; }
      page(w, 'Error', html`<div class="card empty"><h1>${err.status === 403 ? 'Not allowed' : 'Something went wrong'}</h1><p>${err.message}</p><p><a class="btn secondary" href="/">Home</a></p></div>`, { status: err.status });
    }
  }

  return { handle, sessionUser };
}
