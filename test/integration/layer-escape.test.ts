// Crafted archives that try to write outside the layer root. Each runs against a store whose root sits next to a
// sentinel directory; afterwards the sentinel must be exactly as it was and nothing new may exist outside the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { InvalidParameterError } from '../../src/errors/index.js';
import { makeTar, scratch, streamOf, tree, type Entry, type Scratch } from './layer-helpers.js';
import type { LayerInfo } from '../../src/layer/index.js';

/** Runs one crafted archive; returns the layer when it was accepted (neutralised) or null when refused. */
async function attempt(s: Scratch, entries: Entry[], expect: 'refused' | 'neutralised'): Promise<LayerInfo | null> {
  const before = tree(s.base).filter((p) => !p.startsWith('layers') && !p.startsWith('berth.db'));
  let layer: LayerInfo | null = null;
  try {
    layer = await s.store.unpack(null, streamOf(await makeTar(entries)));
  } catch (e) {
    assert.ok(e instanceof InvalidParameterError, `expected InvalidParameterError, got ${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
  if (expect === 'refused') {
    assert.equal(layer, null, 'archive should have been refused');
    assert.equal(s.store.list().length, 0, 'nothing recorded');
  } else {
    assert.ok(layer, 'archive should have been accepted with the trick neutralised');
  }
  // Nothing changed outside the store, and the sentinel file is intact and not hard-linked anywhere.
  const after = tree(s.base).filter((p) => !p.startsWith('layers') && !p.startsWith('berth.db'));
  assert.deepEqual(after, before);
  const keep = path.join(s.sentinel, 'keep');
  assert.equal(fs.readFileSync(keep, 'utf8'), 'original\n');
  assert.equal(fs.lstatSync(keep).nlink, 1);
  assert.equal(fs.lstatSync(s.sentinel).mode & 0o7777, 0o755);
  assert.equal(execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', s.sentinel], { encoding: 'utf8' }), '');
  for (const name of fs.readdirSync(s.store.root)) assert.ok(!name.startsWith('tmp-'), `temp dir ${name} left behind`);
  return layer;
}

const relSentinel = (s: Scratch, from: string) => path.relative(from, s.sentinel);

test('".." entries that climb out of the root are refused', async () => {
  const s = scratch();
  try {
    await attempt(s, [{ name: '../sentinel/pwned', data: 'x' }], 'refused');
    await attempt(s, [{ name: 'a/../../sentinel/pwned', data: 'x' }], 'refused');
    await attempt(s, [{ name: '../../../../../../../../' + s.sentinel.slice(1) + '/pwned', data: 'x' }], 'refused');
    await attempt(s, [{ name: '..', type: 'directory' }], 'refused');
    await attempt(s, [{ name: 'dev/../../evil', type: 'character-device', devmajor: 1, devminor: 3 }], 'refused');
    await attempt(s, [{ name: 'ok', data: 'x' }, { name: '.wh...', data: '' }], 'refused');
  } finally { s.cleanup(); }
});

test('absolute entry names are made relative to the layer root', async () => {
  const s = scratch();
  try {
    const layer = await attempt(s, [{ name: s.sentinel + '/pwned', data: 'x' }, { name: '/etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' }], 'neutralised');
    assert.equal(fs.readFileSync(path.join(layer!.diffDir, s.sentinel, 'pwned'), 'utf8'), 'x');
    assert.ok(fs.existsSync(path.join(layer!.diffDir, 'etc/passwd')));
    assert.equal(fs.existsSync(path.join(s.sentinel, 'pwned')), false);
  } finally { s.cleanup(); }
});

test('a symlink followed by an entry beneath it resolves inside the root (absolute and climbing targets)', async () => {
  const s = scratch();
  try {
    // absolute target: interpreted relative to the layer root
    let layer = await attempt(s, [
      { name: 'evil', type: 'symlink', linkname: s.sentinel },
      { name: 'evil/pwned', data: 'x' },
    ], 'neutralised');
    assert.equal(fs.readFileSync(path.join(layer!.diffDir, s.sentinel, 'pwned'), 'utf8'), 'x');
    assert.equal(fs.readlinkSync(path.join(layer!.diffDir, 'evil')), s.sentinel, 'the symlink itself is kept as written');
    s.store.delete(layer!.chainId);
    await s.store.idle();

    // relative target climbing far above the root: clamped at the root
    layer = await attempt(s, [
      { name: 'up', type: 'symlink', linkname: '../../../../../../../../..' },
      { name: 'up/' + s.sentinel.slice(1) + '/pwned', data: 'x' },
      { name: 'deep/er', type: 'symlink', linkname: '../../..' + s.sentinel },
      { name: 'deep/er/pwned2', data: 'y' },
    ], 'neutralised');
    assert.equal(fs.readFileSync(path.join(layer!.diffDir, s.sentinel, 'pwned'), 'utf8'), 'x');
    assert.equal(fs.readFileSync(path.join(layer!.diffDir, s.sentinel, 'pwned2'), 'utf8'), 'y');
    s.store.delete(layer!.chainId);
    await s.store.idle();

    // a chain of symlinks, the last one pointing at the sentinel relative to where the store really is
    const diffParent = path.join(s.store.root, 'x'.repeat(64), 'diff');
    layer = await attempt(s, [
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: relSentinel(s, diffParent) },
      { name: 'a/pwned', type: 'directory' },
      { name: 'a/pwned/file', data: 'z' },
    ], 'neutralised');
    assert.equal(fs.existsSync(path.join(s.sentinel, 'pwned')), false);
    s.store.delete(layer!.chainId);
    await s.store.idle();

    // a symlink loop is refused, not followed forever
    await attempt(s, [
      { name: 'l1', type: 'symlink', linkname: 'l2' },
      { name: 'l2', type: 'symlink', linkname: 'l1' },
      { name: 'l1/x', data: 'x' },
    ], 'refused');
    // a regular file used as a directory is refused
    await attempt(s, [{ name: 'f', data: 'x' }, { name: 'f/x', data: 'x' }], 'refused');
  } finally { s.cleanup(); }
});

test('writing to a symlink path replaces the symlink instead of following it', async () => {
  const s = scratch();
  try {
    const keep = path.join(s.sentinel, 'keep');
    const layer = await attempt(s, [
      { name: 'f', type: 'symlink', linkname: keep },
      { name: 'f', data: 'pwned' },
      { name: 'g', type: 'symlink', linkname: relSentinel(s, path.join(s.store.root, 'x', 'diff')) + '/keep' },
      { name: 'g', data: 'pwned' },
      { name: 'd', type: 'symlink', linkname: s.sentinel },
      { name: 'd', type: 'directory', mode: 0o700 },
      { name: 'd/pwned', data: 'x' },
      { name: 'dev', type: 'symlink', linkname: s.sentinel },
      { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'fifo', type: 'symlink', linkname: keep },
      { name: 'fifo', type: 'fifo' },
    ], 'neutralised');
    const p = (r: string) => path.join(layer!.diffDir, r);
    assert.equal(fs.readFileSync(p('f'), 'utf8'), 'pwned');
    assert.ok(fs.lstatSync(p('f')).isFile());
    assert.ok(fs.lstatSync(p('g')).isFile());
    assert.ok(fs.lstatSync(p('d')).isDirectory());
    assert.equal(fs.lstatSync(p('d')).mode & 0o7777, 0o700);
    assert.ok(fs.existsSync(p('d/pwned')));
    assert.ok(fs.lstatSync(p('dev')).isCharacterDevice());
    assert.ok(fs.lstatSync(p('fifo')).isFIFO());
  } finally { s.cleanup(); }
});

test('hard links to anything outside the layer are refused', async () => {
  const s = scratch();
  try {
    const keep = path.join(s.sentinel, 'keep');
    await attempt(s, [{ name: 'h', type: 'link', linkname: keep }], 'refused');
    await attempt(s, [{ name: 'h', type: 'link', linkname: '../sentinel/keep' }], 'refused');
    await attempt(s, [{ name: 'h', type: 'link', linkname: relSentinel(s, path.join(s.store.root, 'x', 'diff')) + '/keep' }], 'refused');
    await attempt(s, [
      { name: 's', type: 'symlink', linkname: s.sentinel },
      { name: 'h', type: 'link', linkname: 's/keep' },
    ], 'refused');
    await attempt(s, [{ name: 'dir/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'dir' }], 'refused');
    await attempt(s, [{ name: 'h', type: 'link', linkname: 'later' }, { name: 'later', data: 'x' }], 'refused');
    const layer = await attempt(s, [
      { name: 's', type: 'symlink', linkname: keep },
      { name: 'h', type: 'link', linkname: 's' },  // links the symlink itself (inside the layer): harmless
      { name: 'h2', type: 'link', linkname: 's' },
      { name: 'h2', data: 'overwrite' },           // replaces h2, never writes through it
    ], 'neutralised');
    assert.equal(fs.readlinkSync(path.join(layer!.diffDir, 'h')), keep);
    assert.equal(fs.readFileSync(path.join(layer!.diffDir, 'h2'), 'utf8'), 'overwrite');
  } finally { s.cleanup(); }
});

test('whiteouts and opaque markers under a hostile symlink stay inside the root', async () => {
  const s = scratch();
  try {
    const layer = await attempt(s, [
      { name: 'w', type: 'symlink', linkname: s.sentinel },
      { name: 'w/.wh.keep', data: '' },
      { name: 'o', type: 'symlink', linkname: s.sentinel },
      { name: 'o/.wh..wh..opq', data: '' },
    ], 'neutralised');
    const inRoot = path.join(layer!.diffDir, s.sentinel);
    assert.ok(fs.lstatSync(path.join(inRoot, 'keep')).isCharacterDevice(), 'the whiteout landed inside the root');
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', '--absolute-names', inRoot], { encoding: 'utf8' }), 'y');
  } finally { s.cleanup(); }
});
