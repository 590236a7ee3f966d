/**
 * berth's registry: an OCI distribution registry server. Public surface for bin/berth-registry,
 * the Hub (which plugs its own Authorizer in) and tests.
 */
import type { IncomingMessage, Server } from 'node:http';
import { createRegistryHandler, type RegistryEvent } from './server.js';
import { listenHttp } from './listen.js';
export { listenHttp } from './listen.js';
import { RegistryStorage } from './storage.js';
import { HtpasswdAuthorizer, HtpasswdFile, TokenAuthorizer, TokenIssuer, type Authorizer, type GrantPolicy, type TokenKey } from './auth.js';

export { RegistryStorage, MAX_MANIFEST_SIZE, type StorageOptions, type BlobInfo, type UploadStatus, type ManifestRecord } from './storage.js';
export { createRegistryHandler, type RegistryHandlerOptions, type RegistryEvent } from './server.js';
export { collectGarbage, type GcOptions, type GcResult } from './gc.js';
export { RegistryError, type OciErrorCode } from './errors.js';
export {
  isValidRepositoryName, validateRepositoryName, isValidTag, parseDigest, validateDigest, parseReference,
  type ParsedDigest, type Reference,
} from './names.js';
export { parseRangeHeader, parseContentRange, type ByteRange } from './range.js';
export { pageOf } from './pagination.js';
export { parseManifest, type ParsedManifest } from './manifests.js';
export { MediaType, type Descriptor } from '../oci/index.js';
export {
  HtpasswdAuthorizer, HtpasswdFile, TokenAuthorizer, TokenIssuer, VerifiedTokens, signToken, verifyToken, parseScope, formatScope, covers,
  grantAuthenticated, parseBasicAuth,
  type Access, type Authorizer, type AuthDecision, type TokenKey, type TokenClaims, type TokenAlgorithm, type GrantPolicy,
  type TokenAuthorizerOptions, type TokenIssuerOptions,
} from './auth.js';
export { loadConfig, parseListen, tokenKeyFromConfig, type RegistryConfig } from './config.js';

export interface RegistryOptions {
  /** Folder holding blobs, uploads and repositories (created if missing). */
  storageDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Decides every request; none: everything is allowed. */
  authorizer?: Authorizer;
  /** Shorthand: Basic auth against this htpasswd file (ignored when authorizer is set). */
  htpasswdFile?: string;
  /** Shorthand: Docker token flow, verifying tokens with `key`; `issue` also serves the token endpoint here. */
  token?: {
    service: string; issuer: string; key: TokenKey; realm?: string;
    issue?: { path?: string; ttlSec?: number; checkPassword?: (user: string, password: string) => Promise<boolean>; policy?: GrantPolicy };
  };
  deleteEnabled?: boolean;
  maxBlobSize?: number;
  /** Uploads idle this long are removed (default 24 h). */
  uploadExpiryMs?: number;
  log?: (message: string) => void;
  /** One log line per request. */
  accessLog?: boolean;
  /** Told after manifests and tags are pushed or deleted. */
  onEvent?: (event: RegistryEvent) => void;
}

export interface RunningRegistry {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** host:port, as clients name the registry in image references. */
  address: string;
  port: number;
  server: Server;
  storage: RegistryStorage;
  close(): Promise<void>;
}

export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  const storage = new RegistryStorage(opts.storageDir, { maxBlobSize: opts.maxBlobSize });
  await storage.init();
  const host = opts.host ?? '127.0.0.1';
  const scheme = opts.tls ? 'https' : 'http';
  let authorizer = opts.authorizer;
  let tokenIssuer: TokenIssuer | undefined;
  let tokenPath: string | undefined;
  const htpasswd = opts.htpasswdFile ? new HtpasswdFile(opts.htpasswdFile) : undefined;
  if (!authorizer && opts.token) {
    const t = opts.token;
    if (t.issue) {
      tokenPath = t.issue.path ?? '/token';
      const check = t.issue.checkPassword ?? (htpasswd ? (u: string, p: string) => htpasswd.check(u, p) : undefined);
      if (!check) throw new Error('token issuing needs a password check (htpasswd file or checkPassword)');
      tokenIssuer = new TokenIssuer({ issuer: t.issuer, service: t.service, key: t.key, checkPassword: check, policy: t.issue.policy, ttlSec: t.issue.ttlSec });
    }
    // Without a configured realm, send clients to this process's token endpoint under the name they used for it.
    const path = tokenPath ?? '/token';
    const realm = t.realm ?? ((req: IncomingMessage) => `${scheme}://${req.headers.host ?? `${host}:${opts.port ?? 0}`}${path}`);
    authorizer = new TokenAuthorizer({ realm, service: t.service, issuer: t.issuer, key: t.key });
  } else if (!authorizer && opts.htpasswdFile) {
    authorizer = new HtpasswdAuthorizer(opts.htpasswdFile);
  }
  const handler = createRegistryHandler({
    storage, authorizer, tokenIssuer, tokenPath, deleteEnabled: opts.deleteEnabled, accessLog: opts.accessLog, onEvent: opts.onEvent,
    log: opts.log ?? ((m) => process.stderr.write(`${m}\n`)),
  });
  const { server, port, hostPart } = await listenHttp(handler, { host, port: opts.port, tls: opts.tls });
  const url = `${scheme}://${hostPart}:${port}`;
  const expiry = opts.uploadExpiryMs ?? 24 * 60 * 60_000;
  const purge = setInterval(() => { storage.purgeStaleUploads(expiry).catch(() => undefined); }, Math.min(expiry, 10 * 60_000));
  purge.unref();
  return {
    url, address: `${hostPart}:${port}`, port, server, storage,
    close: () => new Promise<void>((resolve) => {
      clearInterval(purge);
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
