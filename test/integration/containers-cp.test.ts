/**
 * docker cp through the real docker CLI, both ways, running and stopped containers, -a and -L,
 * and the known escape tricks: absolute and relative symlinks to host paths, `..` in archive
 * entries, and a symlink swapped in and out while copies run. None may read or write the host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import tar from 'tar-stream';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

describe('docker cp', () => {
  let d: Berthd;
  let hostDir: string;
  let work: string;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    hostDir = join(d.dir, 'host-only');
    work = join(d.dir, 'work');
    mkdirSync(hostDir, { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(hostDir, 'secret'), 'HOST-SECRET\n');
    const r = d.docker(['run', '-d', '--name', 'box', 'busybox', 'sh', '-c',
      `mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && chown 1234:5678 /data/a && ln -s /data/a /link-a && ` +
      `ln -s ${hostDir} /abs-escape && ln -s ../../../../../../../..${hostDir} /rel-escape && ` +
      "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    assert.equal(r.status, 0, r.stderr);
    await waitReady();
  });
  after(async () => { await d?.cleanup(); });

  async function waitReady() {
    for (let i = 0; i < 100; i++) {
      if (d.docker(['exec', 'box', 'test', '-L', '/rel-escape']).status === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const ok = (args: string[]) => { const r = d.docker(args); assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`); return r.stdout; };

  test('out of a running container: a file, a directory, -a keeps owners, -L follows a link', () => {
    ok(['cp', 'box:/data/a', join(work, 'a')]);
    assert.equal(readFileSync(join(work, 'a'), 'utf8'), 'one\n');
    ok(['cp', 'box:/data', join(work, 'data')]);
    assert.equal(readFileSync(join(work, 'data', 'sub', 'b'), 'utf8'), 'two\n');
    const header = spawnSync('docker', ['cp', 'box:/data/a', '-'], { env: d.env }).stdout;
    assert.equal(parseInt(header.subarray(108, 116).toString(), 8), 1234, 'uid kept in the archive');
    assert.equal(parseInt(header.subarray(116, 124).toString(), 8), 5678, 'gid kept in the archive');
    ok(['cp', '-L', 'box:/link-a', join(work, 'followed')]);
    assert.equal(readFileSync(join(work, 'followed'), 'utf8'), 'one\n');
    ok(['cp', 'box:/link-a', join(work, 'notfollowed')]);
    assert.equal(readlinkSync(join(work, 'notfollowed')), '/data/a', 'without -L the link itself is copied');
  });

  test('into running and stopped containers', () => {
    writeFileSync(join(work, 'in.txt'), 'incoming\n');
    ok(['cp', join(work, 'in.txt'), 'box:/tmp/']);
    assert.equal(ok(['exec', 'box', 'cat', '/tmp/in.txt']), 'incoming\n');
    ok(['cp', join(work, 'in.txt'), 'box:/tmp/renamed.txt']);
    assert.equal(ok(['exec', 'box', 'cat', '/tmp/renamed.txt']), 'incoming\n');
    ok(['create', '--name', 'stopped', 'busybox', 'cat', '/in.txt']);
    ok(['cp', join(work, 'in.txt'), 'stopped:/']);
    assert.equal(ok(['start', '-a', 'stopped']), 'incoming\n');
    ok(['cp', 'stopped:/in.txt', join(work, 'back.txt')]);
    assert.equal(readFileSync(join(work, 'back.txt'), 'utf8'), 'incoming\n');
    const missing = d.docker(['cp', 'box:/no/such/file', join(work, 'x')]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /Could not find the file \/no\/such\/file in container box/);
  });

  test('absolute and relative symlinks to host paths resolve inside the container', () => {
    for (const p of ['/abs-escape/secret', '/rel-escape/secret']) {
      const r = d.docker(['cp', `box:${p}`, '-']);
      assert.notEqual(r.status, 0, p);
      assert.ok(!r.stdout.includes('HOST-SECRET'), p);
    }
    writeFileSync(join(work, 'planted'), 'planted\n');
    for (const p of ['/abs-escape/', '/rel-escape/', '/abs-escape/../../../../' + hostDir + '/']) {
      d.docker(['cp', join(work, 'planted'), `box:${p}`]);
    }
    assert.deepEqual(readdirSync(hostDir), ['secret'], 'nothing was written on the host');
  });

  test('`..` and absolute names in an uploaded archive stay inside the root', async () => {
    const pack = tar.pack();
    pack.entry({ name: '../../../../../../escaped-dotdot' }, 'x');
    pack.entry({ name: `/..${hostDir}/escaped-abs` }, 'y');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const res = await d.api('PUT', '/containers/box/archive?path=/tmp', Buffer.concat(chunks), { 'Content-Type': 'application/x-tar' });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(readdirSync(hostDir), ['secret']);
    // Names are taken relative to the extraction directory, `..` never climbing above it.
    assert.equal(ok(['exec', 'box', 'cat', '/tmp/escaped-dotdot']), 'x');
    assert.equal(ok(['exec', 'box', 'cat', `/tmp${hostDir}/escaped-abs`]), 'y');
  });

  test('a source ending in /. copies the contents of the directory, both ways', async () => {
    // dockerd stats `dir/.` as `.` and roots its tar at `./`; the CLI rebases those names itself.
    const header = await new Promise<string>((resolve, reject) => {
      request({ socketPath: d.socket, method: 'HEAD', path: '/containers/box/archive?path=/data/.' }, (res) => {
        res.resume();
        if (res.statusCode !== 200) reject(new Error(`HEAD: ${res.statusCode}`));
        else resolve(String(res.headers['x-docker-container-path-stat']));
      }).on('error', reject).end();
    });
    const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    assert.equal(stat.name, '.');
    assert.ok(stat.mode & 2 ** 31, 'a directory');
    const names: string[] = [];
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => { names.push(h.name); s.resume(); s.on('end', next); });
    const raw = spawnSync('docker', ['cp', 'box:/data/.', '-'], { env: d.env }).stdout;
    await new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); ex.end(raw); });
    assert.deepEqual(names.sort(), ['./', './a', './sub/', './sub/b']);

    ok(['cp', 'box:/data/.', join(work, 'dot-new')]);
    assert.deepEqual(readdirSync(join(work, 'dot-new')).sort(), ['a', 'sub']);
    assert.equal(readFileSync(join(work, 'dot-new', 'sub', 'b'), 'utf8'), 'two\n');
    mkdirSync(join(work, 'dot-existing'));
    writeFileSync(join(work, 'dot-existing', 'kept'), 'k');
    ok(['cp', 'box:/data/.', join(work, 'dot-existing') + '/']);
    assert.deepEqual(readdirSync(join(work, 'dot-existing')).sort(), ['a', 'kept', 'sub']);
    // Without the /. the directory itself lands inside the existing one.
    ok(['cp', 'box:/data', join(work, 'dot-existing')]);
    assert.equal(readFileSync(join(work, 'dot-existing', 'data', 'a'), 'utf8'), 'one\n');
    const notDir = d.docker(['cp', 'box:/data/a/.', join(work, 'nope')]);
    assert.notEqual(notDir.status, 0);
    assert.ok(!existsSync(join(work, 'nope')));

    mkdirSync(join(work, 'up-src', 'inner'), { recursive: true });
    writeFileSync(join(work, 'up-src', 'f'), 'F\n');
    writeFileSync(join(work, 'up-src', 'inner', 'g'), 'G\n');
    ok(['exec', 'box', 'mkdir', '-p', '/target']);
    ok(['cp', join(work, 'up-src') + '/.', 'box:/target']);
    assert.equal(ok(['exec', 'box', 'ls', '/target']), 'f\ninner\n');
    assert.equal(ok(['exec', 'box', 'cat', '/target/inner/g']), 'G\n');
    ok(['cp', join(work, 'up-src') + '/.', 'box:/target-new']);
    assert.equal(ok(['exec', 'box', 'ls', '/target-new']), 'f\ninner\n');
    ok(['exec', 'box', 'rm', '-rf', '/target', '/target-new']);
  });

  test('a symlink swapped in and out during copies never exposes the host', async () => {
    ok(['exec', 'box', 'sh', '-c', 'mkdir -p /swap && echo inside > /swap/secret']);
    ok(['exec', '-d', 'box', 'sh', '-c', `while true; do mv /swap /swap.real; ln -s ${hostDir} /swap; rm /swap; mv /swap.real /swap; done`]);
    writeFileSync(join(work, 'swap-planted'), 'planted\n');
    for (let i = 0; i < 25; i++) {
      const out = await d.dockerAsync(['cp', 'box:/swap', '-']);
      assert.ok(!out.stdout.includes('HOST-SECRET'), 'host file leaked');
      await d.dockerAsync(['cp', join(work, 'swap-planted'), 'box:/swap/']);
    }
    assert.deepEqual(readdirSync(hostDir), ['secret']);
    assert.ok(!existsSync(join(hostDir, 'swap-planted')));
  });
});
