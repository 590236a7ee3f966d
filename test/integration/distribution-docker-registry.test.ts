/**
 * berthd against a registry nobody here wrote: Debian's docker-registry (distribution 2.8),
 * started on a free loopback port with its own config and temp storage, killed by pid after.
 * Push from one berthd, pull into another empty one, the container runs; re-push skips layers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

export interface DockerRegistry { address: string; url: string; proc: ChildProcess; dir: string; stop(): Promise<void> }

export async function startDockerRegistry(): Promise<DockerRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-docker-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    'storage:',
    `  filesystem: { rootdirectory: ${join(dir, 'data')} }`,
    '  delete: { enabled: true }',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ].join('\n') + '\n');
  let log = '';
  const proc = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
  proc.stdout!.on('data', (c) => { log += c; });
  proc.stderr!.on('data', (c) => { log += c; });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
      try { return (await fetch(`${url}/v2/`)).status === 200; } catch { return false; }
    }, 'docker-registry to answer', 15_000);
  } catch (e) { await stop(); throw e; }
  return { address: `127.0.0.1:${port}`, url, proc, dir, stop };
}

describe('distribution: berthd with docker-registry (distribution 2.8)', { skip: !existsSync(REGISTRY_BIN) && 'docker-registry not installed' }, () => {
  let reg: DockerRegistry;
  let d1: Berthd;
  let d2: Berthd;
  let imageId: string;

  before(async () => {
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      startDockerRegistry().then((x) => { reg = x; }),
      startBerthd().then((x) => { d1 = x; }),
      startBerthd().then((x) => { d2 = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    imageId = importBusybox(d1);
  });
  after(async () => {
    await Promise.all([d1?.cleanup(), d2?.cleanup(), reg?.stop()]);
  });

  test('push to docker-registry, pull into an empty berthd, run it', async () => {
    const ref = `${reg.address}/peer/busybox:v1`;
    assert.equal(d1.docker(['tag', 'busybox', ref]).status, 0);
    const push = await d1.dockerAsync(['push', ref]);
    assert.equal(push.status, 0, push.stderr + push.stdout);
    const m = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push.stdout);
    assert.ok(m, push.stdout);
    // docker-registry agrees on the digest.
    const head = await fetch(`${reg.url}/v2/peer/busybox/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(head.headers.get('docker-content-digest'), m[1]);

    const again = await d1.dockerAsync(['push', ref]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Layer already exists/);

    const pull = await d2.dockerAsync(['pull', ref]);
    assert.equal(pull.status, 0, pull.stderr);
    assert.match(pull.stdout, /Pull complete/);
    assert.ok(pull.stdout.includes(`Digest: ${m[1]}`), pull.stdout);
    assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', ref]).stdout.trim(), imageId);
    const run = await d2.dockerAsync(['run', '--rm', ref, 'echo', 'from docker-registry']);
    assert.equal(run.stdout, 'from docker-registry\n', run.stderr);

    const byDigest = `${reg.address}/peer/busybox@${m[1]}`;
    assert.equal(d2.docker(['rmi', ref]).status, 0);
    const pd = await d2.dockerAsync(['pull', byDigest]);
    assert.equal(pd.status, 0, pd.stderr);
    assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', byDigest]).stdout.trim(), imageId);
  });

  test('unknown repositories get docker-registry\'s answer in Docker\'s words', async () => {
    const r = await d2.dockerAsync(['pull', `${reg.address}/peer/nothing:1`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Error response from daemon: (manifest for .* not found: manifest unknown|repository .* not found: name unknown)/);
  });
});
