/**
 * Multi-layer images through push and pull: a busybox base plus small layers, two images sharing
 * their first two layers. The second pull reports "Already exists" for the shared layers, every
 * layer's files are there in a container, and a pulled image can be saved (its layer tars are kept).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry, tempDir, type SpawnedRegistry } from './registry-harness.js';

function layerTar(dir: string, name: string, files: Record<string, string>): string {
  const src = join(dir, `src-${name}`);
  mkdirSync(src);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const out = join(dir, `${name}.tar`);
  const r = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', src, '-cf', out, ...Object.keys(files)]);
  assert.equal(r.status, 0);
  return out;
}

const sha = (file: string) => 'sha256:' + createHash('sha256').update(readFileSync(file)).digest('hex');

/** A docker-archive with two images: x = base+b+c, y = base+b+d. */
function makeArchive(dir: string): string {
  const a = join(dir, 'archive');
  mkdirSync(a);
  const layers: Record<string, string> = {
    base: busyboxRootfs(),
    b: layerTar(dir, 'b', { 'b.txt': 'layer b\n' }),
    c: layerTar(dir, 'c', { 'c.txt': 'layer c\n' }),
    d: layerTar(dir, 'd', { 'd.txt': 'layer d\n' }),
  };
  for (const [n, f] of Object.entries(layers)) writeFileSync(join(a, `${n}.tar`), readFileSync(f));
  const entries = [];
  for (const [tag, names] of [['x', ['base', 'b', 'c']], ['y', ['base', 'b', 'd']]] as const) {
    const config = JSON.stringify({
      architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z', config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: names.map((n) => sha(layers[n])) },
    });
    const cfgName = createHash('sha256').update(config).digest('hex') + '.json';
    writeFileSync(join(a, cfgName), config);
    entries.push({ Config: cfgName, RepoTags: [`layers/${tag}:1`], Layers: names.map((n) => `${n}.tar`) });
  }
  writeFileSync(join(a, 'manifest.json'), JSON.stringify(entries));
  const out = join(dir, 'images.tar');
  assert.equal(spawnSync('tar', ['-C', a, '-cf', out, '.']).status, 0);
  return out;
}

describe('distribution: multi-layer images', () => {
  let reg: SpawnedRegistry;
  let d1: Berthd;
  let d2: Berthd;
  let dir: string;

  before(async () => {
    dir = tempDir('berth-dist-layers-');
    // Settle every start before failing, so after() stops whatever did start.
    const started = await Promise.allSettled([
      spawnRegistry().then((x) => { reg = x; }),
      startBerthd().then((x) => { d1 = x; }),
      startBerthd().then((x) => { d2 = x; }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const load = d1.docker(['load', '-i', makeArchive(dir)]);
    assert.equal(load.status, 0, load.stderr);
  });
  after(async () => {
    await Promise.all([d1?.cleanup(), d2?.cleanup(), reg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('push two images sharing layers: the second skips what the registry has', async () => {
    for (const t of ['x', 'y']) assert.equal(d1.docker(['tag', `layers/${t}:1`, `${reg.address}/layers/${t}:1`]).status, 0);
    const x = await d1.dockerAsync(['push', `${reg.address}/layers/x:1`]);
    assert.equal(x.status, 0, x.stderr);
    assert.equal((x.stdout.match(/: Pushed/g) ?? []).length, 3, x.stdout);
    const y = await d1.dockerAsync(['push', `${reg.address}/layers/y:1`]);
    assert.equal(y.status, 0, y.stderr);
    assert.equal((y.stdout.match(/: Mounted from layers\/x/g) ?? []).length, 2, y.stdout);
    assert.equal((y.stdout.match(/: Pushed/g) ?? []).length, 1, y.stdout);
  });

  test('pull both into an empty berthd: shared layers already exist the second time', async () => {
    const x = await d2.dockerAsync(['pull', `${reg.address}/layers/x:1`]);
    assert.equal(x.status, 0, x.stderr);
    assert.equal((x.stdout.match(/: Pull complete/g) ?? []).length, 3, x.stdout);
    const y = await d2.dockerAsync(['pull', `${reg.address}/layers/y:1`]);
    assert.equal(y.status, 0, y.stderr);
    assert.equal((y.stdout.match(/: Already exists/g) ?? []).length, 2, y.stdout);
    assert.equal((y.stdout.match(/: Pull complete/g) ?? []).length, 1, y.stdout);
    for (const t of ['x', 'y']) {
      const want = d1.docker(['inspect', '-f', '{{.Id}}', `layers/${t}:1`]).stdout.trim();
      assert.equal(d2.docker(['inspect', '-f', '{{.Id}}', `${reg.address}/layers/${t}:1`]).stdout.trim(), want);
    }
    const run = await d2.dockerAsync(['run', '--rm', `${reg.address}/layers/x:1`, 'cat', '/b.txt', '/c.txt']);
    assert.equal(run.stdout, 'layer b\nlayer c\n', run.stderr);
    const runY = await d2.dockerAsync(['run', '--rm', `${reg.address}/layers/y:1`, 'sh', '-c', 'cat /b.txt /d.txt; test ! -e /c.txt && echo no-c']);
    assert.equal(runY.stdout, 'layer b\nlayer d\nno-c\n', runY.stderr);
  });

  test('a pulled image can be saved: its layer tars are kept exactly', async () => {
    const out = join(dir, 'saved.tar');
    const r = d2.docker(['save', '-o', out, `${reg.address}/layers/y:1`]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(statSync(out).size > 100_000);
    const list = spawnSync('tar', ['-tf', out], { encoding: 'utf8' }).stdout;
    const base = sha(busyboxRootfs()).slice(7);
    assert.ok(list.includes(base), 'the busybox layer is in the archive under its DiffID');
  });
});
