// Variable expansion and word splitting, compared with Docker's shell lexer.
// Cases marked [envVarTest] are the expectations of moby's builder/dockerfile/shell/envVarTest
// (env PWD=/home SHELL=bash KOREAN=한국어); [ref] cases come from the Dockerfile reference
// ("Environment replacement"); others follow buildkit's frontend/dockerfile/shell behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ShellLex, BuildArgs, expandInstruction, expansionEnv, expandFrom, applyMetaArgs, parseDockerfile,
  expandHeredocContent, runHeredocCommand, PREDEFINED_ARGS, platformArgs, ShellExpansionError, parseOnbuildTriggers,
  commitMessage, nopCreatedBy, runCommandWithBuildArgs, formatGoDuration, resolveWorkdir, exposedPortKeys, parseSignal,
  type EnvInstruction, type ExposeInstruction, type CopyInstruction, type RunInstruction,
} from '../../src/build/dockerfile/index.js';

const ENV = ['PWD=/home', 'SHELL=bash', 'KOREAN=한국어'];

// [source, expected or null for an error]
const envVarTest: [string, string | null][] = [
  ['hello', 'hello'],
  ["he'll'o", 'hello'],
  ["he'llo", null],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", null],
  ['abc\\tdef', 'abctdef'],
  ['"abc\\tdef"', 'abc\\tdef'],
  ['"abc\\\\tdef"', 'abc\\tdef'],
  ["'abc\\tdef'", 'abc\\tdef'],
  ['hello\\', 'hello'],
  ['hello\\\\', 'hello\\'],
  ['"hello', null],
  ['"hello\\"', null],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", null],
  ["'hello\\'", 'hello\\'],
  ["'hello\\there'", 'hello\\there'],
  ["'hello\\\\there'", 'hello\\\\there'],
  ['"\'\'"', "''"],
  ['$.', '$.'],
  ['$1', ''],
  ['he$1x', 'hex'],
  ['he$.x', 'he$.x'],
  ['he$pwd.', 'he.'],
  ['he$PWD', 'he/home'],
  ['he\\$PWD', 'he$PWD'],
  ['he\\\\$PWD', 'he\\/home'],
  ['"he\\$PWD"', 'he$PWD'],
  ['"he\\\\$PWD"', 'he\\/home'],
  ['\\${}', '${}'],
  ['\\${}aaa', '${}aaa'],
  ['he\\${}', 'he${}'],
  ['he\\${}xx', 'he${}xx'],
  ['${}', null],
  ['${}aaa', null],
  ['he${}', null],
  ['he${}xx', null],
  ['he${hi}', 'he'],
  ['he${hi}xx', 'hexx'],
  ['he${PWD}', 'he/home'],
  ['he${.}', null],
  ['he${XXX:-000}xx', 'he000xx'],
  ['he${PWD:-000}xx', 'he/homexx'],
  ['he${XXX:-$PWD}xx', 'he/homexx'],
  ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
  ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
  ['he${XXX:YYY}', null],
  ['he${XXX:+${PWD}}xx', 'hexx'],
  ['he${PWD:+${XXX}}xx', 'hexx'],
  ['he${PWD:+${SHELL}}xx', 'hebashxx'],
  ['he${XXX:+000}xx', 'hexx'],
  ['he${PWD:+000}xx', 'he000xx'],
  ["'he${XX}'", 'he${XX}'],
  ['"he${PWD}"', 'he/home'],
  ['"he\'$PWD\'"', "he'/home'"],
  ['"$PWD"', '/home'],
  ["'$PWD'", '$PWD'],
  ["'\\$PWD'", '\\$PWD'],
  ["'\"hello\"'", '"hello"'],
  ["'he\\$PWD'", 'he\\$PWD'],
  ['he${PWD', null],
  ['he${PWD:=000}xx', null],
  ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
  ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
  ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
  ['안녕하세요', '안녕하세요'],
  ["안'녕'하세요", '안녕하세요'],
  ["안'녕하세요", null],
  ['안녕$KOREAN', '안녕한국어'],
  ['안녕${XXX:-${YYY:-yyy}}xx', '안녕yyyxx'],
  ['${{aaa}', null],
  ['${aaa}}', '}'],
  ['${aaa', null],
  ['${{aaa:-bbb}', null],
  ['${aaa:-bbb}}', 'bbb}'],
  ['${aaa:-bbb', null],
  ['${aaa:-bbb}', 'bbb'],
  ['${aaa:-${bbb:-ccc}}', 'ccc'],
  ['${aaa:-bbb ${foo}', null],
  ['${aaa:-bbb {foo}', 'bbb {foo'],
  ['${:}', null],
  ['${:-bbb}', null],
  ['${:+bbb}', null],
];

test('processWord matches the envVarTest table', () => {
  const lex = new ShellLex('\\');
  for (const [src, want] of envVarTest) {
    if (want === null) {
      assert.throws(() => lex.processWord(src, ENV), ShellExpansionError, `expected an error for ${src}`);
    } else {
      assert.equal(lex.processWord(src, ENV), want, `source ${src}`);
    }
  }
});

test('set-but-empty versus unset: - + ? with and without colon', () => {
  const lex = new ShellLex();
  const env = { EMPTY: '', SET: 'v' };
  const cases: [string, string][] = [
    ['${EMPTY:-w}', 'w'], ['${EMPTY-w}', ''], ['${UNSET-w}', 'w'], ['${SET-w}', 'v'],
    ['${EMPTY:+w}', ''], ['${EMPTY+w}', 'w'], ['${UNSET+w}', ''], ['${SET:+w}', 'w'],
    ['${SET:?boom}', 'v'], ['${EMPTY?boom}', ''],
  ];
  for (const [src, want] of cases) assert.equal(lex.processWord(src, env), want, src);
  assert.throws(() => lex.processWord('${UNSET?}', env), { message: 'failed to process "${UNSET?}": UNSET: is not allowed to be unset' });
  assert.throws(() => lex.processWord('${UNSET:?custom msg}', env), { message: 'failed to process "${UNSET:?custom msg}": UNSET: custom msg' });
  assert.throws(() => lex.processWord('${EMPTY:?}', env), { message: 'failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty' });
  assert.throws(() => lex.processWord('${SET:#x}', env), /unsupported modifier \(:#\) in substitution/);
  assert.throws(() => lex.processWord('${SET', env), /syntax error: missing '}'/);
  assert.throws(() => lex.processWord('${}', env), /syntax error: bad substitution/);
});

test('pattern modifiers # ## % %% / // ([ref] examples with str=foobarbaz)', () => {
  const lex = new ShellLex();
  const env = { str: 'foobarbaz', path: '/usr/local/bin/tool.tar.gz', star: 'a*b*c' };
  const cases: [string, string][] = [
    ['${str#f*b}', 'arbaz'], // [ref]
    ['${str##f*b}', 'az'], // [ref]
    ['${str%b*}', 'foobar'], // [ref]
    ['${str%%b*}', 'foo'], // [ref]
    ['${str/ba/fo}', 'fooforbaz'], // [ref]
    ['${str//ba/fo}', 'fooforfoz'], // [ref]
    ['${str#nomatch}', 'foobarbaz'],
    ['${str/o?/X}', 'fXbarbaz'],
    ['${path##*/}', 'tool.tar.gz'],
    ['${path%/*}', '/usr/local/bin'],
    ['${path%.*}', '/usr/local/bin/tool.tar'],
    ['${path%%.*}', '/usr/local/bin/tool'],
    ['${path#/usr/}', 'local/bin/tool.tar.gz'],
    ['${star//\\*/-}', 'a-b-c'],
    ['${unset#x}', ''],
    ['${str//o/$str}', 'ffoobarbazfoobarbazbarbaz'],
    ['${path//*/X}', 'X'], // like Go's ReplaceAll (and bash): no extra empty match at the end
    ['${str//?/-}', '---------'],
    ['${str//b/}', 'fooaraz'],
  ];
  for (const [src, want] of cases) assert.equal(lex.processWord(src, env), want, src);
  assert.throws(() => lex.processWord('${str/ba', env), /missing '\/' in \$\{\}/);
});

test('processWords splits unquoted whitespace after expansion, keeps quoted and escaped spaces', () => {
  const lex = new ShellLex();
  const env = { foo: 'bar', spaced: 'a  b', tricky: ' x ' };
  const cases: [string, string[]][] = [
    ['test1', ['test1']],
    ['test1 test2', ['test1', 'test2']],
    ['test1  \t test2', ['test1', 'test2']],
    ['"test1 test2"', ['test1 test2']],
    ["'test1 test2'", ['test1 test2']],
    ['test1\\ test2', ['test1 test2']],
    ['$foo', ['bar']],
    ['$spaced', ['a', 'b']],
    ['"$spaced"', ['a  b']],
    ['x${tricky}y', ['x', 'x', 'y']],
    ['a${foo:-b c}d', ['abard']],
    ['""', []],
    ['', []],
  ];
  for (const [src, want] of cases) assert.deepEqual(lex.processWords(src, env), want, src);
});

test('the backtick escape token escapes like a backslash', () => {
  const lex = new ShellLex('`');
  assert.equal(lex.processWord('C:\\path\\`$x', { x: 'y' }), 'C:\\path\\$x');
  assert.equal(lex.processWord('"a`"b"', {}), 'a"b');
  assert.throws(() => new ShellLex('x'), /invalid escape token/);
});

test('matched/unmatched variables are reported (for cache keys and lint)', () => {
  const r = new ShellLex().processWordWithMatches('$A ${B:-x} $C', { A: '1', C: '' });
  assert.equal(r.result, '1 x ');
  assert.deepEqual([...r.matched].sort(), ['A', 'C']);
  assert.deepEqual([...r.unmatched], ['B']);
});

function stagesOf(text: string) {
  return parseDockerfile(text);
}

test('ENV: every value in one instruction sees the env from before it ([ref])', () => {
  const df = stagesOf('FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n');
  const [, second, third] = df.stages[0]!.commands as EnvInstruction[];
  const env1 = new Map([['abc', 'hello']]);
  const e2 = expandInstruction(second!, env1);
  assert.deepEqual(e2.env.map((kv) => [kv.key, kv.value]), [['abc', 'bye'], ['def', 'hello']]);
  const e3 = expandInstruction(third!, new Map([['abc', 'bye'], ['def', 'hello']]));
  assert.equal(e3.env[0]!.value, 'bye');
});

test('quotes are removed by expansion in ENV and LABEL values', () => {
  const df = stagesOf('FROM x\nENV a="two words" b=\'$lit\' c=un\\ quoted\nLABEL "com.example.vendor"="ACME Inc" version=1.0\nENV legacy  value "with" spaces\n');
  const [env, label, legacy] = df.stages[0]!.commands;
  const e = expandInstruction(env as EnvInstruction, {});
  assert.deepEqual(e.env.map((kv) => kv.value), ['two words', '$lit', 'un quoted']);
  const l = expandInstruction(label!, {});
  assert.deepEqual((l as { labels: { key: string; value: string }[] }).labels.map((kv) => [kv.key, kv.value]), [['com.example.vendor', 'ACME Inc'], ['version', '1.0']]);
  const g = expandInstruction(legacy as EnvInstruction, {});
  assert.deepEqual(g.env.map((kv) => [kv.key, kv.value, kv.noDelim]), [['legacy', 'value with spaces', true]]);
});

test('which instructions expand: [ref] WORKDIR/ADD/COPY do, \\$ escapes, RUN/CMD/ENTRYPOINT do not', () => {
  const df = stagesOf([
    'FROM busybox',
    'ENV FOO=/bar',
    'WORKDIR ${FOO}',
    'ADD . $FOO',
    'COPY \\$FOO /quux',
    'COPY --chown=$U:$G --chmod=$M src/$F $FOO/',
    'RUN echo $FOO',
    'CMD echo $FOO',
    'ENTRYPOINT ["echo", "$FOO"]',
    'USER ${U:-nobody}',
    'VOLUME $FOO/data ["unused"]',
    'STOPSIGNAL $SIG',
    'EXPOSE $PORTS 8080/udp',
    'ONBUILD RUN echo $FOO',
    'HEALTHCHECK CMD echo $FOO',
  ].join('\n') + '\n');
  const env = new Map([['FOO', '/bar'], ['U', 'app'], ['G', 'grp'], ['M', '0755'], ['F', 'main.c'], ['SIG', 'SIGQUIT'], ['PORTS', '80 443/tcp']]);
  const x = df.stages[0]!.commands.map((c) => expandInstruction(c, env));
  assert.equal((x[1] as { path: string }).path, '/bar');
  assert.deepEqual([(x[2] as CopyInstruction).sources, (x[2] as CopyInstruction).dest], [['.'], '/bar']);
  assert.deepEqual([(x[3] as CopyInstruction).sources, (x[3] as CopyInstruction).dest], [['$FOO'], '/quux']);
  const c = x[4] as CopyInstruction;
  assert.deepEqual([c.chown, c.chmod, c.sources, c.dest], ['app:grp', '0755', ['src/main.c'], '/bar/']);
  assert.deepEqual((x[5] as RunInstruction).command, ['echo $FOO']);
  assert.deepEqual((x[6] as { command: string[] }).command, ['echo $FOO']);
  assert.deepEqual((x[7] as { command: string[] }).command, ['echo', '$FOO']);
  assert.equal((x[8] as { user: string }).user, 'app');
  assert.deepEqual((x[9] as { volumes: string[] }).volumes, ['/bar/data', '[unused]']);
  assert.equal((x[10] as { signal: string }).signal, 'SIGQUIT');
  // EXPOSE is the one instruction whose expansion may produce several words
  assert.deepEqual((x[11] as ExposeInstruction).ports, ['80', '443/tcp', '8080/udp']);
  assert.equal((x[12] as { expression: string }).expression, 'RUN echo $FOO');
  assert.deepEqual((x[13] as { health: { test: string[] } }).health.test, ['CMD-SHELL', 'echo $FOO']);
});

test('RUN --mount values are expanded at build time', () => {
  const df = stagesOf('FROM x\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE,id=${ID:-pip} pip install .\n');
  const run = df.stages[0]!.commands[1] as RunInstruction;
  const e = expandInstruction(run, { CACHE: '/root/.cache' });
  assert.deepEqual(e.mounts[0], { type: 'cache', readOnly: false, required: false, target: '/root/.cache', id: 'pip' });
});

test('ARG scoping: global ARGs only reach FROM unless redeclared; --build-arg overrides defaults ([ref] ARG/FROM)', () => {
  const df = stagesOf([
    'ARG VERSION=latest',
    'ARG BASE=busy${VERSION:+box}',
    'FROM $BASE:${VERSION}',
    'RUN echo $VERSION',
    'FROM alpine:${VERSION} AS second',
    'ARG VERSION',
    'ARG OTHER=x',
  ].join('\n') + '\n');
  const args = BuildArgs.fromRecord({ OTHER: 'from-cli', UNUSED: '1' });
  applyMetaArgs(df.metaArgs, args);
  assert.deepEqual(expandFrom(df.stages[0]!, args), { image: 'busybox:latest', platform: undefined });
  assert.deepEqual(expandFrom(df.stages[1]!, args), { image: 'alpine:latest', platform: undefined });

  // stage 1: VERSION not declared inside the stage: not visible to instructions
  const s1 = args.forNewStage();
  assert.equal(expansionEnv([], s1).get('VERSION'), undefined);

  // stage 2: `ARG VERSION` without a value inherits the global value; --build-arg beats a default
  const s2 = args.forNewStage();
  for (const c of df.stages[1]!.commands) if (c.kind === 'arg') for (const a of c.args) s2.addArg(a.key, a.value);
  const env = expansionEnv(['PATH=/bin'], s2);
  assert.equal(env.get('VERSION'), 'latest');
  assert.equal(env.get('OTHER'), 'from-cli');
  args.mergeReferencedArgs(s1);
  args.mergeReferencedArgs(s2);
  assert.deepEqual(args.unusedOptions(), ['UNUSED']);
});

test('ENV wins over an ARG of the same name; proxies are predefined', () => {
  const args = BuildArgs.fromRecord({ HTTP_PROXY: 'http://p:3128', CONT: 'arg' });
  args.addArg('CONT', 'default');
  assert.deepEqual(args.filterAllowed(['CONT=env']), ['HTTP_PROXY=http://p:3128']);
  const env = expansionEnv(['CONT=env'], args);
  assert.equal(env.get('CONT'), 'env');
  assert.equal(env.get('HTTP_PROXY'), 'http://p:3128');
  assert.equal(args.isReferencedOrNotBuiltin('HTTP_PROXY'), false);
  args.addArg('HTTP_PROXY', undefined);
  assert.equal(args.isReferencedOrNotBuiltin('HTTP_PROXY'), true);
  assert.ok(PREDEFINED_ARGS.includes('no_proxy'));
  assert.deepEqual(Object.fromEntries(platformArgs('linux/arm/v7', 'linux/amd64')), {
    TARGETPLATFORM: 'linux/arm/v7', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7',
    BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
  });
});

test('a FROM that expands to nothing is refused like Docker', () => {
  const df = stagesOf('ARG IMG\nFROM $IMG\n');
  const args = new BuildArgs();
  applyMetaArgs(df.metaArgs, args);
  assert.throws(() => expandFrom(df.stages[0]!, args), { message: 'base name ($IMG) should not be blank' });
});

test('heredoc contents: unquoted delimiter expands variables but keeps quotes; quoted does not expand', () => {
  const df = stagesOf('FROM x\nCOPY <<EOF <<"RAW" /dst/\nhello "$NAME" \'$NAME\'\nEOF\nraw $NAME\nRAW\n');
  const copy = expandInstruction(df.stages[0]!.commands[0] as CopyInstruction, { NAME: 'world' });
  assert.deepEqual(copy.contents.map((c) => [c.name, c.data]), [['EOF', 'hello "world" \'world\'\n'], ['RAW', 'raw $NAME\n']]);
  assert.equal(expandHeredocContent('a=$A b=${B:-dflt}', { A: '1' }), 'a=1 b=dflt');
});

test('RUN heredoc commands are arranged as BuildKit runs them', () => {
  const df = stagesOf('FROM x\nRUN <<EOF\necho one\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN python3 <<PY\nprint(2)\nPY\nRUN echo plain\n');
  const runs = df.stages[0]!.commands as RunInstruction[];
  assert.deepEqual(runHeredocCommand(runs[0]!), { kind: 'script', script: 'echo one\n' });
  assert.deepEqual(runHeredocCommand(runs[1]!), { kind: 'file', name: 'EOF', data: '#!/usr/bin/env python3\nprint(1)\n' });
  assert.deepEqual(runHeredocCommand(runs[2]!), { kind: 'script', script: 'python3 <<PY\nprint(2)\nPY' });
  assert.equal(runHeredocCommand(runs[3]!), undefined);
});

/** Applies config-only instructions the way the classic builder does, to compare with a real image Config. */
function configOf(text: string): Record<string, unknown> {
  const df = parseDockerfile(text);
  const args = new BuildArgs();
  applyMetaArgs(df.metaArgs, args, df.escapeToken);
  const st = args.forNewStage();
  const cfg: Record<string, unknown> & { Env: string[]; Labels: Record<string, string>; ExposedPorts: Record<string, object>; Volumes: Record<string, object> } =
    { Env: [], Labels: {}, ExposedPorts: {}, Volumes: {} };
  let shell = ['/bin/sh', '-c'];
  const onBuild: string[] = [];
  for (const c of df.stages[0]!.commands) {
    const x = expandInstruction(c, expansionEnv(cfg.Env, st), df.escapeToken);
    switch (x.kind) {
      case 'arg': for (const a of x.args) st.addArg(a.key, a.value); break;
      case 'env':
        for (const kv of x.env) cfg.Env = [...cfg.Env.filter((e) => !e.startsWith(kv.key + '=')), `${kv.key}=${kv.value}`];
        break;
      case 'label': for (const kv of x.labels) cfg.Labels[kv.key] = kv.value; break;
      case 'expose': for (const p of x.ports) cfg.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {}; break;
      case 'user': cfg.User = x.user; break;
      case 'volume': for (const v of x.volumes) cfg.Volumes[v] = {}; break;
      case 'stopsignal': cfg.StopSignal = x.signal; break;
      case 'shell': shell = x.shell; cfg.Shell = x.shell; break;
      case 'cmd': cfg.Cmd = x.prependShell ? [...shell, ...x.command] : x.command; break;
      case 'entrypoint': cfg.Entrypoint = x.command === undefined ? undefined : x.prependShell ? [...shell, ...x.command] : x.command; break;
      case 'onbuild': onBuild.push(x.expression); cfg.OnBuild = onBuild; break;
      case 'maintainer': cfg.Author = x.maintainer; break;
      case 'healthcheck': {
        const h = x.health;
        cfg.Healthcheck = { Test: h.test, Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod, Retries: h.retries };
        break;
      }
      default: break;
    }
  }
  return JSON.parse(JSON.stringify(cfg));
}

test('[reference dockerd] ENV/LABEL/EXPOSE/USER/VOLUME/STOPSIGNAL/CMD expand exactly as the classic builder', () => {
  // Expected values recorded from `docker image inspect` after building this file with the
  // reference engine (dockerd 20.10 classic builder), PATH removed from Env.
  const text = [
    'FROM scratch',
    'ARG A=argval',
    'ENV e1=plain e2="two words" e3=\'single $A\' e4=esc\\ aped e5=$A e6=${A}_x e7="${A:-d}" e8=${NOPE:-dflt} e9=${A:+set} e10=\\$A e11="q\\"uote" e12=a\\\\b e13=C:\\\\path e14=\\"x\\" e15=a"b c"d',
    'ENV legacy  some "value" $A   end',
    'LABEL "l 1"="v 1" l2=$A l3=\'$A\'',
    'EXPOSE 80 ${PORT:-443}/tcp',
    'USER ${A}:grp',
    'VOLUME ["/v1", "/$A"]',
    'STOPSIGNAL SIG${S:-TERM}',
    'CMD echo $A',
  ].join('\n') + '\n';
  assert.deepEqual(configOf(text), {
    Env: ['e1=plain', 'e2=two words', 'e3=single $A', 'e4=esc aped', 'e5=argval', 'e6=argval_x', 'e7=argval', 'e8=dflt', 'e9=set',
      'e10=$A', 'e11=q"uote', 'e12=a\\b', 'e13=C:\\path', 'e14="x"', 'e15=ab cd', 'legacy=some value argval   end'],
    Labels: { 'l 1': 'v 1', l2: 'argval', l3: '$A' },
    ExposedPorts: { '443/tcp': {}, '80/tcp': {} },
    Volumes: { '/v1': {}, '/argval': {} },
    User: 'argval:grp',
    StopSignal: 'SIGTERM',
    Cmd: ['/bin/sh', '-c', 'echo $A'],
  });
});

test('[reference dockerd] backtick escape, comments in continuations, ONBUILD, HEALTHCHECK, SHELL, malformed JSON', () => {
  const text = '# escape=`\nFROM scratch\nMAINTAINER  Jane  Doe\n  LABEL a=1 `\n  # a comment inside\n  b=C:\\dir\\ `\n\n    c="x`"y"\n' +
    'ONBUILD   RUN echo  "on build" $HOME\nONBUILD COPY --from=x a b\n' +
    'HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=4 CMD ["curl", "-f", "http://x/"]\n' +
    'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nCMD [\'not\', \'json\']\nENTRYPOINT []\nVOLUME /a /b\nEXPOSE 53/udp 80\n';
  assert.deepEqual(configOf(text), {
    ExposedPorts: { '53/udp': {}, '80/tcp': {} },
    Env: [],
    Cmd: ['/bin/bash', '-o', 'pipefail', '-c', "['not', 'json']"],
    Volumes: { '/a': {}, '/b': {} },
    Labels: { a: '1', b: 'C:\\dir\\', c: 'x"y' },
    Healthcheck: { Test: ['CMD', 'curl', '-f', 'http://x/'], Interval: 90000000000, Timeout: 500000000, StartPeriod: 2000000000, Retries: 4 },
    OnBuild: ['RUN echo  "on build" $HOME', 'COPY --from=x a b'],
    Shell: ['/bin/bash', '-o', 'pipefail', '-c'],
    Author: 'Jane  Doe',
  });
});

test('[reference dockerd] ARG scope, --build-arg, predefined proxies, ENV over ARG', () => {
  // Env recorded from the reference engine for:
  // docker build --build-arg X=cli --build-arg UNUSED=1 --build-arg HTTP_PROXY=http://p
  const df = parseDockerfile('ARG V=1\nARG W=${V}2\nARG IMG=scratch\nFROM ${IMG}\nENV before=$V\nARG V\nARG X=xdef\nARG W\n' +
    'ENV after=$V w=$W x=$X p=$HTTP_PROXY\nENV X=envx\nARG X=again\nENV x2=$X\n');
  const args = BuildArgs.fromRecord({ X: 'cli', UNUSED: '1', HTTP_PROXY: 'http://p' });
  applyMetaArgs(df.metaArgs, args);
  assert.equal(expandFrom(df.stages[0]!, args).image, 'scratch');
  const st = args.forNewStage();
  let env: string[] = [];
  for (const c of df.stages[0]!.commands) {
    const x = expandInstruction(c, expansionEnv(env, st));
    if (x.kind === 'arg') for (const a of x.args) st.addArg(a.key, a.value);
    if (x.kind === 'env') for (const kv of x.env) env = [...env.filter((e) => !e.startsWith(kv.key + '=')), `${kv.key}=${kv.value}`];
  }
  assert.deepEqual(env, ['before=', 'after=1', 'w=12', 'x=cli', 'p=http://p', 'X=envx', 'x2=envx']);
  args.mergeReferencedArgs(st);
  assert.deepEqual(args.unusedOptions(), ['UNUSED']); // Docker warns: [Warning] One or more build-args [UNUSED] were not consumed
});

test('ONBUILD triggers of a base image parse into commands; forbidden triggers are refused', () => {
  const cmds = parseOnbuildTriggers(['RUN echo  "on build" $HOME', 'COPY --from=x a b', 'COPY <<EOF /f\nhello\nEOF'], 3);
  assert.deepEqual(cmds.map((c) => c.kind), ['run', 'copy', 'copy']);
  assert.deepEqual((cmds[2] as CopyInstruction).contents.map((c) => c.data), ['hello\n']);
  assert.equal(cmds[0]!.startLine, 3);
  assert.throws(() => parseOnbuildTriggers(['FROM x']), { message: "FROM isn't allowed as an ONBUILD trigger" });
  assert.throws(() => parseOnbuildTriggers(['FOO bar'], 2), { message: 'dockerfile parse error on line 2: unknown instruction: FOO' });
});

test('[reference dockerd] history CreatedBy of metadata steps and the RUN build-arg prefix', () => {
  const df = parseDockerfile('FROM scratch\nARG V\nMAINTAINER Jane "Doe"\nLABEL a=1 "b c"=\'d e\'\nEXPOSE 80 53/udp\nUSER app\nVOLUME /a /b\n' +
    'STOPSIGNAL SIGTERM\nSHELL ["/bin/bash", "-c"]\nCMD echo "hi"\nENTRYPOINT ["/x", "y z"]\nHEALTHCHECK --interval=5s --retries=3 CMD curl x\n' +
    'HEALTHCHECK NONE\nONBUILD RUN a\nENV k=v k2="a b"\n');
  let shell = ['/bin/sh', '-c'];
  const createdBy: string[] = [];
  for (const c of df.stages[0]!.commands) {
    const x = expandInstruction(c, {});
    if (x.kind === 'shell') shell = x.shell;
    createdBy.push(nopCreatedBy(commitMessage(x, { shell })!, shell));
  }
  // `docker history --no-trunc` of the image the reference engine built (oldest first)
  assert.deepEqual(createdBy, [
    '/bin/sh -c #(nop)  ARG V',
    '/bin/sh -c #(nop)  MAINTAINER Jane "Doe"',
    '/bin/sh -c #(nop)  LABEL a=1 b c=d e',
    '/bin/sh -c #(nop)  EXPOSE 53/udp 80',
    '/bin/sh -c #(nop)  USER app',
    '/bin/sh -c #(nop)  VOLUME [/a /b]',
    '/bin/sh -c #(nop)  STOPSIGNAL SIGTERM',
    '/bin/bash -c #(nop)  SHELL [/bin/bash -c]',
    '/bin/bash -c #(nop)  CMD ["/bin/bash" "-c" "echo \\"hi\\""]',
    '/bin/bash -c #(nop)  ENTRYPOINT ["/x" "y z"]',
    '/bin/bash -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl x"] "5s" "0s" "0s" \'\\x03\'}',
    '/bin/bash -c #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}',
    '/bin/bash -c #(nop)  ONBUILD RUN a',
    '/bin/bash -c #(nop)  ENV k=v k2=a b',
  ]);
  assert.equal(formatGoDuration(90e9), '1m30s');
  assert.equal(formatGoDuration(3600e9), '1h0m0s');
  assert.equal(formatGoDuration(1.5e6), '1.5ms');

  const args = BuildArgs.fromRecord({ V: '1', HTTP_PROXY: 'http://p', B: 'b' });
  args.addArg('V', undefined);
  args.addArg('B', 'default');
  // recorded: FROM busybox / ARG V / ARG B=default / ENV B=env / RUN true, with --build-arg V=1 HTTP_PROXY=http://p B=b,
  // is committed as '|1 V=1 /bin/sh -c true'; with only an undeclared proxy arg as '|0 /bin/sh -c true'
  assert.deepEqual(runCommandWithBuildArgs(args, ['B=env'], ['/bin/sh', '-c', 'make']), ['|1', 'V=1', '/bin/sh', '-c', 'make']);
  const onlyProxy = BuildArgs.fromRecord({ HTTP_PROXY: 'http://p' });
  assert.deepEqual(runCommandWithBuildArgs(onlyProxy, [], ['true']), ['|0', 'true']);
  assert.deepEqual(runCommandWithBuildArgs(new BuildArgs(), [], ['true']), ['true']);
});

test('[reference dockerd] WORKDIR resolution, EXPOSE port specs, STOPSIGNAL names', () => {
  // recorded: WORKDIR /a/../b/ ; WORKDIR rel/./x/ ; WORKDIR ../up  ->  "/b/rel/up", history "WORKDIR /a/../b/", "WORKDIR /b/rel/x"
  let wd = '';
  const seen: string[] = [];
  for (const w of ['/a/../b/', 'rel/./x/', '../up']) {
    wd = resolveWorkdir(wd, w);
    seen.push(wd);
  }
  assert.deepEqual(seen, ['/a/../b/', '/b/rel/x', '/b/rel/up']);
  assert.equal(nopCreatedBy(commitMessage({ ...(parseDockerfile('FROM x\nWORKDIR rel\n').stages[0]!.commands[0]!) }, { workdir: '/b/rel/x' })!), '/bin/sh -c #(nop) WORKDIR /b/rel/x');
  // recorded: EXPOSE 8000-8002/udp 127.0.0.1:9090:90 7/SCTP 22/
  assert.deepEqual(exposedPortKeys(['8000-8002/udp', '127.0.0.1:9090:90', '7/SCTP', '22/']).sort(),
    ['22/tcp', '7/sctp', '8000/udp', '8001/udp', '8002/udp', '90/tcp']);
  assert.deepEqual(exposedPortKeys(['0']), ['0/tcp']);
  const bad: [string, string][] = [['80/xyz', 'Invalid proto: xyz'], ['80-70', 'Invalid containerPort: 80-70'], ['abc', 'Invalid containerPort: abc'],
    ['65536', 'Invalid containerPort: 65536'], ['80-', 'Invalid containerPort: 80-']];
  for (const [p, msg] of bad) assert.throws(() => exposedPortKeys([p]), { message: msg }, p);
  // recorded: 99, kill, RTMIN+3 accepted; SIGFOO refused
  assert.deepEqual(['99', 'kill', 'RTMIN+3', 'SIGTERM', 'sigusr1'].map(parseSignal), [99, 9, 37, 15, 10]);
  assert.throws(() => parseSignal('SIGFOO'), { message: 'Invalid signal: SIGFOO' });
  assert.throws(() => parseSignal('0'), { message: 'Invalid signal: 0' });
});
