/**
 * Shared by the Hub's integration tests: runs bin/berth-hub as its own process on a free loopback
 * port with a temp data folder, creates users through the admin command, pushes small images over
 * the registry API (token flow, as docker does), and drives the web interface with a cookie jar.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const distDir = fileURLToPath(new URL('../..', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const hubBin = join(repoRoot, 'bin', 'berth-hub');

export interface SpawnedHub {
  url: string;
  /** host:port, as in image references */
  address: string;
  data: string;
  proc: ChildProcess;
  stderr: () => string;
  /** Runs an admin command (`user create …`) on the same data dir. */
  admin(args: string[], stdin?: string): string;
  createUser(name: string, password: string, admin?: boolean): void;
  stop(): Promise<void>;
}

export async function spawnHub(extraArgs: string[] = [], opts: { data?: string; keepData?: boolean } = {}): Promise<SpawnedHub> {
  const data = opts.data ?? mkdtempSync(join(tmpdir(), 'berth-hub-'));
  const env = { ...process.env, BERTH_DIST: distDir };
  const admin = (args: string[], stdin?: string): string =>
    execFileSync(process.execPath, [hubBin, ...args, '--data', data], { env, input: stdin ?? '', encoding: 'utf8', timeout: 30_000 });
  const proc = spawn(process.execPath, [hubBin, 'serve', '--data', data, '--listen', '127.0.0.1:0', ...extraArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start: ${err}`)), 20_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`hub exited ${code}: ${err}`)); });
  });
  return {
    url, address: new URL(url).host, data, proc, stderr: () => err, admin,
    createUser: (name, password, isAdmin = false) => { admin(['user', 'create', name, ...(isAdmin ? ['--admin'] : [])], `${password}\n`); },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!opts.keepData) rmSync(data, { recursive: true, force: true });
    },
  };
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Asks the token endpoint for scopes, as docker does; returns the token (or throws with the status). */
export async function getToken(hub: SpawnedHub, scopes: string[], creds?: { user: string; password: string }): Promise<string> {
  const q = new URLSearchParams({ service: 'berth-hub' });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${hub.url}/token?${q}`, { headers: creds ? { Authorization: basic(creds.user, creds.password) } : {} });
  if (res.status !== 200) throw Object.assign(new Error(`token: HTTP ${res.status}`), { status: res.status });
  return ((await res.json()) as { token: string }).token;
}

/** Claims of a token (unverified), to see what was granted. */
export function tokenAccess(token: string): { type: string; name: string; actions: string[] }[] {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { access: { type: string; name: string; actions: string[] }[] }).access;
}

export interface PushedImage { digest: string; layerDigest: string; configDigest: string }

/**
 * Pushes a tiny image (one layer, one config) to repo:tag with the given credentials, over the
 * registry API with the token flow. Returns the manifest digest; throws with the HTTP status on refusal.
 */
export async function pushImage(hub: SpawnedHub, repo: string, tag: string, creds?: { user: string; password: string }, seed = repo, history: unknown = [{ created_by: `ADD ${seed} /` }]): Promise<PushedImage> {
  const token = await getToken(hub, [`repository:${repo}:pull,push`], creds);
  const auth = { Authorization: `Bearer ${token}` };
  const layer = Buffer.from(`layer of ${seed}:${tag}\n`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(layer)] }, history }));
  for (const blob of [layer, config]) {
    const r = await fetch(`${hub.url}/v2/${repo}/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/octet-stream' }, body: blob });
    await r.arrayBuffer();
    if (r.status !== 201) throw Object.assign(new Error(`blob upload: HTTP ${r.status}`), { status: r.status });
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: sha(layer) }],
  }));
  const r = await fetch(`${hub.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { ...auth, 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }, body: manifest });
  await r.arrayBuffer();
  if (r.status !== 201) throw Object.assign(new Error(`manifest put: HTTP ${r.status}`), { status: r.status });
  return { digest: sha(manifest), layerDigest: sha(layer), configDigest: sha(config) };
}

/** Fetches a registry path the way docker does: challenge, token for the scope, then the request with it. */
export async function registryGet(hub: SpawnedHub, path: string, scope: string, creds?: { user: string; password: string }, method = 'GET'):
  Promise<{ status: number; body: string; headers: Headers }> {
  const token = await getToken(hub, [scope], creds);
  const r = await fetch(`${hub.url}${path}`, { method, headers: { Authorization: `Bearer ${token}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

/** A browser-like web client: keeps cookies, reads CSRF tokens from pages, posts forms. */
export class WebClient {
  readonly cookies = new Map<string, string>();
  lastSetCookies: string[] = [];
  constructor(readonly hub: SpawnedHub) {}

  private store(res: Response): void {
    this.lastSetCookies = res.headers.getSetCookie();
    for (const c of this.lastSetCookies) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (value === '' || /Max-Age=0/.test(c)) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): string { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }

  async get(path: string): Promise<{ status: number; body: string; headers: Headers }> {
    const res = await fetch(`${this.hub.url}${path}`, { headers: { Cookie: this.cookieHeader() }, redirect: 'manual' });
    this.store(res);
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  /** The CSRF token in a page's forms. */
  static csrf(body: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(body);
    if (!m) throw new Error('no CSRF token on the page');
    return m[1];
  }

  /** Posts a form; `csrf: true` fetches `from` first and uses its token. */
  async post(path: string, fields: Record<string, string>, opts: { from?: string; csrf?: string | false; origin?: string } = {}): Promise<{ status: number; body: string; headers: Headers; location: string | null }> {
    const form = new URLSearchParams(fields);
    if (opts.csrf !== false) form.set('_csrf', opts.csrf ?? WebClient.csrf((await this.get(opts.from ?? path)).body));
    const headers: Record<string, string> = { Cookie: this.cookieHeader(), 'Content-Type': 'application/x-www-form-urlencoded' };
    if (opts.origin) headers.Origin = opts.origin;
    const res = await fetch(`${this.hub.url}${path}`, { method: 'POST', headers, body: form.toString(), redirect: 'manual' });
    this.store(res);
    return { status: res.status, body: await res.text(), headers: res.headers, location: res.headers.get('location') };
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.post('/login', { username: user, password }, { from: '/login' });
    if (r.status !== 303) throw new Error(`login failed: HTTP ${r.status}`);
  }
}
