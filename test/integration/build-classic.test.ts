/**
 * The classic builder (POST /build) through the real docker CLI 28 with DOCKER_BUILDKIT=0 against a
 * private berthd: a multi-stage build, the cache (full hit, bust from a changed file, across a daemon
 * restart), COPY/ADD rules, and bad input that stops the build and leaves nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importBusybox, mountsUnder, startBerthd, type Berthd } from './helpers/berthd.js';
import { spawnRegistry } from './registry-harness.js';

const MULTI_STAGE = `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hello
ENV APP_DIR=/app
WORKDIR $APP_DIR
COPY greeting.txt ./
RUN echo "$GREETING, $(cat greeting.txt)" > message.txt

FROM busybox
ENV MODE=production
WORKDIR /srv
COPY --from=build /app/message.txt ./
USER nobody
HEALTHCHECK --interval=30s --timeout=3s CMD test -f /srv/message.txt
CMD ["cat", "/srv/message.txt"]
`;

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
}

describe('classic builder with the docker CLI', () => {
  let d: Berthd;
  let work: string;
  const env = () => ({ ...d.env, DOCKER_BUILDKIT: '0' });
  const build = (args: string[], input?: string) =>
    spawnSync('docker', ['build', ...args], { env: env(), encoding: 'utf8', input, timeout: 120_000 });
  // for builds that reach a server in this process (spawnSync would block it)
  const buildAsync = (args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn('docker', ['build', ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  const ctx = (name: string, files: Record<string, string>) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeTree(dir, files);
    return dir;
  };
  const steps = (out: string) => out.split('\n').filter((l) => l.startsWith('Step '));
  const cachedSteps = (out: string) => out.split('\n').filter((l) => l === ' ---> Using cache').length;
  const builtId = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
  const assertClean = () => {
    const ps = d.docker(['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '', 'no containers left behind');
    assert.deepEqual(mountsUnder(d.dir).filter((m) => m !== d.execRoot), [], 'no mounts left behind (but the exec root\'s tmpfs)');
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'berth-build-'));
    d = await startBerthd();
    importBusybox(d);
  });
  after(async () => {
    await d?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  let firstId = '';
  const multi = () => ctx('multi', { Dockerfile: MULTI_STAGE, 'greeting.txt': 'world\n' });

  test('a multi-stage build gives the configured image, which runs', () => {
    const dir = multi();
    const r = build(['-t', 'msg:1', '-t', 'msg:latest', dir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const s = steps(r.stdout);
    assert.equal(s.length, 13);
    assert.equal(s[0], 'Step 1/13 : FROM $BASE AS build');
    assert.equal(s[12], 'Step 13/13 : CMD ["cat", "/srv/message.txt"]');
    assert.match(r.stdout, / ---> Running in [0-9a-f]{12}\n/);
    assert.match(r.stdout, /Removing intermediate container [0-9a-f]{12}\n/);
    assert.match(r.stdout, /Successfully tagged msg:1\nSuccessfully tagged msg:latest\n/);
    firstId = builtId(r.stdout)!;
    assert.ok(firstId);

    const cfg = JSON.parse(d.docker(['inspect', '-f', '{{json .Config}}', 'msg:1']).stdout);
    assert.equal(cfg.User, 'nobody');
    assert.equal(cfg.WorkingDir, '/srv');
    assert.deepEqual(cfg.Cmd, ['cat', '/srv/message.txt']);
    assert.ok(cfg.Env.includes('MODE=production'), JSON.stringify(cfg.Env));
    assert.ok(cfg.Env.some((e: string) => e.startsWith('PATH=/usr/local/sbin:')), 'a default PATH, as Docker adds');
    assert.ok(!cfg.Env.some((e: string) => e.startsWith('APP_DIR=')), 'ENV of another stage does not leak');
    assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'test -f /srv/message.txt'], Interval: 30e9, Timeout: 3e9 });

    const run = d.docker(['run', '--rm', 'msg:1']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'hello, world\n');
    const whoami = d.docker(['run', '--rm', 'msg:1', 'id', '-un']);
    assert.equal(whoami.stdout.trim(), 'nobody');
    assertClean();
  });

  test('a second build takes every step from the cache and gives the same image', () => {
    const r = build(['-t', 'msg:1', multi()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cachedSteps(r.stdout), 11, r.stdout);   // all but the two FROM steps
    assert.doesNotMatch(r.stdout, /Running in/);
    assert.equal(builtId(r.stdout), firstId);
    const q = build(['-q', multi()]);
    assert.equal(q.status, 0, q.stderr);
    assert.equal(q.stdout.trim().slice(7, 19), firstId);
  });

  test('changing one copied file busts the cache from that step on', () => {
    const dir = multi();
    writeFileSync(join(dir, 'greeting.txt'), 'berth\n');
    const r = build(['-t', 'msg:2', dir]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const copyStep = lines.findIndex((l) => l.startsWith('Step 5/13 : COPY greeting.txt'));
    assert.equal(cachedSteps(lines.slice(0, copyStep).join('\n')), 3, 'ARG, ENV, WORKDIR cached');
    assert.notEqual(lines[copyStep + 1], ' ---> Using cache');
    assert.notEqual(builtId(r.stdout), firstId);
    assert.equal(d.docker(['run', '--rm', 'msg:2']).stdout, 'hello, berth\n');
    // a build arg used by RUN changes its cache key too
    const arg = build(['--build-arg', 'GREETING=hi', '-t', 'msg:3', dir]);
    assert.equal(arg.status, 0, arg.stderr);
    assert.equal(d.docker(['run', '--rm', 'msg:3']).stdout, 'hi, berth\n');
    assert.equal(d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'msg:3']).status, 0);
  });

  test('large files (hashed in the daemon\'s worker thread) are copied, unpacked and bound right; cached, then busted by a change', () => {
    const big = randomBytes(3 << 20);
    const inner = randomBytes(400_000);
    const dir = ctx('large', {
      // a Dockerfile big enough to be hashed in the worker too
      Dockerfile: [
        'FROM busybox',
        ...Array.from({ length: 5000 }, (_, i) => `# padding ${i} ${'-'.repeat(50)}`),
        'COPY big.bin /big.bin',
        'ADD inner.tar /unpacked/',
        'RUN --mount=type=bind,source=big.bin,target=/mnt/big.bin sha256sum /mnt/big.bin | cut -d" " -f1 > /bound.sum',
      ].join('\n') + '\n',
    });
    writeFileSync(join(dir, 'big.bin'), big);
    writeFileSync(join(dir, 'inner.bin'), inner);
    assert.equal(spawnSync('tar', ['-cf', 'inner.tar', 'inner.bin'], { cwd: dir }).status, 0);
    rmSync(join(dir, 'inner.bin'));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const check = (tag: string, content: Buffer) => {
      const r = d.docker(['run', '--rm', tag, 'sh', '-c', 'sha256sum /big.bin /unpacked/inner.bin; cat /bound.sum']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${sha(content)}  /big.bin\n${sha(inner)}  /unpacked/inner.bin\n${sha(content)}\n`);
    };
    const first = build(['-t', 'large:1', dir]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    check('large:1', big);
    const again = build(['-t', 'large:1', dir]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(cachedSteps(again.stdout), 3, again.stdout);
    assert.equal(builtId(again.stdout), builtId(first.stdout));
    big[big.length >> 1] ^= 1;
    writeFileSync(join(dir, 'big.bin'), big);
    const changed = build(['-t', 'large:2', dir]);
    assert.equal(changed.status, 0, changed.stderr);
    assert.equal(cachedSteps(changed.stdout), 0, changed.stdout);
    check('large:2', big);
    assertClean();
  });

  test('--no-cache rebuilds every step; --target stops at a stage', () => {
    const r = build(['--no-cache', multi()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cachedSteps(r.stdout), 0);
    const t = build(['--target', 'build', '-t', 'stage:build', multi()]);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(steps(t.stdout).length, 6);
    assert.equal(d.docker(['run', '--rm', 'stage:build', 'cat', 'message.txt']).stdout, 'hello, world\n');
  });

  test('COPY and ADD: wildcards, directories, trailing slashes, --chown, archives, .dockerignore', () => {
    const dir = ctx('copy', {
      'a.txt': 'A', 'b.txt': 'B', 'c.md': 'C', 'sub/x': 'X', 'sub/deep/y': 'Y', 'secret.key': 'no',
      '.dockerignore': 'secret.key\n',
      Dockerfile: [
        'FROM busybox',
        'COPY *.txt /wild/',
        'COPY sub /dircontents',
        'COPY a.txt /renamed',
        'COPY a.txt /existing-dir-check/',
        'COPY --chown=nobody:nogroup b.txt /owned/',
        'COPY --chmod=700 c.md /modes/',
        'ADD files.tar.gz /unpacked/',
        'ADD link-to-a /via-link',
        'COPY <<EOF /inline.txt',
        'inline body',
        'EOF',
        'RUN ls /wild | tr "\\n" " " && echo && ls -R /dircontents | tr "\\n" " " && echo && cat /renamed /existing-dir-check/a.txt && echo',
        'RUN stat -c "%U:%G %a" /owned/b.txt /modes/c.md && cat /unpacked/inner/t.txt /via-link /inline.txt && test ! -e /secret.key',
      ].join('\n') + '\n',
    });
    const tarDir = join(work, 'tarsrc');
    writeTree(tarDir, { 'inner/t.txt': 'from tar\n' });
    assert.equal(spawnSync('tar', ['-czf', join(dir, 'files.tar.gz'), '-C', tarDir, 'inner']).status, 0);
    symlinkSync('a.txt', join(dir, 'link-to-a'));
    const r = build(['-t', 'copies', dir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\na\.txt b\.txt \n/);
    assert.match(r.stdout, /\/dircontents: deep x/);
    assert.match(r.stdout, /\nAA\n/);
    assert.match(r.stdout, /nobody:nogroup 644\nroot:root 700\nfrom tar\nAinline body\n/);
    assertClean();
  });

  test('ADD of a URL fetches it; an unreachable URL stops the build with a clear error', async () => {
    const server: Server = createServer((req, res) => {
      if (req.url === '/file.txt') { res.writeHead(200, { 'Last-Modified': new Date(0).toUTCString() }); res.end('served\n'); return; }
      res.writeHead(404); res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const ok = ctx('url', { Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/file.txt /dl/\nRUN cat /dl/file.txt && stat -c %a /dl/file.txt\n` });
      const r = await buildAsync([ok]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /served\n600\n/);
      const missing = ctx('url404', { Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/nope /x\n` });
      const m = await buildAsync([missing]);
      assert.notEqual(m.status, 0);
      assert.match(m.stderr + m.stdout, /failed to GET http:\/\/127\.0\.0\.1:\d+\/nope with status 404/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const down = ctx('urldown', { Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/gone /x\n` });
    const g = build([down]);
    assert.notEqual(g.status, 0);
    assert.match(g.stderr + g.stdout, /failed to GET http:\/\/127\.0\.0\.1:\d+\/gone: .*ECONNREFUSED/);
    assertClean();
  });

  test('ONBUILD triggers run in the child build; labels and build args apply', () => {
    const parent = ctx('onbuild-parent', { Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /onbuild.txt\n' });
    assert.equal(build(['-t', 'withtrigger', parent]).status, 0);
    const child = ctx('onbuild-child', { Dockerfile: 'FROM withtrigger\nARG V=default\nLABEL v=$V\nRUN cat /onbuild.txt\n' });
    const r = build(['--label', 'extra=1', '--build-arg', 'V=given', '--build-arg', 'UNUSED=1', '-t', 'child', child]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /# Executing 1 build trigger\n/);
    assert.match(r.stdout, /\ntriggered\n/);
    assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
    const labels = JSON.parse(d.docker(['inspect', '-f', '{{json .Config.Labels}}', 'child']).stdout);
    assert.deepEqual(labels, { v: 'given', extra: '1' });
    assert.equal(d.docker(['inspect', '-f', '{{json .Config.OnBuild}}', 'child']).stdout.trim(), 'null');
  });

  test('the Dockerfile from -f PATH, from -f - beside a context, and alone on stdin', () => {
    const dir = ctx('dockerfile-sources', { 'sub/Custom.df': 'FROM busybox\nCOPY data.txt /\nRUN cat /data.txt\n', 'data.txt': 'payload\n' });
    const f = build(['-f', join(dir, 'sub/Custom.df'), dir]);
    assert.equal(f.status, 0, f.stdout + f.stderr);
    assert.match(f.stdout, /\npayload\n/);
    const dash = build(['-f', '-', dir], 'FROM busybox\nCOPY data.txt /copied\nRUN cat /copied && ls -a / | grep -c dockerfile || true\n');
    assert.equal(dash.status, 0, dash.stdout + dash.stderr);
    assert.match(dash.stdout, /\npayload\n0\n/);
    const alone = build(['-'], 'FROM busybox\nRUN echo no context\n');
    assert.equal(alone.status, 0, alone.stdout + alone.stderr);
    assert.match(alone.stdout, /\nno context\n/);
  });

  test('--cache-from reuses a loaded image that has no local parent chain', () => {
    const dir = ctx('cachefrom', { Dockerfile: 'FROM busybox\nENV STAGE=cf\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\nCMD ["cat", "/g.txt"]\n', 'f.txt': 'cached from\n' });
    const first = build(['-t', 'cf:1', dir]);
    assert.equal(first.status, 0, first.stderr);
    const id = builtId(first.stdout)!;
    const saved = join(work, 'cf.tar');
    assert.equal(d.docker(['save', '-o', saved, 'cf:1']).status, 0);
    assert.equal(d.docker(['rmi', 'cf:1']).status, 0);
    const pruned = spawnSync('docker', ['builder', 'prune', '-f'], { env: env(), encoding: 'utf8' });
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.ok(pruned.stdout.split('\n').filter((l) => l.startsWith('sha256:')).length >= 3, pruned.stdout);   // ENV, COPY, RUN (rmi took CMD's)
    assert.equal(d.docker(['load', '-i', saved]).status, 0);
    const again = build(['--cache-from', 'cf:1', '-t', 'cf:2', dir]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(cachedSteps(again.stdout), 4, again.stdout);
    assert.equal(builtId(again.stdout), id);
    assert.equal(d.docker(['run', '--rm', 'cf:2']).stdout, 'cached from\n');
  });

  test('RUN --mount: a cache that persists between builds, binds from the context and a stage, tmpfs; --network=none', () => {
    const dir = ctx('runmount', {
      'data.txt': 'bound from context\n',
      Dockerfile: [
        'FROM busybox AS tools',
        'RUN echo tool-data > /tool.txt',
        'FROM busybox',
        'RUN --mount=type=cache,target=/cache echo x >> /cache/runs && echo "runs=$(wc -l < /cache/runs)"',
        'RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt',
        'RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cat /t.txt',
        'RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/f && cat /scratch/f',
        'RUN --network=none find /cache /scratch -type f | wc -l',
      ].join('\n') + '\n',
    });
    const first = build(['-t', 'mounts', dir]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /\nruns=1\n/);
    assert.match(first.stdout, /\nbound from context\n/);
    assert.match(first.stdout, /\ntool-data\n/);
    assert.match(first.stdout, /\ntemp\n/);
    assert.match(first.stdout, /\n0\n/, 'nothing written under the mounts stayed in the image');
    const second = build(['--no-cache', dir]);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /\nruns=2\n/, 'the cache mount kept its content');
    // a change in a bound context file busts that RUN's cache
    const cached = build([dir]);
    assert.equal(cachedSteps(cached.stdout), 6);
    writeFileSync(join(dir, 'data.txt'), 'changed\n');
    const changed = build([dir]);
    assert.equal(changed.status, 0, changed.stderr);
    assert.match(changed.stdout, /\nchanged\n/);
    // docker builder prune empties the cache mounts
    const pruned = spawnSync('docker', ['builder', 'prune', '-f'], { env: env(), encoding: 'utf8' });
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.match(pruned.stdout, /Deleted build cache objects:\n(.*\n)*run-cache:[0-9a-f]+\n/);
    const third = build(['--no-cache', dir]);
    assert.match(third.stdout, /\nruns=1\n/);
    assertClean();
  });

  test('bad input stops the build with Docker\'s message and leaves no containers or mounts', () => {
    const cases: [string, string, RegExp, string[]?][] = [
      ['unknown', 'FROM busybox\nFOO bar\n', /dockerfile parse error on line 2: unknown instruction: FOO/],
      ['badflag', 'FROM busybox\nCOPY --bogus=1 a /\n', /dockerfile parse error on line 2: unknown flag: bogus/],
      ['heredoc', 'FROM busybox\nRUN <<EOF\necho never closed\n', /dockerfile parse error on line 2: unterminated heredoc/],
      ['buildkitonly', 'FROM busybox\nRUN --security=insecure true\n', /dockerfile parse error on line 2: the --security option requires BuildKit/],
      ['outside', 'FROM busybox\nCOPY ../outside /\n', /COPY failed: forbidden path outside the build context: \.\.\/outside/],
      ['nostage', 'FROM busybox AS one\nRUN true\n', /failed to reach build target two in Dockerfile/, ['--target', 'two']],
      ['nostageindex', 'FROM busybox\nCOPY --from=3 /x /\n', /invalid from flag value 3: index out of bounds/],
      // an unknown --from is an image to pull, as in Docker (from a closed loopback port here)
      ['nofrom', 'FROM busybox\nCOPY --from=127.0.0.1:1/missingstage /x /\n', /Get "http:\/\/127\.0\.0\.1:1\/v2\/": dial tcp 127\.0\.0\.1:1: connect: connection refused/],
      ['runfails', 'FROM busybox\nRUN echo partial > /f && exit 3\n', /The command '\/bin\/sh -c echo partial > \/f && exit 3' returned a non-zero code: 3/],
      ['noimage', 'FROM 127.0.0.1:1/no-such-image:1\n', /connection refused/],
    ];
    for (const [name, dockerfile, message, extra] of cases) {
      const dir = ctx('bad-' + name, { Dockerfile: dockerfile, a: 'a' });
      const r = build([...(extra ?? []), dir]);
      assert.notEqual(r.status, 0, `${name}: ${r.stdout}`);
      assert.match(r.stderr + r.stdout, message, name);
    }
    const failing = build([join(work, 'bad-runfails')]);
    assert.equal(failing.status, 3, 'docker build exits with the RUN\'s code');
    assert.match(failing.stdout, /Step 2\/2 : RUN echo partial/);
    // As dockerd: the failed step's container stays for inspection (it ran twice: two), as the user's own.
    assert.doesNotMatch(failing.stdout, /Removing intermediate container/);
    const kept = d.docker(['ps', '-aq']).stdout.trim().split('\n');
    assert.equal(kept.length, 2);
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}} {{len .Config.Labels}}', kept[0]]).stdout.trim(), '3 0');
    assert.equal(d.docker(['diff', kept[0]]).stdout, 'A /f\n', 'what the step wrote is there to look at');
    assert.equal(d.docker(['rm', ...kept]).status, 0);
    const forced = build(['--force-rm', join(work, 'bad-runfails')]);
    assert.equal(forced.status, 3);
    assert.match(forced.stdout, /Removing intermediate container/);
    assertClean();
  });

  test('RUN heredocs: a script for the shell, and a #! file that runs as itself', () => {
    const dir = ctx('heredocs', { Dockerfile: 'FROM busybox\nRUN <<EOF\necho shell heredoc\necho second line\nEOF\nRUN <<EOT\n#!/bin/sh\necho "script heredoc as $0"\nEOT\n' });
    const r = build([dir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\nshell heredoc\nsecond line\n/);
    assert.match(r.stdout, /\nscript heredoc as \/dev\/pipes\/EOT\n/);
    const platform = ctx('platform', { Dockerfile: 'FROM --platform=linux/arm64 busybox\n' });
    const p = build([platform]);
    assert.notEqual(p.status, 0);
    assert.match(p.stderr + p.stdout, /linux\/arm64.*not supported/);
  });

  test('a RUN layer keeps what the step did to a directory holding runtime stubs, without the stubs', () => {
    // After `chmod`, /etc in the step's container holds only its /etc/mtab stub: the layer has /etc (mode 700) and no stub.
    const r = build(['-t', 'stubdirs', ctx('stubdirs', { Dockerfile: 'FROM busybox\nRUN chmod 700 /etc\n' })]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const saved = join(work, 'stubdirs.tar');
    assert.equal(d.docker(['save', '-o', saved, 'stubdirs']).status, 0);
    const manifest = JSON.parse(spawnSync('tar', ['-xOf', saved, 'manifest.json'], { encoding: 'utf8' }).stdout);
    const layer = spawnSync('sh', ['-c', `tar -xOf "$0" "$1" | tar -tv`, saved, manifest[0].Layers.at(-1)], { encoding: 'utf8' });
    assert.equal(layer.status, 0, layer.stderr);
    assert.match(layer.stdout, /^drwx------ \S+ +0 \S+ \S+ etc\/$/m);
    assert.equal(layer.stdout.trim().split('\n').length, 1, layer.stdout);
    assert.equal(d.docker(['run', '--rm', 'stubdirs', 'stat', '-c', '%a', '/etc']).stdout, '700\n');
    assert.equal(d.docker(['rmi', 'stubdirs']).status, 0);
    assertClean();
  });

  test('a base image missing here is pulled (from a registry on loopback), with its progress in the build output', async () => {
    const reg = await spawnRegistry();
    try {
      const ref = `${reg.address}/base/bb:1`;
      assert.equal(d.docker(['tag', 'busybox', ref]).status, 0);
      const push = await d.dockerAsync(['push', ref]);
      assert.equal(push.status, 0, push.stderr + push.stdout);
      assert.equal(d.docker(['rmi', ref]).status, 0);
      const dir = ctx('pulled-base', { Dockerfile: `FROM ${ref}\nRUN echo on a pulled base\n` });
      const r = await buildAsync([dir]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Step 1\/2 : FROM 127\.0\.0\.1:\d+\/base\/bb:1\n(.*\n)*.*(Pull complete|Already exists|Downloaded newer image)/);
      assert.match(r.stdout, /\non a pulled base\n/);
      assert.equal(d.docker(['image', 'inspect', ref]).status, 0);
    } finally {
      await reg.stop();
    }
  });

  test('--rm=false keeps the intermediate containers, as dockerd does', () => {
    const dir = ctx('keep', { Dockerfile: 'FROM busybox\nENV K=1\nRUN echo kept\n' });
    const r = build(['--rm=false', '--no-cache', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Removing intermediate container/);
    const ids = d.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
    assert.equal(ids.length, 2, 'the ENV and RUN containers');
    assert.equal(d.docker(['rm', ...ids]).status, 0);
  });

  test('the cache survives a daemon restart', async () => {
    // (--no-cache above made newer matching images; like Docker the cache now answers with the newest)
    const before = build(['-q', multi()]);
    assert.equal(before.status, 0, before.stderr);
    const expected = before.stdout.trim().slice(7, 19);
    await d.stop();
    d = await startBerthd({ dir: d.dir });
    const r = build(['-t', 'msg:1', multi()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cachedSteps(r.stdout), 11, r.stdout);
    assert.equal(builtId(r.stdout), expected);
  });
});
