/**
 * The builder's pure parts on real temp dirs: scoped path resolution (symlinks never escape the
 * root), COPY's source matching and destination rules, --chown/--chmod, archive detection, the
 * context unpacker (hashes, no escaping entries) and the cache's config comparison.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { archiveKind, canonicalConfig, cleanRelative, goMatch, resolveInRoot } from '../../src/build/index.js';
import { collectSources, copyInto, inlineSource, parseChmod, parseChown, sourcesHash } from '../../src/build/copy.js';
import { extractContext } from '../../src/build/context.js';

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
    assert.throws(() => resolveInRoot(root, 'a/x'), /too many links/);
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

async function tarOf(entries: { name: string; type?: 'file' | 'directory' | 'symlink'; body?: string; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const e of entries) {
    await new Promise<void>((r, j) => pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: 0o640, mtime: new Date(1e12) }, e.body ?? '', (err) => (err ? j(err) : r())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('build context', () => {
  test('unpacks files, dirs and symlinks with modes and mtimes, and knows every file\'s digest', async () => {
    const dir = tree({});
    const body = await tarOf([{ name: 'Dockerfile', body: 'FROM scratch\n' }, { name: 'd', type: 'directory' }, { name: 'd/f', body: 'data' }, { name: 'l', type: 'symlink', linkname: 'd/f' }]);
    const digests = await extractContext(Readable.from([body]), dir);
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'data');
    assert.equal(readlinkSync(join(dir, 'l')), 'd/f');
    assert.equal(statSync(join(dir, 'd/f')).mode & 0o777, 0o640);
    assert.equal(statSync(join(dir, 'd')).mtimeMs, 1e12);
    assert.deepEqual(digests.get(join(dir, 'd/f')), { size: 4, digest: createHash('sha256').update('data').digest('hex') });
  });

  test('an entry that climbs out or goes through a symlink never lands outside', async () => {
    const dir = tree({});
    const outside = join(base, `outside-${n++}`);
    mkdirSync(outside);
    await assert.rejects(extractContext(Readable.from([await tarOf([{ name: '../evil', body: 'x' }])]), dir), /invalid context entry/);
    await extractContext(Readable.from([await tarOf([{ name: 'link', type: 'symlink', linkname: outside }, { name: 'link/f', body: 'x' }])]), dir);
    assert.deepEqual(spawnSync('ls', [outside], { encoding: 'utf8' }).stdout, '');
  });

  test('garbage is a clear error', async () => {
    await assert.rejects(extractContext(Readable.from([Buffer.from('this is not a tar archive at all')]), tree({})), /failed to read the build context|invalid/);
  });
});

describe('cache comparison', () => {
  test('empty and absent fields compare equal; values and order of lists do not', () => {
    assert.equal(canonicalConfig({ Env: null, Cmd: ['a'], Labels: {} }), canonicalConfig({ Cmd: ['a'], Volumes: null }));
    assert.notEqual(canonicalConfig({ Cmd: ['a', 'b'] }), canonicalConfig({ Cmd: ['b', 'a'] }));
    assert.equal(canonicalConfig({ Labels: { a: '1', b: '2' } }), canonicalConfig({ Labels: { b: '2', a: '1' } }));
  });
});
