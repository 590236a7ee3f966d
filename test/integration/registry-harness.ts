/**
 * Shared by the registry integration tests: runs bin/berth-registry as its own process on a
 * free loopback port with a temp storage folder, and small helpers to push content to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled tree this test runs from (dist/ or dist-<name>/), and the repository root. */
export const distDir = fileURLToPath(new URL('../..', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const registryBin = join(repoRoot, 'bin', 'berth-registry');

export interface SpawnedRegistry {
  url: string;
  /** host:port as used in image references */
  address: string;
  storage: string;
  proc: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'berth-reg-'): string { return mkdtempSync(join(tmpdir(), prefix)); }

/** Runs `berth-registry serve` and waits for its "listening on" line. */
export async function spawnRegistry(extraArgs: string[] = [], opts: { storage?: string; keepStorage?: boolean } = {}): Promise<SpawnedRegistry> {
  const storage = opts.storage ?? tempDir();
  const hasListen = extraArgs.includes('--listen') || extraArgs.includes('--config');
  const args = ['serve', '--storage', storage, ...(hasListen ? [] : ['--listen', '127.0.0.1:0']), ...extraArgs];
  const proc = spawn(process.execPath, [registryBin, ...args], {
    env: { ...process.env, BERTH_DIST: distDir }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry did not start: ${err}`)), 15_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`registry exited ${code}: ${err}`)); });
  });
  return {
    url, address: new URL(url).host, storage, proc, stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!opts.keepStorage && !opts.storage) rmSync(storage, { recursive: true, force: true });
    },
  };
}

export function sha256(data: Buffer | string): string { return `sha256:${createHash('sha256').update(data).digest('hex')}`; }

/** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
export async function pushBlob(url: string, repo: string, data: Buffer<ArrayBuffer>, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256(data);
  const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST', body: data, headers: { 'Content-Type': 'application/octet-stream', ...headers },
  });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${await r.text()}`);
  return digest;
}

export interface PushedImage { manifest: Buffer<ArrayBuffer>; digest: string; config: string; layers: string[] }

/** Pushes a small OCI image (config + layers) and its manifest under `tag`. */
export async function pushImage(url: string, repo: string, tag: string, layerData: Buffer<ArrayBuffer>[], headers: Record<string, string> = {}): Promise<PushedImage> {
  const layers = [];
  for (const l of layerData) layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await pushBlob(url, repo, l, headers), size: l.length });
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, tag }));
  const config = await pushBlob(url, repo, configBytes, headers);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length }, layers,
  }));
  const r = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...headers },
  });
  if (r.status !== 201) throw new Error(`push manifest: ${r.status} ${await r.text()}`);
  return { manifest, digest: sha256(manifest), config, layers: layers.map((l) => l.digest) };
}

/** The OCI error codes of a response body. */
export async function errorCodes(r: Response): Promise<string[]> {
  const body = await r.json() as { errors?: { code: string }[] };
  return (body.errors ?? []).map((e) => e.code);
}
