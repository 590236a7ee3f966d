/**
 * bin/berth-registry: `serve` runs the registry, `gc` collects unreferenced blobs.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { startRegistry, type RegistryOptions } from './index.js';
import { loadConfig, parseListen, tokenKeyFromConfig, type RegistryConfig } from './config.js';
import { RegistryStorage } from './storage.js';
import { collectGarbage } from './gc.js';

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds');
  return n;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('expected a number of processes (1-256)');
  return n;
}

function bytes(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a number of bytes');
  return n;
}

interface ServeFlags {
  listen?: string; storage?: string; htpasswd?: string; tlsCert?: string; tlsKey?: string; config?: string;
  uploadExpiry?: number; maxBlobSize?: number; delete?: boolean; accessLog?: boolean; workers?: number;
}

/**
 * `serve --workers N` (N > 1): this process forks N workers that each run the whole registry and
 * share the listening socket (node:cluster hands out connections). Every piece of state they
 * share lives in the storage folder (uploads lock through a file, see storage.ts), so any worker
 * can serve any request. A worker that dies is replaced; SIGTERM/SIGINT stop them all.
 */
async function superviseWorkers(n: number, url: (port: number) => string): Promise<void> {
  let stopping = false;
  let announced = false;
  const fork = (): Worker => cluster.fork();
  cluster.on('listening', (_w, address) => {
    if (announced) return;
    announced = true;
    process.stdout.write(`berth-registry listening on ${url(address.port)} (${n} workers)\n`);
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    if (!announced) { // failed to start (bad flags, port in use): the error is on stderr already
      stopping = true;
      for (const o of Object.values(cluster.workers ?? {})) o?.kill();
      process.exit(code ?? 1);
    }
    if (code === 0 && !signal) {
      // Stopped on purpose (a Ctrl-C reaches every process of the group): not replaced.
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`berth-registry: worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
    fork();
  });
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    if (live.length === 0) process.exit(0);
    for (const w of live) w.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  for (let i = 0; i < n; i++) fork();
}

export function optionsFromConfig(cfg: RegistryConfig, flags: ServeFlags): RegistryOptions {
  const storageDir = flags.storage ?? cfg.storage;
  if (!storageDir) throw new Error('--storage DIR (or storage: in the config file) is required');
  const { host, port } = parseListen(flags.listen ?? cfg.listen ?? '127.0.0.1:5000');
  const certFile = flags.tlsCert ?? cfg.tls?.certificate;
  const keyFile = flags.tlsKey ?? cfg.tls?.key;
  if (!!certFile !== !!keyFile) throw new Error('TLS needs both a certificate and a key');
  const opts: RegistryOptions = {
    storageDir, host, port,
    tls: certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
    htpasswdFile: flags.htpasswd ?? cfg.auth?.htpasswd?.path,
    deleteEnabled: flags.delete === false ? false : cfg.delete?.enabled ?? true,
    uploadExpiryMs: (flags.uploadExpiry ?? cfg.uploads?.expiry ?? 86400) * 1000,
    maxBlobSize: flags.maxBlobSize ?? cfg.uploads?.maxBlobSize,
    accessLog: flags.accessLog,
  };
  const t = cfg.auth?.token;
  if (t) {
    opts.token = {
      service: t.service, issuer: t.issuer, realm: t.realm, key: tokenKeyFromConfig(t),
      issue: t.issue ? { path: t.issue.path, ttlSec: t.issue.ttl } : undefined,
    };
  }
  return opts;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('berth-registry').description('OCI distribution registry').showHelpAfterError();
  program.command('serve')
    .description('serve the registry')
    .argument('[config]', "YAML configuration file: berth's format or docker-registry's config.yml")
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000)')
    .option('--storage <dir>', 'storage folder')
    .option('--htpasswd <file>', 'require Basic auth against this htpasswd file (bcrypt entries)')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--config <file>', 'YAML configuration file (flags win over it)')
    .option('--upload-expiry <seconds>', 'remove uploads idle this long (default 86400)', seconds)
    .option('--max-blob-size <bytes>', 'refuse blobs larger than this', bytes)
    .option('--no-delete', 'refuse DELETE of manifests, tags and blobs')
    .option('--access-log', 'log one line per request to stderr')
    .option('--workers <n>', 'processes serving requests, sharing the port (default: one per CPU)', count)
    .action(async (configArg: string | undefined, flags: ServeFlags) => {
      const configFile = flags.config ?? configArg;
      const cfg = configFile ? loadConfig(configFile) : {};
      const opts = optionsFromConfig(cfg, flags);
      const workers = flags.workers ?? (cfg.workers !== undefined ? count(String(cfg.workers)) : availableParallelism());
      if (cluster.isPrimary && workers > 1) {
        // Check the storage folder once here, so a bad one fails before any worker starts.
        await new RegistryStorage(opts.storageDir).init();
        const hostPart = opts.host!.includes(':') ? `[${opts.host}]` : opts.host!;
        await superviseWorkers(workers, (port) => `${opts.tls ? 'https' : 'http'}://${hostPart}:${port}`);
        return;
      }
      const reg = await startRegistry(opts);
      if (cluster.isPrimary) process.stdout.write(`berth-registry listening on ${reg.url}\n`);
      const stop = (): void => { reg.close().then(() => process.exit(0), () => process.exit(1)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  program.command('gc')
    .description('remove blobs no manifest references (safe while the registry runs)')
    .option('--storage <dir>', 'storage folder')
    .option('--config <file>', 'YAML configuration file')
    .option('--dry-run', 'only list what would be removed')
    .option('--delete-untagged', 'also delete manifests no tag reaches (older than the grace period)')
    .option('--grace-period <seconds>', 'keep blobs modified within this period (default 3600)', seconds)
    .option('--upload-expiry <seconds>', 'remove uploads idle this long (default 86400)', seconds)
    .action(async (flags: { storage?: string; config?: string; dryRun?: boolean; deleteUntagged?: boolean; gracePeriod?: number; uploadExpiry?: number }) => {
      const cfg = flags.config ? loadConfig(flags.config) : {};
      const dir = flags.storage ?? cfg.storage;
      if (!dir) throw new Error('--storage DIR is required');
      const storage = new RegistryStorage(dir);
      await storage.init();
      const r = await collectGarbage(storage, {
        dryRun: flags.dryRun,
        deleteUntagged: flags.deleteUntagged,
        gracePeriodMs: flags.gracePeriod !== undefined ? flags.gracePeriod * 1000 : undefined,
        uploadExpiryMs: (flags.uploadExpiry ?? cfg.uploads?.expiry ?? 86400) * 1000,
      });
      for (const m of r.manifestsDeleted) process.stdout.write(`${flags.dryRun ? 'would delete' : 'deleted'} manifest ${m}\n`);
      for (const b of r.swept) process.stdout.write(`${flags.dryRun ? 'would remove' : 'removed'} ${b.digest} ${b.size}\n`);
      process.stdout.write(`${r.repositories} repositories, ${r.manifests} manifests, ${r.marked} blobs marked; `
        + `${r.swept.length} blobs ${flags.dryRun ? 'to remove' : 'removed'} (${r.bytesFreed} bytes), ${r.keptYoung} kept within the grace period`
        + `${r.uploadsRemoved.length ? `, ${r.uploadsRemoved.length} stale uploads removed` : ''}\n`);
    });
  await program.parseAsync(argv, { from: 'user' });
}
