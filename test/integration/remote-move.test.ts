/**
 * `berth container move`: a container with a named volume and a file in its read/write layer moves
 * from one berthd to another reached over mutual TLS through a context, keeps its name, config and
 * data, and is gone from the source; a move to an unreachable target leaves the source untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distDir, importBusybox, repoRoot, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)); }); });
}

describe('moving a container between daemons', () => {
  let a: Berthd; let b: Berthd; let pki: string; let cfg: string; let port: number;
  const berth = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [join(repoRoot, 'bin', 'berth'), ...args], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, BERTH_DIST: distDir, DOCKER_CONFIG: cfg, DOCKER_HOST: a.host, ...env },
  });

  before(async () => {
    pki = mkdtempSync(join(tmpdir(), 'berth-mvpki-'));
    cfg = mkdtempSync(join(tmpdir(), 'berth-mvcfg-'));
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=move CA'], pki);
    writeFileSync(join(pki, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const who of ['server', 'client']) {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${who}`], pki);
      openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${who}.pem`, '-extfile', `${who}.ext`, '-days', '2'], pki);
    }
    port = await freePort();
    a = await startBerthd();
    b = await startBerthd({ extraArgs: ['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(pki, 'ca.pem'), '--tlscert', join(pki, 'server.pem'), '--tlskey', join(pki, 'server-key.pem')] });
    importBusybox(a);
    const ctx = berth(['context', 'create', 'target', '--docker', `host=tcp://127.0.0.1:${port},ca=${join(pki, 'ca.pem')},cert=${join(pki, 'client.pem')},key=${join(pki, 'client-key.pem')}`]);
    assert.equal(ctx.status, 0, ctx.stderr);
    const dead = berth(['context', 'create', 'nowhere', '--docker', 'host=tcp://127.0.0.1:1']);
    assert.equal(dead.status, 0, dead.stderr);
  });
  after(async () => {
    await a?.cleanup(); await b?.cleanup();
    rmSync(pki, { recursive: true, force: true }); rmSync(cfg, { recursive: true, force: true });
  });

  test('a running container with a named volume and a changed layer ends up running on the target', async () => {
    const run = a.docker(['run', '-d', '--name', 'mover', '-e', 'COLOR=teal', '-l', 'team=ops', '-v', 'movedata:/data', 'busybox', 'sh', '-c',
      "echo volume-content > /data/v.txt; echo layer-content > /root/layer.txt; rm /bin/vi; trap 'exit 0' TERM; while true; do sleep 0.2; done"]);
    assert.equal(run.status, 0, run.stderr);
    await waitFor(() => a.docker(['exec', 'mover', 'cat', '/root/layer.txt']).stdout.includes('layer-content') || a.docker(['diff', 'mover']).stdout.includes('/root/layer.txt'), 'files written');
    const mv = berth(['container', 'move', 'mover', '--to', 'target']);
    assert.equal(mv.status, 0, mv.stderr);
    // Gone from the source, running on the target with its name, config and data.
    assert.notEqual(a.docker(['inspect', 'mover']).status, 0);
    const tb = (args: string[]) => spawnSync('docker', ['--context', 'target', ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg, DOCKER_HOST: '' }, timeout: 60_000 });
    const st = tb(['inspect', '-f', '{{.Name}} {{.State.Running}} {{index .Config.Labels "team"}} {{range .Config.Env}}{{.}} {{end}}', 'mover']);
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /^\/mover true ops .*COLOR=teal/);
    assert.equal(tb(['exec', 'mover', 'cat', '/data/v.txt']).stdout, 'volume-content\n');
    assert.equal(tb(['exec', 'mover', 'cat', '/root/layer.txt']).stdout, 'layer-content\n');
    assert.notEqual(tb(['exec', 'mover', 'ls', '/bin/vi']).status, 0, 'a file deleted in the layer stays deleted');
  });

  test('a move to an unreachable target leaves the source untouched', () => {
    assert.equal(a.docker(['run', '-d', '--name', 'stayer', 'busybox', 'sleep', '1000']).status, 0);
    const pid = a.docker(['inspect', '-f', '{{.State.Pid}}', 'stayer']).stdout.trim();
    const mv = berth(['container', 'move', 'stayer', '--to', 'nowhere']);
    assert.notEqual(mv.status, 0);
    assert.match(mv.stderr, /connect|refused|Cannot/i);
    assert.equal(a.docker(['inspect', '-f', '{{.State.Running}} {{.State.Pid}}', 'stayer']).stdout.trim(), `true ${pid}`);
  });
});
