/**
 * Credentials as the docker CLI sends them (X-Registry-Auth: base64url JSON; POST /auth body),
 * and the WWW-Authenticate challenges registries answer with.
 */

export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:password"), the config.json form. */
  auth?: string;
  serveraddress?: string;
  /** Refresh token from an earlier login (OAuth2 grant_type=refresh_token). */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
}

/** Decodes X-Registry-Auth; malformed or missing headers mean "no credentials", as in dockerd. */
export function decodeAuthHeader(header: string | string[] | undefined): AuthConfig {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return {};
  try {
    const json = Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    return normaliseAuthConfig(JSON.parse(json));
  } catch {
    return {};
  }
}

export function normaliseAuthConfig(raw: unknown): AuthConfig {
  if (!raw || typeof raw !== 'object') return {};
  const r = raw as Record<string, unknown>;
  const s = (k: string): string | undefined => (typeof r[k] === 'string' && r[k] !== '' ? r[k] as string : undefined);
  const out: AuthConfig = {
    username: s('username') ?? s('Username'), password: s('password') ?? s('Password'), auth: s('auth') ?? s('Auth'),
    serveraddress: s('serveraddress') ?? s('ServerAddress'), identitytoken: s('identitytoken') ?? s('IdentityToken'),
    registrytoken: s('registrytoken') ?? s('RegistryToken'),
  };
  if (out.auth && !out.username) {
    const decoded = Buffer.from(out.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) { out.username = decoded.slice(0, i); out.password = decoded.slice(i + 1); }
  }
  return out;
}

export function hasCredentials(a: AuthConfig): boolean {
  return Boolean((a.username && a.password !== undefined) || a.identitytoken || a.registrytoken);
}

export interface Challenge { scheme: string; params: Record<string, string> }

/** Parses `Bearer realm="…",service="…",scope="…"` (several challenges may share a header). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const out: Challenge[] = [];
  for (const v of values) {
    const re = /\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)((?:\s*,?\s*[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*))*)/y;
    let m: RegExpExecArray | null;
    while (re.lastIndex < v.length && (m = re.exec(v))) {
      const params: Record<string, string> = {};
      const pre = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = pre.exec(m[2]))) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
      out.push({ scheme: m[1].toLowerCase(), params });
      const rest = v.slice(re.lastIndex);
      const comma = /^\s*,\s*/.exec(rest);
      if (comma) re.lastIndex += comma[0].length;
      if (m[0] === '') break;
    }
  }
  return out;
}
