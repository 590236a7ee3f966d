/**
 * docker commit and docker diff through the real docker CLI leave out what dockerd keeps in a
 * container's init layer — the /etc/hosts, /etc/hostname and /etc/resolv.conf mount-point stubs
 * and the /etc copy-up made only to hold them — while the container's real changes stay, and so
 * do mount points of volumes, binds and tmpfs, as in Docker's read/write layer. The layer is read
 * back out of `docker save`. Also: a partial health check (`--health-interval` only) is completed
 * from the image's HEALTHCHECK field by field, at create and in what commit records.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

/** Every file of a tar, by name. */
async function untar(buf: Buffer): Promise<Map<string, { type: string; body: Buffer }>> {
  const out = new Map<string, { type: string; body: Buffer }>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); });
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { out.set(h.name, { type: h.type ?? 'file', body: Buffer.concat(chunks) }); next(); });
  });
  Readable.from([buf]).pipe(ex);
  await done;
  return out;
}

describe('docker commit and diff leave out the init layer', () => {
  let d: Berthd;
  let bind: string;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    bind = join(d.dir, 'bind');
    mkdirSync(bind, { recursive: true });
  });
  after(async () => { await d?.cleanup(); });

  const ok = (args: string[]) => { const r = d.docker(args); assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`); return r.stdout; };

  /** Entry names of the image's top layer, from `docker save`. */
  async function topLayer(image: string): Promise<string[]> {
    const r = spawnSync('docker', ['save', image], { env: d.env, maxBuffer: 256 << 20 });
    assert.equal(r.status, 0, r.stderr?.toString());
    const files = await untar(r.stdout);
    const manifest = JSON.parse(files.get('manifest.json')!.body.toString());
    const layer = files.get(manifest[0].Layers.at(-1))!;
    return [...(await untar(layer.body)).keys()].map((n) => n.replace(/^\.\//, '')).sort();
  }

  test('a container that only added a file: the stubs and /etc are not in diff or commit; mount points are', async () => {
    ok(['run', '--name', 'adds', '-v', '/vol', '-v', `${bind}:/bindmnt`, '--tmpfs', '/scr', 'busybox', 'sh', '-c', 'echo hi > /new.txt']);
    const diff = ok(['diff', 'adds']).split('\n').filter(Boolean);
    assert.ok(diff.includes('A /new.txt'), diff.join(','));
    for (const m of ['A /vol', 'A /bindmnt', 'A /scr']) assert.ok(diff.includes(m), `${m} in ${diff.join(',')}`);
    assert.ok(!diff.some((l) => /\/etc/.test(l)), diff.join(','));
    ok(['commit', 'adds', 'committed:adds']);
    const names = await topLayer('committed:adds');
    assert.ok(names.includes('new.txt'), names.join(','));
    for (const m of ['vol/', 'bindmnt/', 'scr/']) assert.ok(names.includes(m), `${m} in ${names.join(',')}`);
    assert.ok(!names.some((n) => n.startsWith('etc')), names.join(','));
    assert.equal(ok(['run', '--rm', 'committed:adds', 'cat', '/new.txt']), 'hi\n');
    assert.match(ok(['run', '--rm', 'committed:adds', 'cat', '/etc/hosts']), /localhost/);
  });

  test('a container that changed /etc: its changes are committed, the stubs beside them are not', async () => {
    ok(['run', '--name', 'etc', 'busybox', 'sh', '-c', 'echo x > /etc/custom && rm /etc/group']);
    const diff = ok(['diff', 'etc']).split('\n').filter(Boolean);
    assert.deepEqual(diff.filter((l) => l.includes('/etc')).sort(), ['A /etc/custom', 'C /etc', 'D /etc/group']);
    ok(['commit', 'etc', 'committed:etc']);
    const names = await topLayer('committed:etc');
    assert.deepEqual(names.filter((n) => n.startsWith('etc')), ['etc/', 'etc/.wh.group', 'etc/custom']);
    assert.equal(ok(['run', '--rm', 'committed:etc', 'cat', '/etc/custom']), 'x\n');
  });

  test('a partial health check takes the rest from the image\'s HEALTHCHECK, and commit keeps the merge', () => {
    const b = d.docker(['build', '-q', '-t', 'hc-base', '-'], { input: 'FROM busybox\nHEALTHCHECK --interval=5s --timeout=2s --start-period=7s --retries=4 CMD true\n' });
    assert.equal(b.status, 0, b.stderr);
    const hc = (ref: string, kind = 'container') => JSON.parse(ok([kind, 'inspect', '-f', '{{json .Config.Healthcheck}}', ref]));
    const image = hc('hc-base', 'image');
    assert.deepEqual(image.Test, ['CMD-SHELL', 'true']);
    ok(['create', '--name', 'partial', '--health-interval', '300ms', 'hc-base', 'sleep', '5']);
    const merged = hc('partial');
    assert.deepEqual(merged.Test, image.Test, 'Test from the image');
    assert.equal(merged.Interval, 300_000_000, 'Interval from the request');
    assert.equal(merged.Timeout, 2_000_000_000);
    assert.equal(merged.StartPeriod, 7_000_000_000);
    assert.equal(merged.Retries, 4);
    ok(['create', '--name', 'own-cmd', '--health-cmd', 'exit 0', '--health-retries', '9', 'hc-base', 'sleep', '5']);
    const own = hc('own-cmd');
    assert.deepEqual(own.Test, ['CMD-SHELL', 'exit 0']);
    assert.equal(own.Retries, 9);
    assert.equal(own.Interval, 5_000_000_000, 'Interval from the image');
    ok(['create', '--name', 'none', '--no-healthcheck', 'hc-base', 'sleep', '5']);
    assert.deepEqual(hc('none').Test, ['NONE']);
    ok(['create', '--name', 'whole', 'hc-base', 'sleep', '5']);
    assert.deepEqual(hc('whole'), image);
    ok(['commit', 'partial', 'committed:hc']);
    assert.deepEqual(hc('committed:hc', 'image'), merged);
  });
});
