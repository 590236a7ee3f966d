// tarDirectory (docker export, build contexts, docker cp) and concurrent unpacks of the same layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { diffTar, directorySize, tarDirectory } from '../../src/layer/index.js';
import { collect, listTar, makeTar, scratch, sha256, streamOf } from './layer-helpers.js';

function sampleTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'src/lib'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules/x'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src/lib/a.ts'), 'export {}\n');
  fs.writeFileSync(path.join(dir, 'src/b.ts'), 'b');
  fs.writeFileSync(path.join(dir, 'node_modules/x/index.js'), 'x');
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  fs.chmodSync(path.join(dir, 'run.sh'), 0o4755);
  fs.symlinkSync('src/b.ts', path.join(dir, 'link'));
  fs.linkSync(path.join(dir, 'src/b.ts'), path.join(dir, 'hard'));
  fs.chownSync(path.join(dir, 'src/b.ts'), 1000, 1000);
}

test('tarDirectory: sorted, deterministic, with modes, owners, symlinks and hard links; GNU tar reads it', async () => {
  const s = scratch();
  try {
    const dir = path.join(s.base, 'ctx');
    sampleTree(dir);
    const a = await collect(tarDirectory(dir));
    const b = await collect(tarDirectory(dir));
    assert.ok(a.equals(b), 'same tree, same bytes');
    const entries = await listTar(a);
    assert.deepEqual(entries.map((e) => e.name), [
      'hard', 'link', 'node_modules/', 'node_modules/x/', 'node_modules/x/index.js', 'run.sh', 'src/', 'src/b.ts', 'src/lib/', 'src/lib/a.ts',
    ]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get('run.sh')!.mode, 0o4755);
    assert.equal(byName.get('link')!.type, 'symlink');
    assert.equal(byName.get('link')!.linkname, 'src/b.ts');
    assert.equal(byName.get('src/b.ts')!.type, 'link', 'second name of the inode is a hard link');
    assert.equal(byName.get('src/b.ts')!.linkname, 'hard');
    const listing = execFileSync('tar', ['-tvf', '-'], { input: a, encoding: 'utf8' });
    assert.match(listing, /1000\/1000 .* hard/);
    assert.match(listing, /-rwsr-xr-x .* run\.sh/);
  } finally { s.cleanup(); }
});

test('tarDirectory options: filter prunes subtrees, rootName prefixes, owner overrides; a single file is one entry', async () => {
  const s = scratch();
  try {
    const dir = path.join(s.base, 'ctx');
    sampleTree(dir);
    const filtered = await listTar(await collect(tarDirectory(dir, {
      filter: (rel) => rel !== 'node_modules' && !rel.endsWith('.sh'),
      rootName: 'app',
      owner: { uid: 0, gid: 0 },
    })));
    assert.deepEqual(filtered.map((e) => e.name), ['app/', 'app/hard', 'app/link', 'app/src/', 'app/src/b.ts', 'app/src/lib/', 'app/src/lib/a.ts']);
    const listing = execFileSync('tar', ['-tvf', '-'], { input: await collect(tarDirectory(dir, { owner: { uid: 0, gid: 0 } })), encoding: 'utf8' });
    assert.doesNotMatch(listing, /1000/);
    const one = await listTar(await collect(tarDirectory(path.join(dir, 'src/lib/a.ts'))));
    assert.deepEqual(one.map((e) => [e.name, e.size]), [['a.ts', 10]]);
  } finally { s.cleanup(); }
});

test('a big file streams through tarDirectory with a slow consumer, and a missing dir is an error on the stream', async () => {
  const s = scratch();
  try {
    const dir = path.join(s.base, 'big');
    fs.mkdirSync(dir);
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
    fs.writeFileSync(path.join(dir, 'blob'), data);
    const stream = tarDirectory(dir) as NodeJS.ReadableStream & { readableLength: number };
    let max = 0;
    const chunks: Buffer[] = [];
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      max = Math.max(max, stream.readableLength);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(max < 2 * 1024 * 1024, `output buffered at most ${max} bytes`);
    const layer = await s.store.unpack(null, streamOf(Buffer.concat(chunks)));
    assert.ok(fs.readFileSync(path.join(layer.diffDir, 'blob')).equals(data));
    await assert.rejects(collect(tarDirectory(path.join(s.base, 'nope'))), /ENOENT/);
  } finally { s.cleanup(); }
});

test('concurrent unpacks of the same layer give one layer and leave no temp dirs', async () => {
  const s = scratch();
  try {
    const archive = await makeTar(Array.from({ length: 200 }, (_, i) => ({ name: `d/f${i}`, data: String(i).repeat(100) })));
    const results = await Promise.all([1, 2, 3].map(() => s.store.unpack(null, streamOf(archive))));
    for (const r of results) assert.deepEqual(r, results[0]);
    assert.equal(results[0]!.diffId, sha256(archive));
    assert.equal(s.store.list().length, 1);
    assert.deepEqual(fs.readdirSync(s.store.root), [results[0]!.chainId.slice(7)]);
    assert.equal(fs.readdirSync(path.join(results[0]!.diffDir, 'd')).length, 200);
  } finally { s.cleanup(); }
});

test('tar() gives back the exact bytes a layer was unpacked from (tar-split), for GNU, POSIX/pax, ustar and v7 tars', async () => {
  const s = scratch();
  try {
    const src = path.join(s.base, 'src');
    sampleTree(src);
    const long = path.join(src, 'a'.repeat(90), 'b'.repeat(90));
    fs.mkdirSync(long, { recursive: true });
    fs.writeFileSync(path.join(long, 'c'.repeat(120)), 'long names need extension headers');
    fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(3 * 1024 * 1024 + 7, 9));
    fs.writeFileSync(path.join(src, 'empty'), '');
    fs.symlinkSync('x'.repeat(150), path.join(src, 'longlink'));
    for (const format of ['gnu', 'posix', 'ustar', 'v7']) {
      const file = path.join(s.base, `${format}.tar`);
      const args = ['-C', src, `--format=${format}`, '-cf', file, '.'];
      try { execFileSync('tar', args, { stdio: 'ignore' }); } catch { /* ustar/v7 cannot hold the long names: GNU tar still writes the rest */ }
      const original = fs.readFileSync(file);
      const layer = await s.store.unpack(null, streamOf(format === 'gnu' ? (await import('node:zlib')).gzipSync(original) : original));
      assert.equal(layer.diffId, sha256(original), format);
      assert.ok(s.store.reproducible(layer.chainId), format);
      const again = await collect(s.store.tar(layer.chainId));
      assert.ok(again.equals(original), `${format}: reproduced ${again.length} bytes, original ${original.length}`);
      s.store.delete(layer.chainId);
      await s.store.idle();
    }
  } finally { s.cleanup(); }
});

test('files an archive replaces are stashed, so its exact tar still comes back', async () => {
  const s = scratch();
  try {
    // the same name twice, and a directory replaced by a file: the first contents are gone from diff/
    const dup = await makeTar([
      { name: 'f', data: 'first' }, { name: 'd/inner', data: 'inside d' }, { name: 'f', data: 'second' },
      { name: 'd', data: 'now a file' }, { name: 'f', data: 'third' },
    ]);
    const layer = await s.store.unpack(null, streamOf(dup));
    assert.ok(s.store.reproducible(layer.chainId));
    assert.ok((await collect(s.store.tar(layer.chainId))).equals(dup));
    assert.equal(fs.readFileSync(path.join(layer.diffDir, 'f'), 'utf8'), 'third');
    assert.equal(fs.readFileSync(path.join(layer.diffDir, 'd'), 'utf8'), 'now a file');
  } finally { s.cleanup(); }
});

test('a layer whose tar cannot be rebuilt falls back to diffTar; a tampered layer fails loudly', async () => {
  const s = scratch();
  try {
    // a whiteout entry with content: that content is nowhere on disk, so the original bytes cannot come back
    const odd = await makeTar([{ name: 'f', data: 'kept' }, { name: '.wh.g', data: 'whiteout with a body' }]);
    const layer = await s.store.unpack(null, streamOf(odd));
    assert.equal(s.store.reproducible(layer.chainId), false);
    const regenerated = await listTar(await collect(s.store.tar(layer.chainId)));
    assert.deepEqual(regenerated.map((e) => e.name).sort(), ['.wh.g', 'f']);

    const ok = await s.store.unpack(null, streamOf(await makeTar([{ name: 'g', data: 'content' }])));
    assert.ok(s.store.reproducible(ok.chainId));
    fs.writeFileSync(path.join(ok.diffDir, 'g'), 'short');
    await assert.rejects(collect(s.store.tar(ok.chainId)), /shorter than recorded/);
  } finally { s.cleanup(); }
});

test('directorySize counts each inode once and symlinks by their length (Docker SizeRw)', async () => {
  const s = scratch();
  try {
    const dir = path.join(s.base, 'ctx');
    sampleTree(dir);   // a.ts 10 + b.ts 1 (and its hard link) + index.js 1 + run.sh 10 + symlink 8
    assert.equal(await directorySize(dir), 10 + 1 + 1 + 10 + 'src/b.ts'.length);
    assert.equal(await directorySize(path.join(s.base, 'missing')), 0);
  } finally { s.cleanup(); }
});

test('file capabilities survive diffTar and unpack byte for byte (binary PAX values), and GNU tar reads them', async () => {
  const s = scratch();
  try {
    const dir = path.join(s.base, 'upper');
    fs.mkdirSync(path.join(dir, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/bin/ping'), 'elf');
    fs.writeFileSync(path.join(dir, 'x'.repeat(120)), 'long name and a capability');
    const cap = '0x0100000281200000000000000000000000000000';
    for (const f of ['usr/bin/ping', 'x'.repeat(120)]) execFileSync('setfattr', ['-n', 'security.capability', '-v', cap, path.join(dir, f)]);
    execFileSync('setfattr', ['-n', 'user.private', '-v', 'not exported', path.join(dir, 'usr/bin/ping')]);
    const tarBytes = await collect(tarDirectory(dir));
    const layer = await s.store.unpack(null, streamOf(tarBytes));
    for (const f of ['usr/bin/ping', 'x'.repeat(120)]) {
      const got = execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', path.join(layer.diffDir, f)], { encoding: 'utf8' });
      assert.match(got, new RegExp(`security.capability=${cap}`), f);
    }
    assert.throws(() => execFileSync('getfattr', ['--absolute-names', '-n', 'user.private', path.join(layer.diffDir, 'usr/bin/ping')], { stdio: 'pipe' }));
    const out = path.join(s.base, 'gnu');
    fs.mkdirSync(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', out, '-xf', '-'], { input: tarBytes });
    assert.match(execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', path.join(out, 'usr/bin/ping')], { encoding: 'utf8' }), new RegExp(cap));
    assert.ok((await collect(diffTar(layer.diffDir))).equals(tarBytes), 'diffTar of the unpacked layer gives the same bytes');
  } finally { s.cleanup(); }
});
