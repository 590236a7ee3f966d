// Layer unpacking on the real filesystem: metadata preservation, DiffIDs, whiteouts, corrupt input and store bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { InvalidParameterError, ConflictError, NotFoundError } from '../../src/errors/index.js';
import { chainIdOf, diffTar, LayerStore } from '../../src/layer/index.js';
import { collect, gzip, listTar, makeTar, repoRoot, scratch, sha256, streamOf, tree } from './layer-helpers.js';

const T = new Date(1_500_000_000_000);

test('unpack preserves modes, owners, mtimes, setuid bits, symlinks, hard links, devices and fifos', async () => {
  const s = scratch();
  try {
    const archive = await makeTar([
      { name: 'bin/', type: 'directory', mode: 0o711, uid: 5, gid: 6, mtime: T },
      { name: 'bin/tool', data: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 0, gid: 0, mtime: T },
      { name: 'bin/sgid', data: 'x', mode: 0o2750, uid: 1000, gid: 50, mtime: T },
      { name: 'bin/alias', type: 'link', linkname: 'bin/tool' },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8, mtime: T },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
      { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
      { name: 'run/fifo', type: 'fifo', mode: 0o640, uid: 33 },
      { name: 'etc/secret', data: 'pw', mode: 0o600, uid: 33, gid: 33, mtime: T },
    ]);
    const layer = await s.store.unpack(null, streamOf(archive));
    assert.equal(layer.diffId, sha256(archive));
    assert.equal(layer.chainId, layer.diffId);
    const p = (r: string) => path.join(layer.diffDir, r);
    const st = (r: string) => fs.lstatSync(p(r));
    assert.equal(st('bin').mode & 0o7777, 0o711);
    assert.equal(st('bin').uid, 5);
    assert.equal(st('bin').mtimeMs, T.getTime(), 'directory mtime survives its children being created');
    assert.equal(st('bin/tool').mode & 0o7777, 0o4755, 'setuid kept');
    assert.equal(st('bin/sgid').mode & 0o7777, 0o2750, 'setgid kept');
    assert.equal(st('bin/sgid').uid, 1000);
    assert.equal(st('bin/sgid').gid, 50);
    assert.equal(st('bin/tool').mtimeMs, T.getTime());
    assert.equal(fs.readFileSync(p('bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(st('bin/alias').ino, st('bin/tool').ino, 'hard link shares the inode');
    assert.equal(st('bin/tool').nlink, 2);
    assert.ok(st('bin/sh').isSymbolicLink());
    assert.equal(fs.readlinkSync(p('bin/sh')), '/bin/busybox');
    assert.equal(st('bin/sh').uid, 7);
    assert.equal(st('bin/sh').mtimeMs, T.getTime());
    assert.equal(st('tmp').mode & 0o7777, 0o1777, 'sticky bit kept');
    assert.ok(st('dev/null').isCharacterDevice());
    assert.equal(st('dev/null').rdev, (1 << 8) | 3);
    assert.equal(st('dev/null').mode & 0o7777, 0o666);
    assert.ok(st('dev/loop9').isBlockDevice());
    assert.equal(st('dev/loop9').gid, 6);
    assert.ok(st('run/fifo').isFIFO());
    assert.equal(st('run/fifo').uid, 33);
    assert.equal(st('etc/secret').mode & 0o7777, 0o600);
    assert.equal(st('dev').mode & 0o7777, 0o755, 'implicit parents are 0755');
    assert.equal(layer.size, '#!/bin/sh\necho hi\n'.length + 1 + '/bin/busybox'.length + 2);
  } finally { s.cleanup(); }
});

test('the DiffID is the sha256 of the uncompressed tar, gzip is detected, and a known chain is not unpacked twice', async () => {
  const s = scratch();
  try {
    const archive = await makeTar([{ name: 'hello', data: 'world' }]);
    const a = await s.store.unpack(null, streamOf(archive));
    const b = await s.store.unpack(null, streamOf(gzip(archive)));
    assert.equal(a.diffId, sha256(archive));
    assert.deepEqual(b, a, 'gzip of the same tar is the same layer');
    const marker = path.join(a.diffDir, 'marker');
    fs.writeFileSync(marker, '');
    const c = await s.store.unpack(null, streamOf(gzip(archive)), a.diffId);
    assert.deepEqual(c, a);
    assert.ok(fs.existsSync(marker), 'the existing layer was not replaced');
    assert.equal(s.store.list().length, 1);
    assert.deepEqual(fs.readdirSync(s.store.root).sort(), [a.chainId.slice(7)], 'no temp dirs left');
    // expected DiffID that does not match an existing chain's content is still refused
    const other = await makeTar([{ name: 'hello', data: 'other' }]);
    await assert.rejects(s.store.unpack(null, streamOf(other), a.diffId), InvalidParameterError);
  } finally { s.cleanup(); }
});

test('a child layer gets the OCI ChainID, lowerDirs is topmost first, and parents cannot be deleted under children', async () => {
  const s = scratch();
  try {
    const base = await s.store.unpack(null, streamOf(await makeTar([{ name: 'a', data: '1' }])));
    const top = await s.store.unpack(base.chainId, streamOf(await makeTar([{ name: 'b', data: '2' }])));
    assert.equal(top.chainId, chainIdOf([base.diffId, top.diffId]));
    assert.equal(top.parent, base.chainId);
    assert.deepEqual(s.store.lowerDirs(top.chainId), [top.diffDir, base.diffDir]);
    assert.equal(s.store.chainSize(top.chainId), 2);
    assert.throws(() => s.store.delete(base.chainId), ConflictError);
    await assert.rejects(s.store.unpack('sha256:' + 'f'.repeat(64), streamOf(await makeTar([]))), NotFoundError);
    s.store.delete(top.chainId);
    assert.equal(s.store.has(top.chainId), false);
    assert.throws(() => s.store.get(top.chainId), NotFoundError);
    assert.equal(fs.existsSync(top.diffDir), false);
    s.store.delete(base.chainId);
    await s.store.idle();
    assert.deepEqual(fs.readdirSync(s.store.root), []);
    // a second store on the same database sees what the first recorded
    const again = await s.store.unpack(null, streamOf(await makeTar([{ name: 'a', data: '1' }])));
    assert.deepEqual(new LayerStore(s.store.root, s.db).get(again.chainId), again);
  } finally { s.cleanup(); }
});

test('Docker whiteouts become overlay whiteouts (char 0/0) and opaque directories (trusted.overlay.opaque=y)', async () => {
  const s = scratch();
  try {
    const layer = await s.store.unpack(null, streamOf(await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.motd', uid: 3, gid: 4 },
      { name: 'var/cache/', type: 'directory', mode: 0o700 },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/fresh', data: 'new' },
      { name: '.wh.gone' },
      { name: 'x/.wh..wh.plnk', data: '' },   // aufs bookkeeping: ignored
    ])));
    const p = (r: string) => path.join(layer.diffDir, r);
    const wh = fs.lstatSync(p('etc/motd'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(wh.uid, 3);
    assert.ok(fs.lstatSync(p('gone')).isCharacterDevice());
    assert.equal(fs.existsSync(p('etc/.wh.motd')), false);
    assert.equal(fs.existsSync(p('var/cache/.wh..wh..opq')), false);
    assert.equal(fs.existsSync(p('x/.wh..wh.plnk')), false);
    const attr = execFileSync('getfattr', ['--only-values', '--absolute-names', '-n', 'trusted.overlay.opaque', p('var/cache')], { encoding: 'utf8' });
    assert.equal(attr, 'y');
    assert.equal(fs.lstatSync(p('var/cache')).mode & 0o777, 0o700);
    // and back: the layer's own tar has the Docker whiteouts again
    const entries = (await listTar(await collect(diffTar(layer.diffDir)))).map((e) => e.name);
    assert.ok(entries.includes('etc/.wh.motd'), entries.join(' '));
    assert.ok(entries.includes('.wh.gone'));
    assert.ok(entries.includes('var/cache/.wh..wh..opq'));
    assert.ok(entries.includes('var/cache/fresh'));
  } finally { s.cleanup(); }
});

test('corrupt, truncated and mislabelled archives are refused with nothing recorded and no temp dir left', async () => {
  const s = scratch();
  try {
    const good = await makeTar([
      { name: 'noise', data: Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251)) },{ name: 'big', data: Buffer.alloc(100_000, 7) }, { name: 'after', data: 'x' }]);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated inside a file', good.subarray(0, 20_000), /unexpected end|truncat/i],
      ['truncated inside a header', good.subarray(0, good.length - 1024 - 512 - 100), /unexpected end|truncat/i],
      ['garbage', Buffer.from('this is not a tar archive at all, '.repeat(40)), /invalid tar header|invalid/i],
      ['corrupt header checksum', Buffer.concat([Buffer.from([good[0]! ^ 0xff]), good.subarray(1)]), /invalid tar header/i],
      ['truncated gzip', gzip(good).subarray(0, Math.floor(gzip(good).length / 2)), /gzip/i],
      ['corrupt gzip', Buffer.concat([gzip(good).subarray(0, 10), Buffer.alloc(500, 0xab)]), /gzip/i],
      ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /zstd/],
    ];
    for (const [what, bytes, re] of cases) {
      await assert.rejects(s.store.unpack(null, streamOf(bytes)), (e: Error) => {
        assert.ok(e instanceof InvalidParameterError, `${what}: ${e.constructor.name}: ${e.message}`);
        assert.match(e.message, re, what);
        return true;
      }, what);
      assert.equal(s.store.list().length, 0, what);
      assert.deepEqual(fs.readdirSync(s.store.root), [], `${what}: temp dir removed`);
    }
    await assert.rejects(s.store.unpack(null, streamOf(good), 'sha256:' + '0'.repeat(64)), /does not match its diff ID/);
    await assert.rejects(s.store.unpack(null, streamOf(good), 'nonsense'), InvalidParameterError);
    assert.deepEqual(fs.readdirSync(s.store.root), []);
    assert.equal(s.store.list().length, 0);
    // an empty stream is an empty layer, as Docker treats it
    const empty = await s.store.unpack(null, streamOf(Buffer.alloc(0)));
    assert.equal(empty.diffId, sha256(Buffer.alloc(0)));
  } finally { s.cleanup(); }
});

test('sweep removes temp dirs and unrecorded layer dirs left by a crash, and keeps recorded layers', async () => {
  const s = scratch();
  try {
    const layer = await s.store.unpack(null, streamOf(await makeTar([{ name: 'f', data: 'x' }])));
    fs.mkdirSync(path.join(s.store.root, 'tmp-crashed', 'diff', 'half'), { recursive: true });
    fs.mkdirSync(path.join(s.store.root, 'a'.repeat(64), 'diff'), { recursive: true });
    const removed = await s.store.sweep();
    assert.deepEqual(removed.sort(), ['a'.repeat(64), 'tmp-crashed']);
    assert.deepEqual(fs.readdirSync(s.store.root), [layer.chainId.slice(7)]);
    assert.ok(fs.existsSync(path.join(layer.diffDir, 'f')));
  } finally { s.cleanup(); }
});

test('diffTar of an unpacked layer is deterministic and round-trips to the same bytes (busybox rootfs)', async () => {
  const s = scratch();
  try {
    const bb = path.join(s.base, 'bb.tar');
    execFileSync(path.join(repoRoot(), '..', 'shared', 'tools', 'make-busybox-rootfs.sh'), [bb], { stdio: 'ignore' });
    const original = fs.readFileSync(bb);
    const t0 = performance.now();
    const layer = await s.store.unpack(null, fs.createReadStream(bb));
    const ms = performance.now() - t0;
    assert.equal(layer.diffId, sha256(original));
    assert.ok(fs.lstatSync(path.join(layer.diffDir, 'bin/sh')).isSymbolicLink());
    assert.equal(fs.lstatSync(path.join(layer.diffDir, 'tmp')).mode & 0o7777, 0o1777);
    const out1 = await collect(diffTar(layer.diffDir));
    const out2 = await collect(diffTar(layer.diffDir));
    assert.ok(out1.equals(out2), 'same tree, same bytes');
    const again = await s.store.unpack(null, streamOf(out1));
    assert.deepEqual(tree(again.diffDir), tree(layer.diffDir));
    assert.ok((await collect(s.store.tar(again.chainId))).equals(out1), 'regenerated tar of the regenerated layer is identical');
    const names = (await listTar(out1)).map((e) => e.name);
    assert.ok(names.includes('bin/') && names.includes('bin/busybox') && !names.some((n) => n.startsWith('./') || n.startsWith('/')));
    console.log(`# busybox rootfs (${(original.length / 1e6).toFixed(1)} MB, ${names.length} entries) unpacked in ${ms.toFixed(1)} ms`);
  } finally { s.cleanup(); }
});

test('xattrs in PAX records (file capabilities, user.*) are applied byte for byte; overlay xattrs from an archive are not', async () => {
  const s = scratch();
  try {
    const src = path.join(s.base, 'src');
    fs.mkdirSync(path.join(src, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(src, 'bin/ping'), 'elf', { mode: 0o755 });
    fs.mkdirSync(path.join(src, 'data'));
    // cap_setuid|cap_net_raw permitted+effective: bytes >= 0x80 that a UTF-8 decode would mangle
    const cap = '0x0100000280200000000000000000000000000000';
    execFileSync('setfattr', ['-n', 'security.capability', '-v', cap, path.join(src, 'bin/ping')]);
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', path.join(src, 'data')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/etc', path.join(src, 'data')]);
    const file = path.join(s.base, 'x.tar');
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--format=posix', '-C', src, '-cf', file, '.']);
    const layer = await s.store.unpack(null, fs.createReadStream(file));
    const get = (rel: string, name: string) =>
      execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '--only-values', '-n', name, path.join(layer.diffDir, rel)]).toString('hex');
    assert.equal('0x' + Buffer.from(get('bin/ping', 'security.capability'), 'hex').toString('hex'), cap);
    assert.equal(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.note', path.join(layer.diffDir, 'data')], { encoding: 'utf8' }), 'hello');
    assert.throws(() => get('data', 'trusted.overlay.redirect'));
    assert.ok(s.store.reproducible(layer.chainId));
    assert.ok((await collect(s.store.tar(layer.chainId))).equals(fs.readFileSync(file)));
  } finally { s.cleanup(); }
});

test('thousands of data-less entries in one chunk do not exhaust the stack (parser continued asynchronously)', async () => {
  const s = scratch();
  try {
    // aufs bookkeeping entries are skipped without touching the disk: this measures the parser loop alone
    const entries: Array<{ name: string; data: string }> = Array.from({ length: 20_000 }, (_, i) => ({ name: `x/.wh..wh.aufs${i}`, data: '' }));
    const archive = await makeTar([...entries, { name: 'last', data: 'ok' }]);
    const layer = await s.store.unpack(null, streamOf(archive));   // one chunk of ~10 MB
    assert.equal(fs.readFileSync(path.join(layer.diffDir, 'last'), 'utf8'), 'ok');
  } finally { s.cleanup(); }
});

test('a refused archive is drained, not destroyed: a teed source still reaches its other consumer', async () => {
  const s = scratch();
  try {
    const junk = Buffer.alloc(8 * 1024 * 1024, 0x41);                         // not a tar: refused at the first header
    for (const bytes of [junk, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), junk])]) {   // plain, zstd
      const source = Readable.from((function* () { for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536); })());
      const toLayer = new PassThrough();
      const toOther = new PassThrough();
      source.pipe(toLayer);
      source.pipe(toOther);
      const [layer, other] = await Promise.allSettled([s.store.unpack(null, toLayer), collect(toOther)]);
      assert.equal(layer.status, 'rejected');
      assert.ok((layer as PromiseRejectedResult).reason instanceof InvalidParameterError);
      assert.equal(other.status, 'fulfilled');
      assert.equal((other as PromiseFulfilledResult<Buffer>).value.length, bytes.length, 'the other branch got every byte');
      assert.equal(toLayer.destroyed && !toLayer.readableEnded, false, 'the layer branch was read to its end, not torn down');
    }
    // refused before reading anything (unknown parent, malformed digest): the stream still flows to its end
    for (const call of [(t: NodeJS.ReadableStream) => s.store.unpack('sha256:' + 'e'.repeat(64), t), (t: NodeJS.ReadableStream) => s.store.unpack(null, t, 'md5:x')]) {
      const source = Readable.from((function* () { for (let i = 0; i < junk.length; i += 65536) yield junk.subarray(i, i + 65536); })());
      const toLayer = new PassThrough();
      const toOther = new PassThrough();
      source.pipe(toLayer);
      source.pipe(toOther);
      const [layer, other] = await Promise.allSettled([call(toLayer), collect(toOther)]);
      assert.equal(layer.status, 'rejected');
      assert.equal(other.status, 'fulfilled');
    }
    assert.deepEqual(fs.readdirSync(s.store.root), []);
  } finally { s.cleanup(); }
});
