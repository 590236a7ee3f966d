/**
 * Where the daemon is and how to reach it: DOCKER_HOST / -H parsing and TLS material,
 * with the docker CLI's meaning of DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';

/** berthd's default socket (dockerd's is unix:///var/run/docker.sock). */
export const DEFAULT_HOST = 'unix:///run/berth.sock';
/** The newest Engine API version this client speaks; negotiation picks the lower of this and the daemon's. */
export const CLIENT_API_VERSION = '1.50';
/** Assumed when the daemon's /_ping has no API-Version header (as the docker client does). */
export const FALLBACK_API_VERSION = '1.24';

export interface TlsOptions {
  /** Verify the daemon's certificate against `ca` (docker's --tlsverify). */
  verify: boolean;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface EngineEndpoint {
  /** Normalised host string as the user would see it, e.g. unix:///run/berth.sock or tcp://1.2.3.4:2376. */
  host: string;
  protocol: 'unix' | 'tcp' | 'ssh';
  socketPath?: string;
  hostname?: string;
  port?: number;
  /** ssh:// destination user@host (port optional). */
  sshTarget?: string;
  tls?: TlsOptions;
}

export interface EndpointOptions {
  host?: string;
  tls?: boolean;
  tlsVerify?: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Parses a host string like docker does; throws InvalidParameterError for malformed ones. */
export function parseHost(raw: string, useTls = false): EngineEndpoint {
  const host = raw.trim();
  if (host === '') throw new InvalidParameterError('invalid host: empty');
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath) throw new InvalidParameterError(`invalid unix socket path in host "${raw}"`);
    return { host, protocol: 'unix', socketPath };
  }
  if (host.startsWith('/')) return { host: `unix://${host}`, protocol: 'unix', socketPath: host };
  if (host.startsWith('ssh://')) {
    const target = host.slice('ssh://'.length).replace(/\/$/, '');
    if (!target) throw new InvalidParameterError(`invalid ssh host "${raw}"`);
    return { host, protocol: 'ssh', sshTarget: target };
  }
  let rest: string;
  if (host.startsWith('tcp://')) rest = host.slice(6);
  else if (host.startsWith('http://')) rest = host.slice(7);
  else if (host.startsWith('https://')) { rest = host.slice(8); useTls = true; }
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) {
    throw new InvalidParameterError(`Invalid bind address format: ${raw}`);
  } else rest = host;
  rest = rest.replace(/\/+$/, '');
  let hostname: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (v6) { hostname = v6[1]; portText = v6[2]; } else {
    const i = rest.lastIndexOf(':');
    if (i >= 0) { hostname = rest.slice(0, i); portText = rest.slice(i + 1); } else hostname = rest;
  }
  if (!hostname) hostname = '127.0.0.1';
  let port = useTls ? 2376 : 2375;
  if (portText !== undefined && portText !== '') {
    if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new InvalidParameterError(`invalid port in host "${raw}"`);
    }
    port = Number(portText);
  }
  if (/[\s/]/.test(hostname)) throw new InvalidParameterError(`Invalid bind address format: ${raw}`);
  const shown = hostname.includes(':') ? `[${hostname}]` : hostname;
  return { host: `tcp://${shown}:${port}`, protocol: 'tcp', hostname, port };
}

function readMaterial(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new InvalidParameterError(`could not read ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * Resolves the endpoint from explicit options first, then the environment, as the docker CLI does:
 * -H / DOCKER_HOST; --tlsverify / DOCKER_TLS_VERIFY (any non-empty value); certificates from
 * --tlscacert/--tlscert/--tlskey or DOCKER_CERT_PATH/{ca,cert,key}.pem (default ~/.docker).
 */
export function resolveEndpoint(opts: EndpointOptions = {}, env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const tlsVerify = opts.tlsVerify ?? (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '');
  const useTls = tlsVerify || opts.tls === true || opts.tlsCaCert !== undefined || opts.tlsCert !== undefined;
  const endpoint = parseHost(opts.host ?? (env.DOCKER_HOST || DEFAULT_HOST), useTls);
  if (endpoint.protocol !== 'tcp' || !useTls) return endpoint;
  const certDir = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const caPath = opts.tlsCaCert ?? join(certDir, 'ca.pem');
  const certPath = opts.tlsCert ?? join(certDir, 'cert.pem');
  const keyPath = opts.tlsKey ?? join(certDir, 'key.pem');
  const tls: TlsOptions = { verify: tlsVerify };
  if (tlsVerify) tls.ca = readMaterial(caPath, 'CA certificate');
  // A client certificate is optional unless explicitly named.
  const explicitCert = opts.tlsCert !== undefined || opts.tlsKey !== undefined;
  try {
    tls.cert = readMaterial(certPath, 'TLS certificate');
    tls.key = readMaterial(keyPath, 'TLS key');
  } catch (e) {
    // Like the docker CLI: default cert/key files that do not exist are simply not used.
    if (explicitCert) throw e;
    delete tls.cert; delete tls.key;
  }
  if (tls.cert) checkValidity(tls.cert, certPath);
  return { ...endpoint, tls };
}

/** A client certificate outside its validity period would only make the daemon drop the handshake: say why. */
function checkValidity(pem: Buffer, path: string): void {
  let cert: X509Certificate;
  try { cert = new X509Certificate(pem); } catch { throw new InvalidParameterError(`could not parse TLS certificate "${path}"`); }
  const now = Date.now();
  if (Date.parse(cert.validTo) < now) throw new InvalidParameterError(`TLS certificate "${path}" expired on ${new Date(cert.validTo).toISOString()}`);
  if (Date.parse(cert.validFrom) > now) throw new InvalidParameterError(`TLS certificate "${path}" is not valid before ${new Date(cert.validFrom).toISOString()}`);
}
