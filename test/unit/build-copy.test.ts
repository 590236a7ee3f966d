/**
 * The builder's pure parts on real temp dirs: scoped path resolution (symlinks never escape the
 * root), COPY's source matching and destination rules, --chown/--chmod, archive detection, the
 * context receiver (in memory or on disk, the same hashes either way; no escaping entries) and the cache's config comparison.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { canonicalConfig } from '../../src/build/run-config.js';
import { cleanRelative, resolveInRoot } from '../../src/build/scoped-path.js';
import { archiveKind, collectSources, copyInto, goMatch, inlineSource, parseChmod, parseChown, sourcesHash } from '../../src/build/copy.js';
import { receiveContext } from '../../src/build/context.js';
import { parallelHashAvailable, parallelHashStats, setHashWorkerUrlForTests, stopHashWorkerForTests } from '../../src/build/parallel-hash.js';

const base = mkdtempSync(join(tmpdir(), 'berth-build-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(base, `t${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    if (name.endsWith('/')) mkdirSync(join(dir, name), { recursive: true });
    else writeFileSync(join(dir, name), content);
  }
  return dir;
}

describe('scoped paths', () => {
  test('absolute and relative symlinks resolve inside the root', () => {
    const root = tree({ 'etc/passwd': 'x', 'real/file': 'y' });
    symlinkSync('/etc', join(root, 'abs'));
    symlinkSync('../../../../etc', join(root, 'climb'));
    symlinkSync('real', join(root, 'rel'));
    assert.equal(resolveInRoot(root, '/abs/passwd'), join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, 'climb/passwd'), join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/../../x'), join(root, 'x'));
    assert.equal(resolveInRoot(root, 'rel/file'), join(root, 'real/file'));
    assert.equal(resolveInRoot(root, 'rel', false), join(root, 'rel'));
    assert.equal(resolveInRoot(root, 'missing/deeper'), join(root, 'missing/deeper'));
  });

  test('a symlink loop is an error, not a hang', () => {
    const root = tree({});
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    assert.throws(() => resolveInRoot(root, 'a/x'), /too many levels of symbolic links/);
  });

  test('cleanRelative is path.Clean for context paths', () => {
    assert.equal(cleanRelative('./a//b/../c/'), 'a/c');
    assert.equal(cleanRelative('../x'), '../x');
    assert.equal(cleanRelative(''), '.');
  });
});

describe('COPY sources', () => {
  test('wildcards match per segment as filepath.Match', () => {
    assert.ok(goMatch('*.txt', 'a.txt'));
    assert.ok(!goMatch('*.txt', 'dir/a.txt'));
    assert.ok(goMatch('dir/?.t[xy]t', 'dir/a.txt'));
    assert.ok(goMatch('[^b]*', 'abc'));
    assert.ok(goMatch('[!a]*', 'abc'), 'Go has no ! negation: [!a] is a class of ! and a');
  });

  test('sources: wildcard, missing file, outside the context; hashes follow content and mode, not mtime', async () => {
    const ctx = tree({ 'a.txt': 'A', 'b.txt': 'B', 'dir/x': 'X' });
    const wild = await collectSources(ctx, ['*.txt'], 'COPY', { decompress: false });
    assert.deepEqual(wild.map((s) => s.name), ['a.txt', 'b.txt']);
    await assert.rejects(collectSources(ctx, ['nope'], 'COPY', { decompress: false }), /COPY failed: file not found in build context or excluded by \.dockerignore: stat nope: file does not exist/);
    await assert.rejects(collectSources(ctx, ['../x'], 'COPY', { decompress: false }), /COPY failed: forbidden path outside the build context: \.\.\/x/);
    await assert.rejects(collectSources(ctx, ['*.none'], 'ADD', { decompress: false }), /ADD failed: no source files were specified/);

    const h1 = sourcesHash(await collectSources(ctx, ['dir'], 'COPY', { decompress: false }));
    assert.match(h1, /^dir:[0-9a-f]{64}$/);
    spawnSync('touch', ['-d', '2001-01-01', join(ctx, 'dir/x')]);
    assert.equal(sourcesHash(await collectSources(ctx, ['dir'], 'COPY', { decompress: false })), h1, 'mtime does not count');
    writeFileSync(join(ctx, 'dir/x'), 'Y');
    const h2 = sourcesHash(await collectSources(ctx, ['dir'], 'COPY', { decompress: false }));
    assert.notEqual(h2, h1, 'content counts');
    spawnSync('chmod', ['600', join(ctx, 'dir/x')]);
    assert.notEqual(sourcesHash(await collectSources(ctx, ['dir'], 'COPY', { decompress: false })), h2, 'mode counts');
    assert.match(sourcesHash(wild), /^multi:[0-9a-f]{64}$/);
  });

  test('a source symlink is followed inside the context', async () => {
    const ctx = tree({ 'target.txt': 'T' });
    symlinkSync('/target.txt', join(ctx, 'link'));
    const [s] = await collectSources(ctx, ['link'], 'COPY', { decompress: false });
    assert.equal(s!.path, join(ctx, 'target.txt'));
    assert.equal(s!.name, 'link');
  });
});

describe('COPY destinations', () => {
  const id = { uid: 0, gid: 0 };

  test('file to a path, to a dir/ (trailing slash), into an existing directory; dir contents merge', async () => {
    const ctx = tree({ 'f.txt': 'F', 'd/one': '1', 'd/sub/two': '2' });
    const root = tree({ 'existing/': '', 'merge/old': 'old' });
    const [f] = await collectSources(ctx, ['f.txt'], 'COPY', { decompress: false });
    const [d] = await collectSources(ctx, ['d'], 'COPY', { decompress: false });
    await copyInto(root, [f!], '/renamed', { identity: id }, 'COPY');
    await copyInto(root, [f!], '/newdir/', { identity: id }, 'COPY');
    await copyInto(root, [f!], '/existing', { identity: id }, 'COPY');
    await copyInto(root, [d!], '/merge', { identity: id }, 'COPY');
    assert.equal(readFileSync(join(root, 'renamed'), 'utf8'), 'F');
    assert.equal(readFileSync(join(root, 'newdir/f.txt'), 'utf8'), 'F');
    assert.equal(readFileSync(join(root, 'existing/f.txt'), 'utf8'), 'F');
    assert.equal(readFileSync(join(root, 'merge/one'), 'utf8'), '1');
    assert.equal(readFileSync(join(root, 'merge/sub/two'), 'utf8'), '2');
    assert.equal(readFileSync(join(root, 'merge/old'), 'utf8'), 'old');
    await assert.rejects(copyInto(root, [f!, d!], '/multi', { identity: id }, 'COPY'),
      /When using COPY with more than one source file, the destination must be a directory and end with a \//);
  });

  test('a destination through an absolute symlink stays inside the root', async () => {
    const ctx = tree({ 'f.txt': 'F' });
    const root = tree({ 'inside/': '' });
    symlinkSync('/inside', join(root, 'escape'));
    const [f] = await collectSources(ctx, ['f.txt'], 'COPY', { decompress: false });
    await copyInto(root, [f!], '/escape/', { identity: id }, 'COPY');
    assert.equal(readFileSync(join(root, 'inside/f.txt'), 'utf8'), 'F');
  });

  test('--chown by name from the image\'s /etc files applies to new parent dirs; --chmod to files', async () => {
    const root = tree({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1002:\nstaff:x:50:\n' });
    assert.deepEqual(parseChown(root, 'app'), { uid: 1000, gid: 1002 });
    assert.deepEqual(parseChown(root, 'app:staff'), { uid: 1000, gid: 50 });
    assert.deepEqual(parseChown(root, '7:8'), { uid: 7, gid: 8 });
    assert.throws(() => parseChown(root, 'ghost'), /can't find uid for user ghost: no such user: ghost/);
    assert.equal(parseChmod('750'), 0o750);
    assert.throws(() => parseChmod('u+x'), /invalid chmod parameter/);
    const ctx = tree({ 's.sh': 'echo' });
    const [s] = await collectSources(ctx, ['s.sh'], 'COPY', { decompress: false });
    await copyInto(root, [s!], '/opt/tools/', { identity: { uid: 1000, gid: 50 }, chmod: 0o750 }, 'COPY');
    const st = statSync(join(root, 'opt/tools/s.sh'));
    assert.equal(st.uid, 1000); assert.equal(st.gid, 50); assert.equal(st.mode & 0o7777, 0o750);
    assert.equal(statSync(join(root, 'opt/tools')).uid, 1000);
    await copyInto(root, [inlineSource('note', 'hello\n')], '/notes/', { identity: id }, 'COPY');
    assert.equal(readFileSync(join(root, 'notes/note'), 'utf8'), 'hello\n');
  });

  test('ADD unpacks local tar, gzip, bzip2 and xz archives; other files are copied', async () => {
    const src = tree({ 'pkg/file': 'packed' });
    const ctx = tree({ 'plain.txt': 'not an archive' });
    for (const [name, flag] of [['a.tar', ''], ['a.tgz', 'z'], ['a.tbz', 'j'], ['a.txz', 'J']] as const) {
      assert.equal(spawnSync('tar', [`-c${flag}f`, join(ctx, name), '-C', src, 'pkg']).status, 0);
    }
    assert.equal(archiveKind(join(ctx, 'a.tar')), 'tar');
    assert.equal(archiveKind(join(ctx, 'a.tgz')), 'gzip');
    assert.equal(archiveKind(join(ctx, 'a.tbz')), 'bzip2');
    assert.equal(archiveKind(join(ctx, 'a.txz')), 'xz');
    assert.equal(archiveKind(join(ctx, 'plain.txt')), undefined);
    for (const name of ['a.tar', 'a.tgz', 'a.tbz', 'a.txz']) {
      const root = tree({});
      await copyInto(root, await collectSources(ctx, [name], 'ADD', { decompress: true }), '/x/', { identity: id }, 'ADD');
      assert.equal(readFileSync(join(root, 'x/pkg/file'), 'utf8'), 'packed', name);
    }
    const root = tree({});
    await copyInto(root, await collectSources(ctx, ['a.tgz'], 'COPY', { decompress: false }), '/y/', { identity: id }, 'COPY');
    assert.ok(lstatSync(join(root, 'y/a.tgz')).isFile(), 'COPY never unpacks');
  });
});

async function tarOf(entries: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string | Buffer; linkname?: string; mode?: number }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const e of entries) {
    await new Promise<void>((r, j) => pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.mode ?? 0o640, mtime: new Date(1e12) }, e.body ?? '', (err) => (err ? j(err) : r())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The body as a socket delivers it: in pieces that do not line up with tar blocks. */
function pieces(buf: Buffer, size = 777): Readable {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return Readable.from(out);
}

describe('build context', () => {
  // big enough to be hashed on the worker thread
  const bigBody = Buffer.alloc(3_000_000, 7);
  bigBody.write('not all sevens', 1_234_567);
  const sample = async () => tarOf([
    { name: 'Dockerfile', body: 'FROM scratch\n' }, { name: 'd', type: 'directory', mode: 0o750 }, { name: 'd/f', body: 'data' },
    { name: 'l', type: 'symlink', linkname: 'd/f' }, { name: 'implicit/deeper/x', body: 'x', mode: 0o4755 },
    { name: 'hard', type: 'link', linkname: 'd/f' }, { name: 'big', body: bigBody },
    { name: 'hardbig', type: 'link', linkname: 'big' },
    { name: `long/${'n'.repeat(150)}`, body: 'pax name' },
    { name: 'pkg.tgz', body: gzipSync(await tarOf([{ name: 'pkg/file', body: 'packed' }])) },
  ]);

  test('held in memory: files, dirs and symlinks with modes, mtimes and digests; written out on demand', async () => {
    const dir = tree({});
    const ctx = await receiveContext(pieces(await sample()), dir);
    assert.ok(ctx.inMemory);
    assert.deepEqual(readdirSync(dir), [], 'nothing on disk yet');
    assert.equal(ctx.readFile(join(dir, 'd/f')).toString(), 'data');
    assert.equal(ctx.fs.readlink(join(dir, 'l')), 'd/f');
    assert.equal(ctx.fs.lstat(join(dir, 'd/f')).mode & 0o7777, 0o640);
    assert.equal(ctx.fs.lstat(join(dir, 'd')).mode & 0o7777, 0o750);
    assert.equal(ctx.fs.lstat(join(dir, 'd')).mtime.getTime(), 1e12);
    assert.equal(ctx.fs.lstat(join(dir, 'big')).size, 3_000_000);
    const bigDigest = createHash('sha256').update(bigBody).digest('hex');
    assert.equal(ctx.fs.digest!(join(dir, 'big'), ctx.fs.lstat(join(dir, 'big'))), bigDigest);
    assert.equal(ctx.fs.digest!(join(dir, 'hardbig'), ctx.fs.lstat(join(dir, 'hardbig'))), bigDigest);
    assert.equal(ctx.fs.digest!(join(dir, 'hard'), ctx.fs.lstat(join(dir, 'hard'))), createHash('sha256').update('data').digest('hex'));
    assert.equal(ctx.readFile(join(dir, `long/${'n'.repeat(150)}`)).toString(), 'pax name');
    ctx.remove(join(dir, 'Dockerfile'));
    assert.ok(!ctx.exists(join(dir, 'Dockerfile')));
    ctx.materialise();
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'data');
    assert.equal(readlinkSync(join(dir, 'l')), 'd/f');
    assert.equal(statSync(join(dir, 'd/f')).mode & 0o777, 0o640);
    assert.equal(statSync(join(dir, 'd')).mtimeMs, 1e12);
    assert.equal(statSync(join(dir, 'hard')).ino, statSync(join(dir, 'd/f')).ino, 'a hard link stays one');
    assert.ok(readFileSync(join(dir, 'big')).equals(bigBody));
    assert.ok(!existsSync(join(dir, 'Dockerfile')), 'what was removed stays removed');
  });

  test('over the memory limit it goes to disk as it arrives, with the same shape', async () => {
    const dir = tree({});
    const ctx = await receiveContext(pieces(await sample()), dir, { memoryLimit: 1000 });
    assert.ok(!ctx.inMemory);
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'data');
    assert.equal(readlinkSync(join(dir, 'l')), 'd/f');
    assert.equal(statSync(join(dir, 'd/f')).mode & 0o777, 0o640);
    assert.equal(statSync(join(dir, 'd')).mtimeMs, 1e12);
    assert.equal(statSync(join(dir, 'implicit/deeper/x')).mode & 0o7777, 0o4755);
    assert.ok(readFileSync(join(dir, 'big')).equals(bigBody));
    assert.equal(ctx.fs.digest!(join(dir, 'big'), ctx.fs.lstat(join(dir, 'big'))), createHash('sha256').update(bigBody).digest('hex'));
    assert.equal(ctx.fs.digest!(join(dir, 'd/f'), ctx.fs.lstat(join(dir, 'd/f'))), createHash('sha256').update('data').digest('hex'));
  });

  test('COPY hashes and copies are the same from memory and from disk', async () => {
    const body = await sample();
    const memDir = tree({});
    const diskDir = tree({});
    const mem = await receiveContext(pieces(body), memDir);
    const disk = await receiveContext(pieces(body), diskDir, { memoryLimit: 0 });
    for (const srcs of [['.'], ['d'], ['l'], ['hard'], ['implicit'], ['*'], ['d/*', 'big'], ['/l'], ['pkg.tgz']]) {
      const decompress = srcs[0] === 'pkg.tgz';
      const a = await collectSources(memDir, srcs, 'ADD', { decompress, fs: mem.fs });
      const b = await collectSources(diskDir, srcs, 'ADD', { decompress, fs: disk.fs });
      assert.equal(sourcesHash(a), sourcesHash(b), srcs.join(' '));
      const ra = tree({}); const rb = tree({});
      await copyInto(ra, a, '/dst/', { identity: { uid: 0, gid: 0 } }, 'ADD');
      await copyInto(rb, b, '/dst/', { identity: { uid: 0, gid: 0 } }, 'ADD');
      const listing = (root: string) => spawnSync('find', ['.', '-printf', '%p %M %s %l\n'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').sort().join('\n');
      assert.equal(listing(ra), listing(rb), srcs.join(' '));
      if (decompress) assert.equal(readFileSync(join(ra, 'dst/pkg/file'), 'utf8'), 'packed', 'ADD unpacks an archive held in memory');
      assert.equal(spawnSync('sh', ['-c', `cd ${ra} && find . -type f -exec sha256sum {} + -printf '%p %T@\\n' | sort`], { encoding: 'utf8' }).stdout,
        spawnSync('sh', ['-c', `cd ${rb} && find . -type f -exec sha256sum {} + -printf '%p %T@\\n' | sort`], { encoding: 'utf8' }).stdout);
    }
  });

  /** The body as node's HTTP parser hands it out: each piece a copy over an ArrayBuffer of its own. */
  const ownedPieces = (buf: Buffer, size = 65_000) => {
    const out: Buffer[] = [];
    for (let i = 0; i < buf.length; i += size) out.push(Buffer.from(buf.subarray(i, i + size)));
    return Readable.from(out);
  };

  test('owned chunks: large files are hashed in the worker and their data stays there until load()', async () => {
    const body = await sample();
    const plainDir = tree({});
    const plain = await receiveContext(pieces(body), plainDir);
    for (const size of [65_000, 777]) {
      const dir = tree({});
      const ctx = await receiveContext(ownedPieces(body, size), dir, { ownsChunks: true });
      const big = join(dir, 'big');
      assert.ok(ctx.remote, 'the big file\'s data is in the worker');
      assert.equal(ctx.fs.digest!(big, ctx.fs.lstat(big)), createHash('sha256').update(bigBody).digest('hex'));
      assert.equal(ctx.fs.digest!(join(dir, 'hardbig'), ctx.fs.lstat(join(dir, 'hardbig'))), createHash('sha256').update(bigBody).digest('hex'));
      assert.ok(ctx.needsLoad(big) && !ctx.needsLoad(join(dir, 'd/f')));
      assert.equal(ctx.readFile(join(dir, 'd/f')).toString(), 'data', 'small files are here');
      assert.throws(() => ctx.readFile(big), /before the build context was loaded/);
      assert.throws(() => ctx.materialise(), /before it was loaded/);
      // the cache keys need only the digests: the same as from a context hashed on this thread
      for (const srcs of [['.'], ['big'], ['hardbig'], ['d/*', 'big'], ['pkg.tgz']]) {
        const a = await collectSources(dir, srcs, 'COPY', { decompress: false, fs: ctx.fs });
        const b = await collectSources(plainDir, srcs, 'COPY', { decompress: false, fs: plain.fs });
        assert.equal(sourcesHash(a), sourcesHash(b), srcs.join(' '));
      }
      await ctx.load();
      assert.ok(!ctx.remote);
      assert.ok(ctx.readFile(big).equals(bigBody));
      assert.ok(ctx.readFile(join(dir, 'hardbig')).equals(bigBody));
      const root = tree({});
      await copyInto(root, await collectSources(dir, ['big', 'pkg.tgz'], 'ADD', { decompress: true, fs: ctx.fs }), '/dst/', { identity: { uid: 0, gid: 0 } }, 'ADD');
      assert.ok(readFileSync(join(root, 'dst/big')).equals(bigBody));
      assert.equal(readFileSync(join(root, 'dst/pkg/file'), 'utf8'), 'packed');
      ctx.materialise();
      assert.ok(readFileSync(big).equals(bigBody));
      ctx.release();
      assert.ok(!ctx.exists(big), 'a released context holds nothing');
    }
  });

  test('owned chunks: contexts received at once keep apart; a spill brings the data back from the worker first', async () => {
    const other = Buffer.alloc(1_000_000, 3);
    const [a, b] = await Promise.all([
      receiveContext(ownedPieces(await sample(), 4096), tree({}), { ownsChunks: true }),
      receiveContext(ownedPieces(await tarOf([{ name: 'big', body: other }]), 5000), tree({}), { ownsChunks: true }),
    ]);
    const digestOf = (c: typeof a, name: string) => c.fs.digest!(join(c.dir, name), c.fs.lstat(join(c.dir, name)));
    assert.equal(digestOf(a, 'big'), createHash('sha256').update(bigBody).digest('hex'));
    assert.equal(digestOf(b, 'big'), createHash('sha256').update(other).digest('hex'));
    await b.load();
    assert.ok(b.readFile(join(b.dir, 'big')).equals(other));
    a.release();
    b.release();
    // over the limit in the middle of the big file, with earlier data in the worker
    const dir = tree({});
    const disk = await receiveContext(ownedPieces(await sample()), dir, { ownsChunks: true, memoryLimit: 2_000_000 });
    assert.ok(!disk.inMemory && !disk.remote);
    assert.ok(readFileSync(join(dir, 'big')).equals(bigBody));
    assert.equal(disk.fs.digest!(join(dir, 'big'), disk.fs.lstat(join(dir, 'big'))), createHash('sha256').update(bigBody).digest('hex'));
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'data');
  });

  test('owned chunks: a file seen in the last build is compared with it, not trusted: any differing byte gives its own digest', async () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const first = Buffer.alloc(2_000_000, 9);
    /** The digest, and whether the worker took it from the last build. */
    const receive = async (body: Buffer, name = 'same.bin') => {
      const before = parallelHashStats.sameAsLastBuild;
      const ctx = await receiveContext(ownedPieces(await tarOf([{ name, body }]), 30_000), tree({}), { ownsChunks: true });
      const digest = ctx.fs.digest!(join(ctx.dir, name), ctx.fs.lstat(join(ctx.dir, name)));
      ctx.release();   // the worker keeps this build's files to compare the next one with
      return [digest, parallelHashStats.sameAsLastBuild > before];
    };
    assert.deepEqual(await receive(first), [sha(first), false]);
    assert.deepEqual(await receive(first), [sha(first), true], 'the same bytes again: compared, not hashed');
    for (const at of [0, 1_000_000, 1_999_999]) {
      const changed = Buffer.from(first);
      changed[at] ^= 0x40;
      assert.deepEqual(await receive(changed), [sha(changed), false], `a byte changed at ${at}`);
      assert.deepEqual(await receive(first), [sha(first), false], 'compared with the changed one');
      assert.deepEqual(await receive(first), [sha(first), true]);
    }
    assert.deepEqual(await receive(first, 'other.bin'), [sha(first), false], 'another path is hashed');
    // data brought back to this thread is not kept for the next build
    const ctx = await receiveContext(ownedPieces(await tarOf([{ name: 'same.bin', body: first }]), 30_000), tree({}), { ownsChunks: true });
    await ctx.load();
    assert.ok(ctx.readFile(join(ctx.dir, 'same.bin')).equals(first));
    ctx.release();
    assert.deepEqual(await receive(first), [sha(first), false]);
  });

  test('owned chunks: a hashing worker that cannot start fails that intake clearly; later ones hash on this thread', async (t) => {
    const body = await tarOf([{ name: 'big', body: bigBody }]);
    t.after(() => setHashWorkerUrlForTests(undefined));
    // the next worker to start runs a script that does not exist
    setHashWorkerUrlForTests(new URL('file:///nonexistent/berth-sha256-worker.js'));
    await stopHashWorkerForTests();
    await assert.rejects(receiveContext(ownedPieces(body), tree({}), { ownsChunks: true }), /failed to read the build context: .*(Cannot find module|ERR_MODULE_NOT_FOUND|nonexistent)/);
    assert.ok(!parallelHashAvailable());
    const ctx = await receiveContext(ownedPieces(body), tree({}), { ownsChunks: true });
    assert.ok(!ctx.remote, 'hashed here');
    assert.equal(ctx.fs.digest!(join(ctx.dir, 'big'), ctx.fs.lstat(join(ctx.dir, 'big'))), createHash('sha256').update(bigBody).digest('hex'));
    assert.ok(ctx.readFile(join(ctx.dir, 'big')).equals(bigBody));
    setHashWorkerUrlForTests(undefined);
    assert.ok(parallelHashAvailable());
  });

  test('owned chunks: a piece that shares its buffer is copied, never taken away', async () => {
    const body = await sample();
    const copy = Buffer.from(body);
    const ctx = await receiveContext(pieces(body, 100_000), tree({}), { ownsChunks: true });
    assert.ok(body.equals(copy), 'the sender\'s buffer is intact');
    await ctx.load();
    assert.ok(ctx.readFile(join(ctx.dir, 'big')).equals(bigBody));
    ctx.release();
  });

  test('gzip, and the docker CLI\'s unterminated `-f -` tar; a cut-off file is an error', async () => {
    const body = await tarOf([{ name: 'a', body: 'aaa' }, { name: 'b', body: 'bb' }]);
    const gz = await receiveContext(pieces(gzipSync(body), 10), tree({}));
    assert.equal(gz.readFile(join(gz.dir, 'b')).toString(), 'bb');
    // the CLI's stdin Dockerfile tar ends right after the last data: no padding, no end blocks
    const cut = body.subarray(0, 512 + 512 + 512 + 2);
    const ctx = await receiveContext(pieces(cut, 100), tree({}));
    assert.equal(ctx.readFile(join(ctx.dir, 'b')).toString(), 'bb');
    await assert.rejects(receiveContext(pieces(body.subarray(0, 512 + 512 + 512 + 1)), tree({})), /failed to read the build context: Unexpected end of data/);
  });

  test('an entry that climbs out or goes through a symlink never lands outside', async () => {
    for (const memoryLimit of [undefined, 0]) {
      const dir = tree({});
      const outside = join(base, `outside-${n++}`);
      mkdirSync(outside);
      await assert.rejects(receiveContext(Readable.from([await tarOf([{ name: '../evil', body: 'x' }])]), dir, { memoryLimit }), /invalid context entry/);
      const ctx = await receiveContext(Readable.from([await tarOf([{ name: 'link', type: 'symlink', linkname: outside }, { name: 'link/f', body: 'x' }])]), dir, { memoryLimit });
      ctx.materialise();
      assert.deepEqual(spawnSync('ls', [outside], { encoding: 'utf8' }).stdout, '');
      assert.equal(readFileSync(join(dir, outside, 'f'), 'utf8'), 'x', 'it lands where the link points, inside the context');
    }
  });

  test('garbage is a clear error', async () => {
    await assert.rejects(receiveContext(Readable.from([Buffer.from('this is not a tar archive at all')]), tree({})), /failed to read the build context|invalid/);
    await assert.rejects(receiveContext(Readable.from([Buffer.alloc(2048, 65)]), tree({})), /failed to read the build context: Invalid tar header/);
  });
});

describe('cache comparison', () => {
  test('empty and absent fields compare equal; values and order of lists do not', () => {
    assert.equal(canonicalConfig({ Env: null, Cmd: ['a'], Labels: {} }), canonicalConfig({ Cmd: ['a'], Volumes: null }));
    assert.notEqual(canonicalConfig({ Cmd: ['a', 'b'] }), canonicalConfig({ Cmd: ['b', 'a'] }));
    assert.equal(canonicalConfig({ Labels: { a: '1', b: '2' } }), canonicalConfig({ Labels: { b: '2', a: '1' } }));
  });
});
