/** Pure pieces of the compose runtime: log prefixes, build context tar and query, stop order, image refs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { encodeFrame, type EngineClient } from '../../src/client/index.js';
import { buildContextTar, buildQuery } from '../../src/compose/build-context.js';
import { LogPrinter } from '../../src/compose/log-printer.js';
import { ComposeRuntime, splitTag } from '../../src/compose/runtime.js';
import type { ComposeProject, ServiceConfig } from '../../src/compose/types.js';

function sink(): { write(s: string): void; text: string } {
  const o = { text: '', write(s: string) { o.text += s; } };
  return o;
}

test('log lines carry the container name padded to the longest one, split across frames and streams', async () => {
  const out = sink();
  const p = new LogPrinter(out, false);
  p.register('proj-web-1');
  p.register('proj-worker-1');
  const s = new PassThrough();
  const done = p.follow('proj-web-1', s, false);
  const frames = Buffer.concat([encodeFrame(1, 'hel'), encodeFrame(1, 'lo\nsecond'), encodeFrame(2, 'err line\n'), encodeFrame(1, ' line\n')]);
  s.write(frames.subarray(0, 5));
  s.end(frames.subarray(5));
  await done;
  assert.equal(out.text, 'proj-web-1     | hello\nproj-web-1     | err line\nproj-web-1     | second line\n');
});

test('colours cycle through docker compose\'s palette; --no-log-prefix drops the prefix', async () => {
  const out = sink();
  const p = new LogPrinter(out, true);
  p.register('a-1');
  p.register('b-1');
  p.line('a-1', 'x');
  p.line('b-1', 'y');
  assert.equal(out.text, '\x1b[36ma-1  | \x1b[0mx\n\x1b[33mb-1  | \x1b[0my\n');
  const plain = sink();
  const q = new LogPrinter(plain, false, false);
  const s = new PassThrough();
  const done = q.follow('a-1', s, true);
  s.end('raw tty\r\n');
  await done;
  assert.equal(plain.text, 'raw tty\n');
});

async function entries(tar: Readable): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { out.set(h.name, Buffer.concat(chunks).toString()); next(); });
  });
  const finished = new Promise((r) => ex.on('finish', r));
  tar.pipe(ex);
  await finished;
  return out;
}

test('the build context honours .dockerignore (with ! exceptions) and adds an inline Dockerfile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  try {
    mkdirSync(join(dir, 'logs'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\n');
    writeFileSync(join(dir, '.dockerignore'), 'logs\n*.tmp\n!keep.tmp\n');
    writeFileSync(join(dir, 'logs', 'a.log'), 'x');
    writeFileSync(join(dir, 'x.tmp'), 'x');
    writeFileSync(join(dir, 'keep.tmp'), 'k');
    writeFileSync(join(dir, 'src', 'app.sh'), 'echo');
    const files = await entries(buildContextTar({ context: dir, dockerfile_inline: 'FROM scratch\n' }));
    assert.deepEqual([...files.keys()].sort(), ['.berth-compose.Dockerfile', '.dockerignore', 'Dockerfile', 'keep.tmp', 'src/', 'src/app.sh']);
    assert.equal(files.get('.berth-compose.Dockerfile'), 'FROM scratch\n');
    const q = buildQuery({ context: dir, dockerfile_inline: 'FROM scratch\n', args: { A: '1', B: null }, target: 't', labels: { l: 'v' } }, 'proj-web', { labels: { extra: 'e' } });
    assert.deepEqual(q.t, ['proj-web']);
    assert.equal(q.dockerfile, '.berth-compose.Dockerfile');
    assert.equal(q.buildargs, '{"A":"1"}');
    assert.equal(q.labels, '{"l":"v","extra":"e"}');
    assert.equal(q.target, 't');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('down stops dependents first; services at the same depth together', () => {
  const svc = (name: string, deps: string[] = []): ServiceConfig => ({
    name, image: 'busybox', depends_on: Object.fromEntries(deps.map((d) => [d, { condition: 'service_started', required: true }])),
  });
  const project: ComposeProject = {
    name: 'p', workingDir: '/p', configFiles: [], environment: {}, profiles: [], disabledServices: {},
    networks: {}, volumes: {}, secrets: {}, configs: {},
    services: { db: svc('db'), cache: svc('cache'), api: svc('api', ['db', 'cache']), web: svc('web', ['api']), other: svc('other') },
  };
  const rt = new ComposeRuntime({} as EngineClient, project, sink(), sink());
  assert.deepEqual(Object.fromEntries([...rt.dependentDepth()].sort()), { api: 1, cache: 2, db: 2, other: 0, web: 0 });
});

test('image references split into repository and tag like the Engine API wants them', () => {
  assert.deepEqual(splitTag('busybox'), ['busybox', 'latest']);
  assert.deepEqual(splitTag('localhost:5000/app:1.2'), ['localhost:5000/app', '1.2']);
  assert.deepEqual(splitTag('localhost:5000/app'), ['localhost:5000/app', 'latest']);
  assert.deepEqual(splitTag('busybox@sha256:abc'), ['busybox@sha256:abc', undefined]);
});
