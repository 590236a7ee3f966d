/**
 * The registry's YAML configuration file and its translation into RegistryOptions.
 *
 *   listen: 127.0.0.1:5000
 *   storage: /var/lib/berth-registry
 *   tls: { certificate: cert.pem, key: key.pem }
 *   delete: { enabled: true }
 *   uploads: { expiry: 86400, maxBlobSize: 10737418240 }   # seconds, bytes
 *   auth:
 *     htpasswd: { path: users.htpasswd, realm: berth-registry }
 *     token:                      # Docker bearer-token flow; wins over htpasswd for registry requests
 *       realm: http://127.0.0.1:5000/token
 *       service: berth-registry
 *       issuer: berth-registry
 *       alg: HS256                # or ES256 / RS256
 *       secret: "…"               # HS256 (or secretFile: path)
 *       publicKey: pub.pem        # ES256/RS256 verification
 *       privateKey: key.pem       # ES256/RS256 signing, when this process issues tokens
 *       issue: { path: /token, ttl: 300 }   # serve the token endpoint here, checking htpasswd users
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import type { TokenAlgorithm, TokenKey } from './auth.js';

export interface RegistryConfig {
  listen?: string;
  storage?: string;
  tls?: { certificate?: string; key?: string };
  delete?: { enabled?: boolean };
  uploads?: { expiry?: number; maxBlobSize?: number };
  /** Processes serving requests (`serve --workers`); default one per CPU. */
  workers?: number;
  auth?: {
    htpasswd?: { path: string; realm?: string };
    token?: {
      realm: string; service: string; issuer: string; alg?: TokenAlgorithm;
      secret?: string; secretFile?: string; publicKey?: string; privateKey?: string;
      issue?: { path?: string; ttl?: number };
    };
  };
}

/** The parts of a distribution (docker-registry) config.yml that berth understands. */
interface DistributionConfig {
  version?: string | number;
  storage?: { filesystem?: { rootdirectory?: string }; delete?: { enabled?: boolean } };
  http?: { addr?: string; tls?: { certificate?: string; key?: string } };
  auth?: {
    htpasswd?: { path: string; realm?: string };
    token?: { realm: string; service: string; issuer: string; rootcertbundle?: string };
  };
}

/**
 * Translates a docker-registry (distribution) config file, so berth-registry can stand in for
 * docker-registry unchanged (`berth-registry serve config.yml`).
 */
function fromDistribution(d: DistributionConfig): RegistryConfig {
  const cfg: RegistryConfig = {
    listen: d.http?.addr,
    storage: d.storage?.filesystem?.rootdirectory,
    delete: { enabled: d.storage?.delete?.enabled ?? false },
  };
  if (d.http?.tls?.certificate) cfg.tls = { certificate: d.http.tls.certificate, key: d.http.tls.key };
  if (d.auth?.htpasswd) cfg.auth = { htpasswd: d.auth.htpasswd };
  if (d.auth?.token) {
    const t = d.auth.token;
    let alg: TokenAlgorithm = 'ES256';
    if (t.rootcertbundle) {
      try { alg = createPublicKey(readFileSync(t.rootcertbundle)).asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256'; } catch { /* reported when the key is loaded */ }
    }
    cfg.auth = { ...cfg.auth, token: { realm: t.realm, service: t.service, issuer: t.issuer, alg, publicKey: t.rootcertbundle } };
  }
  return cfg;
}

function isDistributionConfig(v: Record<string, unknown>): boolean {
  const storage = v.storage as Record<string, unknown> | undefined;
  return v.version !== undefined || v.http !== undefined || (typeof storage === 'object' && storage !== null && 'filesystem' in storage);
}

/**
 * Reads a YAML config (berth's format, or docker-registry's config.yml); relative paths in it
 * are resolved against the file's folder.
 */
export function loadConfig(path: string): RegistryConfig {
  const raw = (parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  const cfg = isDistributionConfig(raw) ? fromDistribution(raw as DistributionConfig) : raw as RegistryConfig;
  const dir = dirname(resolve(path));
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(dir, p));
  if (cfg.storage) cfg.storage = abs(cfg.storage);
  if (cfg.tls) { cfg.tls.certificate = abs(cfg.tls.certificate); cfg.tls.key = abs(cfg.tls.key); }
  if (cfg.auth?.htpasswd) cfg.auth.htpasswd.path = abs(cfg.auth.htpasswd.path)!;
  const t = cfg.auth?.token;
  if (t) { t.secretFile = abs(t.secretFile); t.publicKey = abs(t.publicKey); t.privateKey = abs(t.privateKey); }
  return cfg;
}

/** The signing/verification key a token config names. */
export function tokenKeyFromConfig(t: NonNullable<NonNullable<RegistryConfig['auth']>['token']>): TokenKey {
  const alg = t.alg ?? 'HS256';
  if (alg === 'HS256') {
    const secret = t.secret ?? (t.secretFile ? readFileSync(t.secretFile, 'utf8').trim() : undefined);
    if (!secret) throw new Error('auth.token: HS256 needs secret or secretFile');
    return { alg, secret };
  }
  if (!t.publicKey && !t.privateKey) throw new Error(`auth.token: ${alg} needs publicKey (and privateKey to issue tokens)`);
  return {
    alg,
    publicKey: t.publicKey ? readFileSync(t.publicKey, 'utf8') : undefined,
    privateKey: t.privateKey ? readFileSync(t.privateKey, 'utf8') : undefined,
  };
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!m) throw new Error(`invalid listen address ${listen} (want host:port)`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in ${listen}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
