/**
 * Registry credentials as the docker CLI keeps them: config.json "auths" with base64 "user:pass",
 * keyed by registry host (Docker Hub as https://index.docker.io/v1/), and sent to the daemon as the
 * X-Registry-Auth header (base64url JSON).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuthConfig } from '../client/index.js';

export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/** The registry a reference lives on: its first component when it looks like a host, else Docker Hub. */
export function registryOf(ref: string): string {
  const i = ref.indexOf('/');
  if (i < 0) return DOCKER_HUB_SERVER;
  const first = ref.slice(0, i);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return first;
  return DOCKER_HUB_SERVER;
}

/** Normalises a server argument the way docker login stores it (host[:port], Hub kept as its URL). */
export function serverKey(server: string | undefined): string {
  if (!server || /^(https?:\/\/)?(index\.)?docker\.io(\/v1\/?)?$/.test(server) || server === 'registry-1.docker.io') return DOCKER_HUB_SERVER;
  return server.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

function readConfig(dir: string): Record<string, unknown> {
  try { return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>; } catch { return {}; }
}

function writeConfig(dir: string, cfg: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `config.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(cfg, null, '\t'), { mode: 0o600 });
  renameSync(tmp, join(dir, 'config.json'));
}

export function storeCredentials(dir: string, server: string, username: string, password: string): void {
  const cfg = readConfig(dir);
  const auths = (cfg.auths ?? {}) as Record<string, { auth?: string }>;
  auths[server] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  cfg.auths = auths;
  writeConfig(dir, cfg);
}

export function removeCredentials(dir: string, server: string): boolean {
  const cfg = readConfig(dir);
  const auths = (cfg.auths ?? {}) as Record<string, unknown>;
  if (!(server in auths)) return false;
  delete auths[server];
  cfg.auths = auths;
  writeConfig(dir, cfg);
  return true;
}

export function credentialsFor(dir: string, server: string): AuthConfig | undefined {
  const auths = (readConfig(dir).auths ?? {}) as Record<string, { auth?: string; identitytoken?: string }>;
  const entry = auths[server] ?? auths[`https://${server}`] ?? auths[`http://${server}`];
  if (!entry?.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return { username: text.slice(0, i), password: text.slice(i + 1), serveraddress: server };
}

/** The X-Registry-Auth header value for pushing or pulling `ref` ("e30=" = {} when not logged in). */
export function registryAuthHeader(dir: string, ref: string): string {
  const auth = credentialsFor(dir, registryOf(ref));
  if (!auth) return 'e30=';
  // Go's base64.URLEncoding: URL alphabet *with* padding (dockerd rejects unpadded values).
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
