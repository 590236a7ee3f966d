// Real overlayfs: two unpacked layers (the upper one deletes a file and makes a directory opaque) mounted under a
// writable upper dir; changes in the merged view come back out of diffTar as the right Docker whiteouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diffTar, isMounted, mountOverlay, unmount } from '../../src/layer/index.js';
import { collect, listTar, makeTar, scratch, streamOf, tree } from './layer-helpers.js';

test('two layers with a whiteout and an opaque dir mount as the expected merged view; diffTar captures changes', async () => {
  const s = scratch();
  const mounts: string[] = [];
  try {
    const base = await s.store.unpack(null, streamOf(await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/motd', data: 'welcome\n' },
      { name: 'etc/hosts', data: '127.0.0.1 localhost\n' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/old1', data: '1' },
      { name: 'var/cache/old2', data: '2' },
      { name: 'srv/', type: 'directory' },
      { name: 'srv/data/', type: 'directory' },
      { name: 'srv/data/a', data: 'a' },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/tool', data: 'tool', mode: 0o755 },
    ])));
    const top = await s.store.unpack(base.chainId, streamOf(await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.motd', data: '' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/.wh..wh..opq', data: '' },
      { name: 'var/cache/new', data: 'new' },
      { name: 'app', data: 'v1' },
    ])));

    const c = path.join(s.base, 'containers', 'c1');
    const merged = path.join(c, 'merged');
    await mountOverlay(s.store.lowerDirs(top.chainId), path.join(c, 'upper'), path.join(c, 'work'), merged);
    mounts.push(merged);
    assert.ok(isMounted(merged));
    assert.deepEqual(tree(merged), [
      'app', 'bin', 'bin/tool', 'etc', 'etc/hosts', 'srv', 'srv/data', 'srv/data/a', 'var', 'var/cache', 'var/cache/new',
    ], 'motd whited out, var/cache opaque (old1/old2 hidden)');
    assert.equal(fs.readFileSync(path.join(merged, 'app'), 'utf8'), 'v1');

    // Container-style changes through the merged view.
    fs.writeFileSync(path.join(merged, 'etc/hosts'), '10.0.0.1 box\n');     // copy-up + modify
    fs.rmSync(path.join(merged, 'bin/tool'));                                // delete a lower file
    fs.rmSync(path.join(merged, 'srv/data'), { recursive: true });           // delete a lower dir…
    fs.mkdirSync(path.join(merged, 'srv/data'));                            // …and recreate it: opaque
    fs.writeFileSync(path.join(merged, 'srv/data/b'), 'b');
    fs.writeFileSync(path.join(merged, 'fresh'), 'fresh');                   // brand new file
    fs.chmodSync(path.join(merged, 'app'), 0o700);                           // metadata-only change
    fs.rmSync(path.join(merged, 'var/cache/new'));                           // delete a file of the top layer

    await unmount(merged);
    assert.equal(isMounted(merged), false);
    await unmount(merged);                                                   // idempotent

    const upper = path.join(c, 'upper');
    const diff = await collect(diffTar(upper));
    const entries = await listTar(diff);
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const n of ['bin/.wh.tool', 'srv/data/.wh..wh..opq', 'srv/data/b', 'fresh', 'etc/hosts', 'app', 'var/cache/.wh.new']) {
      assert.ok(byName.has(n), `diff has ${n}: ${[...byName.keys()].join(' ')}`);
    }
    assert.equal(byName.get('bin/.wh.tool')!.type, 'file');
    assert.equal(byName.get('bin/.wh.tool')!.size, 0);
    assert.equal(byName.get('app')!.mode, 0o700);
    assert.ok(![...byName.keys()].some((n) => n.includes('.wh.motd') || n.startsWith('etc/motd')), 'unchanged things are not in the diff');
    assert.ok(![...byName.keys()].some((n) => n === 'srv/data/a'));
    assert.ok((await collect(diffTar(upper))).equals(diff), 'diffTar is deterministic');

    // The diff committed as a third layer reproduces the container's view on a fresh mount.
    const committed = await s.store.unpack(top.chainId, streamOf(diff));
    const c2 = path.join(s.base, 'containers', 'c2');
    const merged2 = path.join(c2, 'merged');
    await mountOverlay(s.store.lowerDirs(committed.chainId), path.join(c2, 'upper'), path.join(c2, 'work'), merged2);
    mounts.push(merged2);
    assert.deepEqual(tree(merged2), [
      'app', 'bin', 'etc', 'etc/hosts', 'fresh', 'srv', 'srv/data', 'srv/data/b', 'var', 'var/cache',
    ]);
    assert.equal(fs.readFileSync(path.join(merged2, 'etc/hosts'), 'utf8'), '10.0.0.1 box\n');
    assert.equal(fs.statSync(path.join(merged2, 'app')).mode & 0o777, 0o700);
    await unmount(merged2);
    assert.equal(isMounted(merged2), false);
  } finally {
    for (const m of mounts) await unmount(m);
    s.cleanup();
  }
});

test('an image with zero layers and one with exactly one layer both mount, and a busy mount still unmounts', async () => {
  const s = scratch();
  const mounts: string[] = [];
  try {
    const c = path.join(s.base, 'c0');
    await mountOverlay([], path.join(c, 'upper'), path.join(c, 'work'), path.join(c, 'merged'));
    mounts.push(path.join(c, 'merged'));
    fs.writeFileSync(path.join(c, 'merged', 'hello'), 'x');
    assert.deepEqual(tree(path.join(c, 'merged')), ['hello']);
    await unmount(path.join(c, 'merged'));
    assert.deepEqual(tree(path.join(c, 'upper')), ['hello'], 'writes of a zero-layer container land in its upper dir');

    const one = await s.store.unpack(null, streamOf(await makeTar([{ name: 'only', data: '1' }])));
    const d = path.join(s.base, 'c1');
    const merged = path.join(d, 'merged');
    await mountOverlay(s.store.lowerDirs(one.chainId), path.join(d, 'upper'), path.join(d, 'work'), merged);
    mounts.push(merged);
    assert.deepEqual(tree(merged), ['only']);
    const fd = fs.openSync(path.join(merged, 'only'), 'r');            // keep the mount busy
    try {
      await unmount(merged);
      assert.equal(isMounted(merged), false, 'busy mount detached lazily');
    } finally { fs.closeSync(fd); }
    await unmount(path.join(s.base, 'never-mounted'));                 // missing target: fine
  } finally {
    for (const m of mounts) await unmount(m);
    s.cleanup();
  }
});

test('many layers still mount (long lowerdir lists go through short links that are removed after)', async () => {
  const s = scratch({ durable: false });   // 60 tiny layers: this test is about mounting, not crash safety
  const c = path.join(s.base, 'c');
  const merged = path.join(c, 'merged');
  try {
    let parent: string | null = null;
    for (let i = 0; i < 60; i++) {
      parent = (await s.store.unpack(parent, streamOf(await makeTar([{ name: `f${String(i).padStart(2, '0')}`, data: String(i) }])))).chainId;
    }
    const lowers = s.store.lowerDirs(parent!);
    assert.ok(lowers.join(':').length > 4096, 'absolute paths alone would not fit in one mount option page');
    await mountOverlay(lowers, path.join(c, 'upper'), path.join(c, 'work'), merged);
    assert.equal(tree(merged).length, 60);
    assert.equal(fs.readFileSync(path.join(merged, 'f00'), 'utf8'), '0');
    assert.equal(fs.readFileSync(path.join(merged, 'f59'), 'utf8'), '59');
    assert.deepEqual(fs.readdirSync(c).sort(), ['merged', 'upper', 'work'], 'temporary links removed');
  } finally {
    await unmount(merged);
    s.cleanup();
  }
});
