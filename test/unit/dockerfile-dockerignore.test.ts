// .dockerignore semantics compared with Docker's. Tables marked [pm] are the expectations of
// moby/patternmatcher's tests (TestMatches, TestMatch from Go's filepath.Match tests);
// [ignorefile] moby/patternmatcher/ignorefile ReadAll; [cli] the docker CLI's context
// handling (TrimBuildFilesFromExcludes and the archive walk's directory skipping).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createIgnoreMatcher, readDockerignore, trimBuildFilesFromExcludes, walkBuildContext, filesDaemonRemovesFromContext,
} from '../../src/build/dockerfile/index.js';

const matches = (patterns: string[], path: string) => createIgnoreMatcher(patterns).ignores(path);

test('[pm] single-pattern table (a directory match covers what is below it)', () => {
  const cases: [string, string, boolean][] = [
    ['**', 'file', true], ['**', 'file/', true], ['**/', 'file', true], ['**/', 'file/', true],
    ['**', 'dir/file', true], ['**/', 'dir/file', true], ['**/**', 'dir/file', true], ['**/**', 'dir/file/', true],
    ['dir/**', 'dir/file', true], ['dir/**', 'dir/dir2/file', true], ['**/dir', 'dir', true], ['**/dir', 'dir/file', true],
    ['**/dir2/*', 'dir/dir2/file', true], ['**/dir2/*', 'dir/dir2/file/', true], ['**/dir2/**', 'dir/dir2/dir3/file', true],
    ['**file', 'file', true], ['**file', 'dir/file', true], ['**/file', 'dir/file', true], ['**file', 'dir/dir/file', true],
    ['**/file', 'dir/dir/file', true], ['**/file*', 'dir/dir/file', true], ['**/file*', 'dir/dir/file.txt', true],
    ['**/file*txt', 'dir/dir/file.txt', true], ['**/file*.txt', 'dir/dir/file.txt', true], ['**/file*.txt*', 'dir/dir/file.txt', true],
    ['**/**/*.txt', 'dir/dir/file.txt', true], ['**/**/*.txt2', 'dir/dir/file.txt', false], ['**/*.txt', 'file.txt', true],
    ['**/**/*.txt', 'file.txt', true], ['a**/*.txt', 'a/file.txt', true], ['a**/*.txt', 'a/dir/file.txt', true],
    ['a**/*.txt', 'a/dir/dir/file.txt', true], ['a/*.txt', 'a/dir/file.txt', false], ['a/*.txt', 'a/file.txt', true],
    ['a/*.txt**', 'a/file.txt', true], ['a[b-d]e', 'ae', false], ['a[b-d]e', 'ace', true], ['a[b-d]e', 'aae', false],
    ['a[^b-d]e', 'aze', true], ['.*', '.foo', true], ['.*', 'foo', false], ['abc.def', 'abcdef', false],
    ['abc.def', 'abc.def', true], ['abc.def', 'abcZdef', false], ['abc?def', 'abcZdef', true], ['abc?def', 'abcdef', false],
    ['**/foo/bar', 'foo/bar', true], ['**/foo/bar', 'dir/foo/bar', true], ['**/foo/bar', 'dir/dir2/foo/bar', true],
    ['abc/**', 'abc', false], ['abc/**', 'abc/def', true], ['abc/**', 'abc/def/ghi', true], ['**/.foo', '.foo', true],
    ['**/.foo', 'bar.foo', false], ['a(b)c/def', 'a(b)c/def', true], ['a(b)c/def', 'a(b)c/xyz', false],
    ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
    ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ['a\\\\', 'a\\', true], ['a\\*b', 'a*b', true],
  ];
  for (const [pattern, path, want] of cases) assert.equal(matches([pattern], path), want, `${pattern} vs ${path}`);
});

test('[pm] exceptions: the last matching pattern wins', () => {
  assert.equal(matches(['**', '!util/docker/web'], 'util/docker/web/foo'), false);
  assert.equal(matches(['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo'), true);
  assert.equal(matches(['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'), false);
  assert.equal(matches(['!fileutils.go', '*.go'], 'fileutils.go'), true);
  assert.equal(matches(['*.go', '!fileutils.go'], 'fileutils.go'), false);
  for (const dir of ['docs', 'docs/', 'docs/*']) {
    assert.equal(matches([dir, '!docs/README.md'], 'docs/README.md'), false, dir);
    assert.equal(matches([dir, '!docs/README.md'], 'docs/other.md'), true, dir);
  }
  assert.equal(matches(['*'], '.'), false); // the context root itself is never excluded
  assert.equal(matches([], 'any/path'), false);
});

test('[pm] Go filepath.Match semantics, including bad patterns', () => {
  const cases: [string, string, boolean][] = [
    ['abc', 'abc', true], ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'abc', true],
    ['a*', 'ab/c', true], ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false], ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true], ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false], ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true], ['a*b?c*x', 'abxbbxdbxebxczzy', false], ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false], ['ab[^c]', 'abc', false], ['ab[^b-d]', 'abc', false], ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true], ['a\\*b', 'ab', false], ['a?b', 'a☺b', true], ['a[^a]b', 'a☺b', true], ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false], ['[a-ζ]*', 'α', true], ['*[a-ζ]', 'A', false], ['a?b', 'a/b', false], ['a*b', 'a/b', false],
    ['[\\]a]', ']', true], ['[\\-]', '-', true], ['[x\\-]', 'x', true], ['[x\\-]', '-', true], ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true], ['[\\-x]', '-', true], ['[\\-x]', 'a', false], ['*x', 'xxx', true],
  ];
  for (const [pattern, path, want] of cases) assert.equal(matches([pattern], path), want, `${pattern} vs ${path}`);
  for (const bad of ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[']) {
    assert.throws(() => createIgnoreMatcher([bad]), /syntax error in pattern/, bad);
  }
  assert.throws(() => createIgnoreMatcher(['!']), /illegal exclusion pattern: "!"/);
});

test('[ignorefile] reading .dockerignore: comments, whitespace, cleaning, leading slash', () => {
  const text = '\uFEFF# comment\n  # not a comment\n\n  node_modules  \n/abs/path\n./rel/dir/\n!/keep/this\n! spaced \nfoo/../bar\n*.log\r\n';
  assert.deepEqual(readDockerignore(text), ['# not a comment', 'node_modules', 'abs/path', 'rel/dir', '!keep/this', '!spaced', 'bar', '*.log']);
  const m = createIgnoreMatcher(text);
  assert.equal(m.ignores('abs/path/x'), true);
  assert.equal(m.ignores('rel/dir'), true);
  assert.equal(m.ignores('rel/dirx'), false);
  assert.equal(m.ignores('a/b.log'), false); // *.log does not cross directories
  assert.equal(m.ignores('b.log'), true);
  assert.equal(m.ignores('node_modules/pkg/index.js', false), true);
  assert.equal(m.hasExceptions, true);
});

test('[cli] whole directories are skipped unless an exception names something inside them', () => {
  assert.equal(createIgnoreMatcher(['docs']).canSkipDir('docs'), true);
  assert.equal(createIgnoreMatcher(['docs', '!docs/README.md']).canSkipDir('docs'), false);
  assert.equal(createIgnoreMatcher(['docs', '!docs/README.md']).canSkipDir('other'), true);
  assert.equal(createIgnoreMatcher(['*', '!src/app/main.go']).canSkipDir('src'), false);
  assert.equal(createIgnoreMatcher(['*', '!src/app/main.go']).canSkipDir('src/app'), false);
  assert.equal(createIgnoreMatcher(['*', '!src/app/main.go']).canSkipDir('vendor'), true);
  // Docker compares exceptions literally: a wildcard exception does not keep the directory
  assert.equal(createIgnoreMatcher(['docs', '!*/README.md']).canSkipDir('docs'), true);
});

test('[cli] walking with parent results gives the same answers as matching each path', () => {
  const patterns = ['build', '!build/keep', 'build/keep/tmp', '**/*.o', '!important.o'];
  const m = createIgnoreMatcher(patterns);
  const tree = ['build', 'build/a', 'build/keep', 'build/keep/x', 'build/keep/tmp', 'build/keep/tmp/y', 'src', 'src/a.o', 'important.o', 'src/important.o'];
  const infos = new Map<string, ReturnType<typeof m.matchWithParent>['info']>();
  for (const p of tree) {
    const parent = p.includes('/') ? infos.get(p.slice(0, p.lastIndexOf('/'))) : undefined;
    const r = m.matchWithParent(p, parent);
    infos.set(p, r.info);
    assert.equal(r.ignored, m.ignores(p), p);
  }
  assert.deepEqual(tree.filter((p) => m.ignores(p)), ['build', 'build/a', 'build/keep/tmp', 'build/keep/tmp/y', 'src/a.o', 'src/important.o']);
});

test('[cli] the Dockerfile and .dockerignore are always sent (unless the Dockerfile comes from stdin)', () => {
  assert.deepEqual(trimBuildFilesFromExcludes(['*'], 'Dockerfile'), ['*', '!.dockerignore', '!Dockerfile']);
  assert.deepEqual(trimBuildFilesFromExcludes(['*'], 'Dockerfile', true), ['*', '!.dockerignore']);
  assert.deepEqual(trimBuildFilesFromExcludes(['build'], 'build/Dockerfile.prod'), ['build', '!build/Dockerfile.prod']);
  assert.deepEqual(trimBuildFilesFromExcludes(['*.md'], 'Dockerfile'), ['*.md']);
  const m = createIgnoreMatcher(trimBuildFilesFromExcludes(['*', '.dockerignore', 'Dockerfile'], 'Dockerfile'));
  assert.equal(m.ignores('Dockerfile'), false);
  assert.equal(m.ignores('.dockerignore'), false);
  assert.equal(m.ignores('main.go'), true);
});

test('[reference dockerd] a context tree sent by the docker CLI and copied with COPY . /ctx/', () => {
  // Recorded against the reference engine (dockerd 20.10 classic builder, docker CLI 28):
  // the listing of the layer made by `COPY . /ctx/` for this tree and .dockerignore.
  const dir = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  try {
    const files = ['docs/README.md', 'docs/other.md', 'docs/sub/x.md', 'build/a', 'build/keep/x', 'build/keep/tmp/y', 'src/app/main.go',
      'src/app/main.o', 'src/util.o', 'important.o', 'vendor/x/v.go', '.git/HEAD', 'node_modules/p/i.js', 'we ird/f', 'a/b/c/d.txt',
      'a/b/e.txt', 'top.txt', 'top.log', 'back\\slash', 'x.md'];
    for (const f of files) {
      mkdirSync(join(dir, dirname(f)), { recursive: true });
      writeFileSync(join(dir, f), f);
    }
    const ignore = '# comment\ndocs\n!docs/README.md\nbuild/\n!build/keep\nbuild/keep/tmp\n**/*.o\n!important.o\n/vendor\n.git\nnode_modules/**\na/**/*.txt\n*.log\nwe?ird\n!*.md\nDockerfile\n';
    writeFileSync(join(dir, '.dockerignore'), ignore);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /ctx/\n');
    const patterns = readDockerignore(ignore);
    const sent = walkBuildContext(dir, createIgnoreMatcher(trimBuildFilesFromExcludes(patterns, 'Dockerfile'))).map((e) => e.path);
    assert.ok(sent.includes('Dockerfile') && sent.includes('.dockerignore'));
    const dropped = filesDaemonRemovesFromContext(patterns, 'Dockerfile');
    assert.deepEqual(dropped, ['Dockerfile']);
    const copied = new Set(sent.filter((p) => !dropped.includes(p)));
    for (const p of [...copied]) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) copied.add(parts.slice(0, i).join('/')); // COPY creates parents
    }
    assert.deepEqual([...copied].sort(), [
      '.dockerignore', 'a', 'a/b', 'a/b/c', 'back\\slash', 'build', 'build/keep', 'build/keep/x', 'docs', 'docs/README.md',
      'important.o', 'node_modules', 'src', 'src/app', 'src/app/main.go', 'top.txt', 'x.md',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
