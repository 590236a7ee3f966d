/**
 * berthd on TCP with mutual TLS, as dockerd does it: the real docker CLI with a client certificate
 * signed by the daemon's CA runs containers; without one, or with another CA's, the handshake fails;
 * plain TCP is refused on non-loopback addresses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importBusybox, repoRoot, startBerthd, distDir, type Berthd } from './helpers/berthd.js';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate. */
function makePki(dir: string, name: string, opts: { expiredClient?: boolean } = {}): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-ca-key.pem`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [who, ext] of [['server', 'server.ext'], ['client', 'client.ext']] as const) {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-${who}-key.pem`, '-out', `${name}-${who}.csr`, '-subj', `/CN=${who}`], dir);
    const days = who === 'client' && opts.expiredClient ? ['-not_before', '20200101000000Z', '-not_after', '20200102000000Z'] : ['-days', '2'];
    const r = spawnSync('openssl', ['x509', '-req', '-in', `${name}-${who}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca-key.pem`, '-CAcreateserial', '-out', `${name}-${who}.pem`, '-extfile', ext, ...days], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) {
      // openssl 3.0 has no -not_before: make the expired certificate with `ca`-style dates through -days 0 fallback.
      openssl(['x509', '-req', '-in', `${name}-${who}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca-key.pem`, '-CAcreateserial', '-out', `${name}-${who}.pem`, '-extfile', ext, '-days', '-1'], dir);
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)); }); });
}

describe('TCP with mutual TLS', () => {
  let d: Berthd;
  let pki: string;
  let port: number;
  before(async () => {
    pki = mkdtempSync(join(tmpdir(), 'berth-pki-'));
    makePki(pki, 'good');
    makePki(pki, 'other');
    makePki(pki, 'old', { expiredClient: true });
    port = await freePort();
    d = await startBerthd({ extraArgs: ['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), '--tlscert', join(pki, 'good-server.pem'), '--tlskey', join(pki, 'good-server-key.pem')] });
    importBusybox(d);
  });
  after(async () => { await d?.cleanup(); rmSync(pki, { recursive: true, force: true }); });

  const dockerTcp = (args: string[], env: Record<string, string> = {}) => spawnSync('docker', args, {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: join(d.dir, 'docker-config'), ...env },
  });
  const certArgs = (name: string) => ['--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), '--tlscert', join(pki, `${name}-client.pem`), '--tlskey', join(pki, `${name}-client-key.pem`)];

  test('the docker CLI with a client certificate runs a container over TLS', () => {
    const r = dockerTcp([...certArgs('good'), 'run', '--rm', 'busybox', 'echo', 'over mutual TLS']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'over mutual TLS\n');
    // DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, the environment form.
    const certDir = mkdtempSync(join(tmpdir(), 'berth-certs-'));
    try {
      for (const [from, to] of [['good-ca.pem', 'ca.pem'], ['good-client.pem', 'cert.pem'], ['good-client-key.pem', 'key.pem']]) {
        spawnSync('cp', [join(pki, from), join(certDir, to)]);
      }
      const e = dockerTcp(['version', '--format', '{{.Server.Version}}'], { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir });
      assert.equal(e.status, 0, e.stderr);
      assert.match(e.stdout.trim(), /^\d+\.\d+\.\d+/);
    } finally { rmSync(certDir, { recursive: true, force: true }); }
  });

  test('without a certificate, or with another CA\'s or an expired one, the connection is refused', () => {
    const none = dockerTcp(['--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), 'version']);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /certificate|tls|handshake|bad/i);
    const other = dockerTcp(['--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), '--tlscert', join(pki, 'other-client.pem'), '--tlskey', join(pki, 'other-client-key.pem'), 'version']);
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /certificate|tls|handshake|bad/i);
    const expired = dockerTcp(['--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), '--tlscert', join(pki, 'old-client.pem'), '--tlskey', join(pki, 'old-client-key.pem'), 'version']);
    assert.notEqual(expired.status, 0);
    // berth says why before dialling.
    const berthExpired = spawnSync(process.execPath, [join(repoRoot, 'bin', 'berth'), '-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(pki, 'good-ca.pem'), '--tlscert', join(pki, 'old-client.pem'), '--tlskey', join(pki, 'old-client-key.pem'), 'version'], { encoding: 'utf8', env: { ...process.env, BERTH_DIST: distDir }, timeout: 30_000 });
    assert.notEqual(berthExpired.status, 0);
    assert.match(berthExpired.stderr, /TLS certificate ".*old-client\.pem" (expired on|is not valid before)/);
    // Plain HTTP against the TLS port gets nothing useful either.
    const plain = dockerTcp(['version']);
    assert.notEqual(plain.status, 0);
  });

  test('berthd refuses plain TCP on a non-loopback address, and names missing certificate files', () => {
    const bin = join(repoRoot, 'bin', 'berthd');
    const tmp = mkdtempSync(join(tmpdir(), 'berth-refuse-'));
    try {
      const r = spawnSync(process.execPath, [bin, '--data-root', join(tmp, 'd'), '--exec-root', join(tmp, 'e'), '-H', 'tcp://0.0.0.0:23750'], { encoding: 'utf8', env: { ...process.env, BERTH_DIST: distDir }, timeout: 30_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:23750 without TLS/);
      const m = spawnSync(process.execPath, [bin, '--data-root', join(tmp, 'd'), '--exec-root', join(tmp, 'e'), '-H', 'tcp://127.0.0.1:23751', '--tlsverify', '--tlscacert', join(tmp, 'nope.pem'), '--tlscert', join(pki, 'good-server.pem'), '--tlskey', join(pki, 'good-server-key.pem')], { encoding: 'utf8', env: { ...process.env, BERTH_DIST: distDir }, timeout: 30_000 });
      assert.notEqual(m.status, 0);
      assert.match(m.stderr, /could not read --tlscacert .*nope\.pem: ENOENT/);
      assert.doesNotMatch(m.stderr, /BEGIN/);   // key material is never printed
      const bad = spawnSync(process.execPath, [bin, '--data-root', join(tmp, 'd'), '--exec-root', join(tmp, 'e'), '-H', 'tcp//nonsense'], { encoding: 'utf8', env: { ...process.env, BERTH_DIST: distDir }, timeout: 30_000 });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /invalid host tcp\/\/nonsense/);
    } finally {
      spawnSync('bash', ['-c', `grep -o " ${tmp}[^ ]*" /proc/mounts | xargs -r -n1 umount -l`]);
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
