/**
 * The pure parts behind docker cp, commit and create: path resolution in a container's view
 * (mounts laid over the root, symlinks in the container's terms), the init-layer stubs left out
 * of commit and diff, and Docker's field-by-field Healthcheck merge. Real files in a temp dir.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerFsView } from '../../src/container/fs-view.js';
import { initLayerEntries } from '../../src/container/init-layer.js';
import { mergeHealthcheck } from '../../src/container/health-config.js';

const tmp = mkdtempSync(join(tmpdir(), 'berth-fsview-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tree(base: string, files: Record<string, string | { link: string } | null>): string {
  for (const [p, v] of Object.entries(files)) {
    const full = join(base, p);
    mkdirSync(join(full, '..'), { recursive: true });
    if (v === null) mkdirSync(full, { recursive: true });
    else if (typeof v === 'string') writeFileSync(full, v);
    else symlinkSync(v.link, full);
  }
  return base;
}

describe('ContainerFsView', () => {
  const root = tree(join(tmp, 'root'), {
    'etc/passwd': 'root', 'data/beneath': 'hidden', 'var/run': { link: '/run' }, 'run/': null,
  });
  const vol = tree(join(tmp, 'vol'), { 'v.txt': 'vol', 'to-etc': { link: '/etc' }, 'up': { link: '../../../../etc' } });
  const inner = tree(join(tmp, 'inner'), { 'i.txt': 'inner' });
  const sock = tree(join(tmp, 'sockdir'), { 's': 'x' });
  const view = new ContainerFsView(root, true, [
    { destination: '/data/inner', source: inner, rw: false, kind: 'volume' },
    { destination: '/data', source: vol, rw: true, kind: 'volume' },
    { destination: '/var/run/app', source: sock, rw: true, kind: 'bind' },
    { destination: '/missing', source: join(tmp, 'nope'), rw: true, kind: 'bind' },
  ]);

  test('the innermost mount wins; the directory beneath a mount is unreachable', () => {
    assert.equal(view.locate('/data/v.txt').host, join(vol, 'v.txt'));
    assert.equal(view.locate('/data/inner/i.txt').host, join(inner, 'i.txt'));
    assert.equal(view.locate('/data/inner/i.txt').mount.rw, false);
    assert.equal(view.locate('/data/beneath').host, join(vol, 'beneath'));
    assert.equal(view.locate('/data').isMountRoot, true);
    assert.equal(view.locate('/etc/passwd').mount.kind, 'rootfs');
  });

  test('symlinks in a volume resolve in the container, never on the host', () => {
    assert.equal(view.resolve('/data/to-etc/passwd'), '/etc/passwd');
    assert.equal(view.resolve('/data/up/passwd'), '/etc/passwd');
    assert.equal(view.resolve('/data/../etc'), '/etc');
    assert.equal(view.locate(view.resolve('/data/to-etc/passwd')).host, join(root, 'etc/passwd'));
    assert.equal(view.resolve('/data/to-etc', false), '/data/to-etc');
    assert.equal(view.lookup('/data/to-etc').host, join(vol, 'to-etc'));
  });

  test('a destination behind a symlink is mounted where the link leads; missing sources are left out', () => {
    assert.equal(view.locate('/run/app/s').host, join(sock, 's'));
    assert.equal(view.locate(view.resolve('/var/run/app/s')).host, join(sock, 's'));
    assert.deepEqual(view.mountNamesIn('/run'), ['app']);
    assert.equal(view.locate('/missing/x').mount.kind, 'rootfs');
  });
});

describe('initLayerEntries', () => {
  test('empty stubs and a copied-up /etc are left out; real changes stay', () => {
    const lower = tree(join(tmp, 'l1'), { 'etc/passwd': 'root', 'proc/': null });
    const upper = tree(join(tmp, 'u1'), { 'etc/hosts': '', 'etc/hostname': '', 'etc/resolv.conf': '', 'sys/': null, 'dev/': null, 'new.txt': 'x' });
    assert.deepEqual([...initLayerEntries(upper, [lower])].sort(), ['/dev', '/etc', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sys']);
    writeFileSync(join(upper, 'etc/custom'), 'mine');
    assert.ok(!initLayerEntries(upper, [lower]).has('/etc'), '/etc holds a real change');
    writeFileSync(join(upper, 'etc/hosts'), '127.0.0.1 written');
    assert.ok(!initLayerEntries(upper, [lower]).has('/etc/hosts'), 'a non-empty /etc/hosts is not a stub');
  });

  test('a /etc whose owner or mode differs from the image is a change', () => {
    const lower = tree(join(tmp, 'l2'), { 'etc/passwd': 'root' });
    const upper = tree(join(tmp, 'u2'), { 'etc/hosts': '' });
    chmodSync(join(lower, 'etc'), 0o755);
    chmodSync(join(upper, 'etc'), 0o700);
    assert.deepEqual([...initLayerEntries(upper, [lower])], ['/etc/hosts']);
  });
});

describe('mergeHealthcheck', () => {
  const image = { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 2e9, StartPeriod: 7e9, StartInterval: 1e9, Retries: 4 };
  test('no request: the image\'s; no image: the request\'s', () => {
    assert.deepEqual(mergeHealthcheck(undefined, image), image);
    assert.deepEqual(mergeHealthcheck({ Interval: 3e9 }, undefined), { Interval: 3e9 });
    assert.equal(mergeHealthcheck(null, null), undefined);
  });
  test('a partial request takes Test and every zero field from the image', () => {
    assert.deepEqual(mergeHealthcheck({ Test: null, Interval: 3e8, Timeout: 0, StartPeriod: 0, Retries: 0 }, image), { ...image, Interval: 3e8 });
    assert.deepEqual(mergeHealthcheck({ Test: ['CMD', 'x'], Retries: 9 }, image), { ...image, Test: ['CMD', 'x'], Retries: 9 });
  });
  test('--no-healthcheck keeps NONE (its zero fields are filled, as dockerd does)', () => {
    assert.deepEqual(mergeHealthcheck({ Test: ['NONE'] }, image), { ...image, Test: ['NONE'] });
  });
});
