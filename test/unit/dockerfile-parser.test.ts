// Dockerfile parsing compared with Docker's. Sources: [ref] the Dockerfile reference
// (../shared/reference/dockerfile/reference.md); [bk-health] buildkit parser/testfiles/health
// (Dockerfile + expected AST dump); [bk-heredoc] buildkit parser_heredoc_test.go; [bk] other
// behaviour of buildkit's frontend/dockerfile/parser and instructions packages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  parseDockerfile, parseDockerfileAst, parseHeredoc, DockerfileParseError, runDockerfileParse, stagesNeeded, findStage,
  parseRunMount,
  type DockerfileNode, type CopyInstruction, type HealthcheckInstruction, type RunInstruction, type AddInstruction,
} from '../../src/build/dockerfile/index.js';
import { InvalidParameterError } from '../../src/errors/index.js';

/** Docker's AST dump form: (instruction ["flags"] "arg" ...). */
function dump(n: DockerfileNode): string {
  let s = '(' + n.instruction;
  if (n.flags.length) s += ' [' + n.flags.map((f) => JSON.stringify(f)).join(' ') + ']';
  for (const a of n.args) s += ' ' + JSON.stringify(a);
  return s + ')';
}
const dumpAll = (text: string) => parseDockerfileAst(text).nodes.map(dump);

function parseError(text: string): DockerfileParseError {
  try {
    parseDockerfile(text);
  } catch (e) {
    assert.ok(e instanceof DockerfileParseError, `not a DockerfileParseError: ${e}`);
    assert.ok(e instanceof InvalidParameterError);
    return e;
  }
  assert.fail('expected a parse error');
}

test('[bk-health] HEALTHCHECK forms parse to the same AST as Docker', () => {
  const text = 'FROM debian\nADD check.sh main.sh /app/\nCMD /app/main.sh\nHEALTHCHECK\nHEALTHCHECK --interval=5s --timeout=3s --retries=3 \\\n  CMD /app/check.sh --quiet\nHEALTHCHECK CMD\nHEALTHCHECK   CMD   a b\nHEALTHCHECK --timeout=3s CMD ["foo"]\nHEALTHCHECK CONNECT TCP 7000\nHEALTHCHECK --start-period=0s --interval=5s --timeout=0s --retries=0 CMD ["foo"]\n';
  assert.deepEqual(dumpAll(text), [
    '(from "debian")',
    '(add "check.sh" "main.sh" "/app/")',
    '(cmd "/app/main.sh")',
    '(healthcheck)',
    '(healthcheck ["--interval=5s" "--timeout=3s" "--retries=3"] "CMD" "/app/check.sh --quiet")',
    '(healthcheck "CMD")',
    '(healthcheck "CMD" "a b")',
    '(healthcheck ["--timeout=3s"] "CMD" "foo")',
    '(healthcheck "CONNECT" "TCP 7000")',
    '(healthcheck ["--start-period=0s" "--interval=5s" "--timeout=0s" "--retries=0"] "CMD" "foo")',
  ]);
});

test('instruction names are case-insensitive; args per instruction kind', () => {
  const text = [
    'from  alpine:3.19   AS   Build',
    'Run echo "a  b" \'c\'',
    'cmd ["echo", "x y"]',
    'ENV a=1 b="2 3" c',
    'ENV legacy the rest  of  line',
    'LABEL k=v "x y"="z"',
    'ARG A B=2 C="3 4"',
    'EXPOSE 80/tcp   443',
    'USER  app:app ',
    'WORKDIR /a b',
    'MAINTAINER Jane Doe <j@example.com>',
    'STOPSIGNAL SIGKILL',
    'VOLUME /a  /b',
    'VOLUME ["/c", "/d"]',
    'SHELL ["/bin/bash", "-c"]',
    'ENTRYPOINT []',
    'ONBUILD ADD --chown=1 . /app',
  ].join('\n');
  const nodes = parseDockerfileAst(text.replace('ENV a=1 b="2 3" c', 'ENV a=1 b="2 3"')).nodes;
  assert.deepEqual(nodes.map(dump), [
    '(from "alpine:3.19" "AS" "Build")',
    '(run "echo \\"a  b\\" \'c\'")',
    '(cmd "echo" "x y")',
    '(env "a=1" "b=\\"2 3\\"")',
    '(env "legacy=the rest  of  line")',
    '(label "k=v" "\\"x y\\"=\\"z\\"")',
    '(arg "A" "B=2" "C=\\"3 4\\"")',
    '(expose "80/tcp" "443")',
    '(user "app:app")',
    '(workdir "/a b")',
    '(maintainer "Jane Doe <j@example.com>")',
    '(stopsignal "SIGKILL")',
    '(volume "/a" "/b")',
    '(volume "/c" "/d")',
    '(shell "/bin/bash" "-c")',
    '(entrypoint)',
    '(onbuild "ADD" "." "/app")',
  ]);
  assert.equal(nodes[0]!.name, 'from');
  assert.equal(nodes[15]!.json, true);
  assert.deepEqual(nodes[16]!.subcommand?.flags, ['--chown=1']);
  assert.deepEqual(nodes.map((n) => n.startLine), nodes.map((_, i) => i + 1));
});

test('exec form versus shell form: a malformed JSON array falls back to shell form [bk]', () => {
  const cases: [string, string[], boolean][] = [
    ['CMD ["a", "b"]', ['a', 'b'], true],
    ['CMD   [ "a" ]  ', ['a'], true],
    ['CMD []', [], true],
    ["CMD ['a', 'b']", ["['a', 'b']"], false], // single quotes are not JSON
    ['CMD ["a", "b"', ['["a", "b"'], false],
    ['CMD ["a"] extra', ['["a"] extra'], false],
    ['RUN ["echo", "\\u00e9\\n"]', ['echo', 'é\n'], true],
    ['COPY ["a b", "c"]', ['a b', 'c'], true],
    ['COPY [a, b]', ['[a,', 'b]'], false],
    ['ENTRYPOINT echo [x]', ['echo [x]'], false],
  ];
  for (const [line, args, json] of cases) {
    const n = parseDockerfileAst(line + '\n').nodes[0]!;
    assert.deepEqual([n.args, n.json], [args, json], line);
  }
  const e = parseError('FROM x\nCMD ["a", 1]\n');
  assert.equal(e.message, 'dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only');
});

test('line continuations, comments and empty lines inside them ([ref] Format)', () => {
  const nodes = parseDockerfileAst([
    'FROM x',
    'RUN echo hello \\',
    '# comment',
    'world',
    '        # this is a comment-line',
    '    RUN echo hello',
    'RUN echo "\\',
    '     hello\\',
    '     world"',
    'RUN a \\',
    '',
    '   ',
    '  b',
    'RUN echo \\\\',
    'RUN last \\',
  ].join('\n')).nodes;
  assert.deepEqual(nodes.map((n) => n.args[0] ?? ''), [
    'x',
    'echo hello world',
    'echo hello',
    'echo "     hello     world"',
    'a   b',
    'echo \\\\', // an escaped escape does not continue the line
    'last', // args are trimmed
  ]);
  assert.deepEqual(nodes.map((n) => [n.startLine, n.endLine]), [[1, 1], [2, 4], [6, 6], [7, 9], [10, 13], [14, 14], [15, 15]]);
  const r = parseDockerfileAst('FROM x\nRUN a \\\n\n b\n');
  assert.deepEqual(r.warnings, ['Empty continuation line found in: RUN a  b']);
});

test("a '#' not at the start of a line is an argument ([ref] Format)", () => {
  const n = parseDockerfileAst("FROM x\nRUN echo 'we are running some # of cool things'\n").nodes[1]!;
  assert.deepEqual(n.args, ["echo 'we are running some # of cool things'"]);
});

test('parser directives: only at the top, before any comment, empty line or instruction ([ref])', () => {
  const at = (text: string) => parseDockerfileAst(text);
  assert.deepEqual(at('# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n').directives, { syntax: 'docker/dockerfile:1', escape: '`' });
  assert.deepEqual(at('#\t  dIrEcTiVe=value\n# ESCAPE = ` \nFROM x\n').directives, {}); // unknown directive ends the search
  assert.deepEqual(at('#\t  EsCaPe =`\nFROM x\n').directives, { escape: '`' });
  assert.deepEqual(at('# About my dockerfile\n# escape=`\nFROM x\n').directives, {});
  assert.deepEqual(at('\n# escape=`\nFROM x\n').directives, {});
  assert.deepEqual(at('FROM x\n# escape=`\n').directives, {});
  assert.equal(at('FROM x\n# escape=`\nRUN a \\\nb\n').nodes[1]!.args[0], 'a b');
  const dup = parseError('# escape=\\\n# escape=`\nFROM x\n');
  assert.equal(dup.message, 'dockerfile parse error on line 2: only one escape parser directive can be used');
  const bad = parseError('# escape=x\nFROM x\n');
  assert.equal(bad.message, "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\");
});

test('the backtick escape: Windows paths keep their backslashes ([ref] escape)', () => {
  const withBacktick = parseDockerfileAst('# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\nRUN a `\n  b\n').nodes;
  assert.deepEqual(withBacktick.map(dump), [
    '(from "microsoft/nanoserver")',
    '(copy "testfile.txt" "c:\\\\")',
    '(run "dir c:\\\\")',
    '(run "a   b")',
  ]);
  // with the default escape the trailing backslash of "dir c:\" continues the line
  const def = parseDockerfileAst('FROM microsoft/nanoserver\nRUN dir c:\\\nCMD x\n').nodes;
  assert.deepEqual(def.map(dump), ['(from "microsoft/nanoserver")', '(run "dir c:CMD x")']);
});

test('instruction flags as the parser yields them (quotes removed, repeated --mount kept)', () => {
  const nodes = parseDockerfileAst([
    'FROM --platform=$BUILDPLATFORM golang:1.22 AS build',
    'COPY --from=build --chown="app:app" --chmod=0755 --link /out/app /usr/bin/',
    'RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=.,target=/src --network=none go build',
    'COPY -- --odd-name /dst',
    'ADD --keep-git-dir=true --checksum=sha256:abc https://example.com/x.tar /x',
  ].join('\n')).nodes;
  assert.deepEqual(nodes.map((n) => n.flags), [
    ['--platform=$BUILDPLATFORM'],
    ['--from=build', '--chown=app:app', '--chmod=0755', '--link'],
    ['--mount=type=cache,target=/root/.cache', '--mount=type=bind,source=.,target=/src', '--network=none'],
    [],
    ['--keep-git-dir=true', '--checksum=sha256:abc'],
  ]);
  assert.deepEqual(nodes[3]!.args, ['--odd-name', '/dst']);
});

test('[bk-heredoc] heredocs: names, bodies, <<- , quoting and expansion', () => {
  const text = [
    'FROM alpine:3.6', 'RUN <<EMPTY', 'EMPTY', 'RUN 3<<EMPTY2', 'EMPTY2', 'RUN "<<NOHEREDOC"',
    'RUN <<INDENT', '\tfoo', '\tbar', 'INDENT',
    'RUN <<-UNINDENT2', '\tbaz', '\tquux', '\tUNINDENT2',
    "RUN <<-'NOEXPAND'", "\tdon't expand $NAME", 'NOEXPAND',
    'RUN <<COMMENT', '# internal comment', 'echo foo bar # trailing comment', 'COMMENT',
    'RUN --mount=type=cache,target=/foo <<MOUNT', 'echo hello', 'MOUNT',
    'COPY <<FILE1 <<FILE2 /dest', 'content 1', 'FILE1', 'content 2', 'FILE2',
    'COPY <<X <<Y /dest', 'Y', 'X', 'X', 'Y',
    'RUN <<COMPLEX python3', "print('hello world')", 'COMPLEX',
    "RUN <<eo'f'", 'echo foo', 'eof',
    "RUN <<eo\\'f", 'echo foo', "eo'f",
    "RUN <<'one two'", 'echo bar', 'one two',
    'RUN <<$EOF', '$EOF',
    'RUN <<  EOF  > foo', 'EOF',
    'RUN << -EOF', '-EOF',
    'RUN ["<<EOF"]',
    'CMD <<EOF',
  ].join('\n') + '\n';
  const nodes = parseDockerfileAst(text).nodes.slice(1);
  const docs = nodes.map((n) => n.heredocs.map((h) => [h.name, h.content, h.expand, h.chomp, h.fileDescriptor]));
  assert.deepEqual(docs, [
    [['EMPTY', '', true, false, 0]],
    [['EMPTY2', '', true, false, 3]],
    [],
    [['INDENT', '\tfoo\n\tbar\n', true, false, 0]],
    [['UNINDENT2', '\tbaz\n\tquux\n', true, true, 0]],
    [['NOEXPAND', "\tdon't expand $NAME\n", false, true, 0]],
    [['COMMENT', '# internal comment\necho foo bar # trailing comment\n', true, false, 0]],
    [['MOUNT', 'echo hello\n', true, false, 0]],
    [['FILE1', 'content 1\n', true, false, 0], ['FILE2', 'content 2\n', true, false, 0]],
    [['X', 'Y\n', true, false, 0], ['Y', 'X\n', true, false, 0]],
    [['COMPLEX', "print('hello world')\n", true, false, 0]],
    [['eof', 'echo foo\n', false, false, 0]],
    [["eo'f", 'echo foo\n', true, false, 0]],
    [['one two', 'echo bar\n', false, false, 0]],
    [['$EOF', '', true, false, 0]],
    [['EOF', '', true, false, 0]],
    [['-EOF', '', true, false, 0]],
    [], // JSON form has no heredocs
    [], // CMD does not take heredocs
  ]);
  // endLine covers the heredoc body
  assert.deepEqual([nodes[3]!.startLine, nodes[3]!.endLine], [7, 10]);
});

test('[bk-heredoc] parseHeredoc helper: valid, invalid and non-heredoc words', () => {
  for (const w of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"', '<< EOF', '<<- EOF']) {
    assert.equal(parseHeredoc(w)?.name, 'EOF', w);
  }
  for (const w of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh']) assert.equal(parseHeredoc(w), undefined, w);
  for (const w of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) assert.throws(() => parseHeredoc(w), w);
});

test('heredoc instructions: typed COPY/RUN contents, <<- strips tabs, JSON output', () => {
  const df = parseDockerfile('FROM x\nCOPY --chmod=644 <<-EOT /etc/motd\n\tHello\n\t\tnested\n\tEOT\nRUN <<EOF bash\nset -e\necho hi\nEOF\n');
  const copy = df.stages[0]!.commands[0] as CopyInstruction;
  assert.deepEqual(copy.sources, []);
  assert.deepEqual(copy.contents, [{ name: 'EOT', data: 'Hello\nnested\n', expand: true, chomp: true }]);
  assert.equal(copy.dest, '/etc/motd');
  const run = df.stages[0]!.commands[1] as RunInstruction;
  assert.deepEqual(run.command, ['<<EOF bash']);
  assert.deepEqual(run.files, [{ name: 'EOF', data: 'set -e\necho hi\n', expand: true, chomp: false }]);
  assert.equal(parseError('FROM x\nCOPY a <<EOF\nx\nEOF\n').message, 'dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination');
});

test('errors name the line like Docker', () => {
  const cases: [string, string][] = [
    ['FROM x\nRUN a\nFOO bar\n', 'dockerfile parse error on line 3: unknown instruction: FOO'],
    ['FROM x\nRUN a\nfoo bar\n', 'dockerfile parse error on line 3: unknown instruction: foo'],
    ['FROM x\nRUN <<EOF\necho hi\n', 'dockerfile parse error on line 2: unterminated heredoc'],
    ['FROM x\nCOPY <<A <<B /d\na\nA\n', 'dockerfile parse error on line 2: unterminated heredoc'],
    ['FROM x\nCOPY --fromm=a b c\n', 'dockerfile parse error on line 2: unknown flag: fromm (did you mean from?)'],
    ['FROM x\nCOPY --bogus=a b c\n', 'dockerfile parse error on line 2: unknown flag: bogus'],
    ['FROM x\nRUN --mount=type=cache,target=/a \\\n  --nope=1 true\n', 'dockerfile parse error on line 2: unknown flag: nope'],
    ['FROM x\nCOPY --from=a --from=b c d\n', 'dockerfile parse error on line 2: duplicate flag specified: from'],
    ['FROM x\nCOPY --from a b\n', 'dockerfile parse error on line 2: missing a value on flag: from'],
    ['FROM x\nCOPY --link=maybe a b\n', 'dockerfile parse error on line 2: expecting boolean value for flag link, not: maybe'],
    ['FROM x\nCOPY --link= a b\n', 'dockerfile parse error on line 2: missing a value on flag: link'],
    ['FROM x\nENV a\n', 'dockerfile parse error on line 2: ENV must have two arguments'],
    ['FROM x\nLABEL a\n', 'dockerfile parse error on line 2: LABEL must have two arguments'],
    ['FROM x\nENV a=1 b\n', 'dockerfile parse error on line 2: Syntax error - can\'t find = in "b". Must be of the form: name=value'],
    ['FROM x\nENV =1\n', 'dockerfile parse error on line 2: ENV names can not be blank'],
    ['FROM x\nENV\n', 'dockerfile parse error on line 2: ENV requires at least one argument'],
    ['FROM x\nARG =v\n', 'dockerfile parse error on line 2: ARG names can not be blank'],
    ['FROM x\nARG\n', 'dockerfile parse error on line 2: ARG requires at least one argument'],
    ['FROM a b\n', 'dockerfile parse error on line 1: FROM requires either one or three arguments'],
    ['FROM\n', 'dockerfile parse error on line 1: FROM requires either one or three arguments'],
    ['FROM a AS 1st\n', 'dockerfile parse error on line 1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols'],
    ['FROM x\nCOPY onlyone\n', 'dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['FROM x\nADD onlyone\n', 'dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['FROM x\nWORKDIR\n', 'dockerfile parse error on line 2: WORKDIR requires exactly one argument'],
    ['FROM x\nUSER\n', 'dockerfile parse error on line 2: USER requires exactly one argument'],
    ['FROM x\nEXPOSE\n', 'dockerfile parse error on line 2: EXPOSE requires at least one argument'],
    ['FROM x\nVOLUME []\n', 'dockerfile parse error on line 2: VOLUME requires at least one argument'],
    ['FROM x\nVOLUME [""]\n', 'dockerfile parse error on line 2: VOLUME specified can not be an empty string'],
    ['FROM x\nSHELL /bin/sh -c\n', 'dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form'],
    ['FROM x\nSHELL []\n', 'dockerfile parse error on line 2: SHELL requires at least one argument'],
    ['FROM x\nONBUILD ONBUILD RUN x\n', "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ['FROM x\nONBUILD FROM y\n', "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"],
    ['FROM x\nONBUILD\n', 'dockerfile parse error on line 2: ONBUILD requires at least one argument'],
    ['FROM x\nHEALTHCHECK\n', 'dockerfile parse error on line 2: HEALTHCHECK requires at least one argument'],
    ['FROM x\nHEALTHCHECK NONE x\n', 'dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments'],
    ['FROM x\nHEALTHCHECK CONNECT TCP 7000\n', 'dockerfile parse error on line 2: Unknown type "CONNECT" in HEALTHCHECK (try CMD)'],
    ['FROM x\nHEALTHCHECK CMD\n', 'dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD'],
    ['FROM x\nHEALTHCHECK --retries=0 CMD true\n', 'dockerfile parse error on line 2: --retries must be at least 1 (not 0)'],
    ['FROM x\nHEALTHCHECK --interval=1us CMD true\n', 'dockerfile parse error on line 2: Interval "interval" cannot be less than 1ms'],
    ['FROM x\nHEALTHCHECK --timeout=5 CMD true\n', 'dockerfile parse error on line 2: time: missing unit in duration "5"'],
    ['FROM x\nHEALTHCHECK --timeout=5x CMD true\n', 'dockerfile parse error on line 2: time: unknown unit "x" in duration "5x"'],
    ['FROM x\nHEALTHCHECK --unknown=1 CMD true\n', 'dockerfile parse error on line 2: unknown flag: unknown'],
    ['FROM x\nRUN --network=bridge true\n', 'dockerfile parse error on line 2: unsupported network mode "bridge"'],
    ['FROM x\nRUN --mount=type=nfs,target=/x true\n', 'dockerfile parse error on line 2: unsupported mount type "nfs"'],
    ['FROM x\nRUN --mount=target=/x,foo=bar true\n', "dockerfile parse error on line 2: unexpected key 'foo' in 'foo=bar'"],
    ['FROM x\nRUN --mount=type=bind,target=/x,sharing=locked true\n', 'dockerfile parse error on line 2: invalid cache sharing set for bind mount'],
    ['RUN echo before from\n', 'dockerfile parse error on line 1: no build stage in current context'],
    ['FROM scratch AS a\nFROM scratch AS A\n', 'dockerfile parse error on line 2: a stage name already used'],
    ['# only a comment\n\n', 'file with no instructions'],
    ['', 'the Dockerfile (Dockerfile) cannot be empty'],
  ];
  for (const [text, message] of cases) assert.equal(parseError(text).message, message, JSON.stringify(text));
  // a misspelt instruction gets Docker's hint
  assert.match(parseError('FORM alpine\n').message, /^dockerfile parse error on line 1: unknown instruction: FORM \(did you mean FROM\?\)$/);
  // a multi-line instruction reports its first line
  const e = parseError('FROM x\nRUN a \\\n  b\nCOPY \\\n  --nope=1 a b\n');
  assert.equal(e.line, 4);
  assert.equal(e.endLine, 5);
  assert.equal(e.message, 'dockerfile parse error on line 4: unknown flag: nope');
});

test('HEALTHCHECK NONE ignores flags; durations are nanoseconds like the Engine API', () => {
  const df = parseDockerfile('FROM x\nHEALTHCHECK --interval=5s NONE\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1h --start-interval=2s --retries=3 CMD ["curl", "-f", "http://localhost/"]\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n');
  const [none, full, shell] = df.stages[0]!.commands as HealthcheckInstruction[];
  assert.deepEqual(none!.health, { test: ['NONE'] });
  assert.deepEqual(full!.health, {
    test: ['CMD', 'curl', '-f', 'http://localhost/'],
    interval: 90e9, timeout: 500e6, startPeriod: 3600e9, startInterval: 2e9, retries: 3,
  });
  assert.deepEqual(shell!.health.test, ['CMD-SHELL', 'curl -f http://localhost/ || exit 1']);
});

test('typed instructions carry what the builder needs', () => {
  const df = parseDockerfile([
    'ARG GO=1.22',
    'FROM --platform=linux/amd64 golang:${GO} AS Build',
    'RUN --mount=type=cache,target=/root/.cache,id=go,sharing=locked --mount=type=secret,id=tok,required --mount=type=tmpfs,target=/tmp,size=64m --network=host go build',
    'FROM scratch AS final',
    'COPY --from=build --chown=1000:1000 --chmod=755 --link --parents --exclude=*.md --exclude=tmp /out/app ./cfg /usr/local/bin/',
    'ADD --unpack=false --checksum=sha256:0123 https://example.com/a.tgz /opt/',
    'EXPOSE 8080/udp 80',
    'ENTRYPOINT ["/app"]',
    'CMD echo $HOME',
  ].join('\n'));
  assert.deepEqual(df.metaArgs.map((a) => a.args), [[{ key: 'GO', value: '1.22' }]]);
  assert.deepEqual(df.stages.map((s) => [s.name, s.index, s.baseName, s.platform]), [['build', 0, 'golang:${GO}', 'linux/amd64'], ['final', 1, 'scratch', undefined]]);
  const run = df.stages[0]!.commands[0] as RunInstruction;
  assert.equal(run.network, 'host');
  assert.deepEqual(run.mounts, [
    { type: 'cache', readOnly: false, required: false, target: '/root/.cache', id: 'go', sharing: 'locked' },
    { type: 'secret', readOnly: true, required: true, id: 'tok' },
    { type: 'tmpfs', readOnly: false, required: false, target: '/tmp', size: 64 * 1024 * 1024 },
  ]);
  assert.deepEqual(run.flagsUsed, ['mount', 'network']);
  const copy = df.stages[1]!.commands[0] as CopyInstruction;
  assert.deepEqual(
    [copy.from, copy.chown, copy.chmod, copy.link, copy.parents, copy.excludes, copy.sources, copy.dest],
    ['build', '1000:1000', '755', true, true, ['*.md', 'tmp'], ['/out/app', './cfg'], '/usr/local/bin/'],
  );
  const add = df.stages[1]!.commands[1] as AddInstruction;
  assert.deepEqual([add.unpack, add.checksum, add.keepGitDir, add.link], [false, 'sha256:0123', false, false]);
  assert.deepEqual((df.stages[1]!.commands[2] as { ports: string[] }).ports, ['80', '8080/udp']); // Docker sorts them
  const [entry, cmd] = df.stages[1]!.commands.slice(3) as { command: string[]; prependShell: boolean }[];
  assert.deepEqual([entry!.command, entry!.prependShell], [['/app'], false]);
  assert.deepEqual([cmd!.command, cmd!.prependShell], [['echo $HOME'], true]);
});

test('RUN --mount defaults: bind is read-only unless rw, cache/tmpfs writable', () => {
  assert.deepEqual(parseRunMount('target=/src'), { type: 'bind', readOnly: true, required: false, target: '/src' });
  assert.deepEqual(parseRunMount('type=bind,source=a,target=/b,rw'), { type: 'bind', readOnly: false, required: false, source: 'a', target: '/b' });
  assert.deepEqual(parseRunMount('type=cache,target=/c,ro,mode=0700,uid=1,gid=2,from=base'), {
    type: 'cache', readOnly: true, required: false, target: '/c', mode: 0o700, uid: 1, gid: 2, from: 'base',
  });
  assert.throws(() => parseRunMount('type=bind,target=/x,mode=755'), /mode not allowed for "bind" type mounts/);
  assert.throws(() => parseRunMount('type=bind,required'), /unexpected key 'required' for mount type 'bind'/);
  assert.throws(() => parseRunMount('type=secret'), /invalid secret mount/);
});

test('multi-stage: stages needed for a target, by name or index', () => {
  const df = parseDockerfile([
    'FROM alpine AS base', 'RUN true',
    'FROM base AS deps', 'RUN true',
    'FROM golang AS unused', 'RUN true',
    'FROM alpine AS tools',
    'FROM deps AS final', 'COPY --from=3 /x /x', 'RUN --mount=type=bind,from=tools,target=/t true',
    'FROM final AS other', 'COPY --from=nginx:latest /etc/nginx /etc/nginx',
  ].join('\n'));
  assert.deepEqual(stagesNeeded(df.stages, 'final').map((s) => s.name), ['base', 'deps', 'tools', 'final']);
  assert.deepEqual(stagesNeeded(df.stages).map((s) => s.name), ['base', 'deps', 'tools', 'final', 'other']);
  assert.deepEqual(stagesNeeded(df.stages, 'unused').map((s) => s.name), ['unused']);
  assert.equal(findStage(df.stages, 'DEPS')?.index, 1);
  assert.equal(findStage(df.stages, '2')?.name, 'unused');
  assert.equal(findStage(df.stages, 'nginx:latest'), undefined);
  assert.throws(() => stagesNeeded(df.stages, 'nope'), { message: 'failed to reach build target nope in Dockerfile' });
  const withArg = parseDockerfile('ARG B=base\nFROM alpine AS base\nFROM other AS x\nFROM ${B} AS final\n');
  assert.deepEqual(stagesNeeded(withArg.stages, 'final', (s) => s.baseName.replace('${B}', 'base')).map((s) => s.name), ['base', 'final']);
});

test('a UTF-8 BOM and CRLF line endings are accepted', () => {
  const nodes = parseDockerfileAst('\uFEFFFROM x\r\nRUN a \\\r\n  b\r\nCOPY <<EOF /f\r\nline\r\nEOF\r\n').nodes;
  assert.deepEqual(nodes.map(dump), ['(from "x")', '(run "a   b")', '(copy "<<EOF" "/f")']);
  assert.equal(nodes[2]!.heredocs[0]!.content, 'line\r\n');
});

test('berth dockerfile parse prints the JSON document and refuses bad files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-df-'));
  try {
    const run = async (args: string[]) => {
      const out = new PassThrough();
      const err = new PassThrough();
      let o = '';
      let e = '';
      out.on('data', (d) => (o += d));
      err.on('data', (d) => (e += d));
      const code = await runDockerfileParse(args, out, err);
      return { code, out: o, err: e };
    };
    const good = join(dir, 'Dockerfile');
    writeFileSync(good, '# syntax=docker/dockerfile:1\nFROM busybox AS b\nCOPY --from=b <<-"EOF" /f\n\thi $X\n\tEOF\nENV k=v\nCMD ["sh"]\n');
    const r = await run([good]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      directives: { syntax: 'docker/dockerfile:1' },
      instructions: [
        { instruction: 'from', flags: [], args: ['busybox', 'AS', 'b'], json: false, heredocs: [], startLine: 2, endLine: 2 },
        { instruction: 'copy', flags: ['--from=b'], args: ['<<-"EOF"', '/f'], json: false, heredocs: [{ name: 'EOF', content: 'hi $X\n', expand: false, chomp: true }], startLine: 3, endLine: 5 },
        { instruction: 'env', flags: [], args: ['k=v'], json: false, heredocs: [], startLine: 6, endLine: 6 },
        { instruction: 'cmd', flags: [], args: ['sh'], json: true, heredocs: [], startLine: 7, endLine: 7 },
      ],
    });
    const bad = join(dir, 'Bad.Dockerfile');
    writeFileSync(bad, 'FROM x\nRUN ok\nFOO bar\n');
    const b = await run([bad]);
    assert.equal(b.code, 1);
    assert.equal(b.out, '');
    assert.equal(b.err, 'dockerfile parse error on line 3: unknown instruction: FOO\n');
    const missing = await run([join(dir, 'nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no such file or directory/);
    const two = await run([good, bad]);
    assert.equal(two.code, 125);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
