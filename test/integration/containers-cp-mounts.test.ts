/**
 * docker cp through the real docker CLI against a container's mounts, as dockerd resolves them: a
 * path under a named or anonymous volume or a bind mount reads and writes the mount (the innermost
 * one wins), not the directory beneath it in the root; /etc/hostname is the container's own file;
 * a symlink in a volume (absolute or climbing with ..) pointing at /etc reaches the container's /etc, never the host's; read-only
 * volumes, binds and a --read-only root refuse writes with Docker's messages; a stopped container's
 * volumes are copied too. tmpfs mounts are not in dockerd's view (documented Docker behaviour):
 * a copy there reaches the directory beneath, which the container does not see.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('docker cp with volumes and bind mounts', () => {
  let d: Berthd;
  let work: string;
  let bind: string;
  let roBind: string;
  const marker = `berth-cp-mounts-${process.pid}-${Date.now()}`;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    work = join(d.dir, 'work');
    bind = join(d.dir, 'bind');
    roBind = join(d.dir, 'ro-bind');
    for (const p of [work, bind, roBind]) mkdirSync(p, { recursive: true });
    writeFileSync(join(bind, 'b.txt'), 'from the bind\n');
    writeFileSync(join(roBind, 'r.txt'), 'read only\n');
    writeFileSync(join(d.dir, 'single.txt'), 'a single file\n');
    writeFileSync(join(work, 'in.txt'), 'incoming\n');
    writeFileSync(join(work, marker), 'planted\n');
    assert.equal(d.docker(['volume', 'create', 'named']).status, 0);
    const r = d.docker(['run', '-d', '--name', 'mnt', '-v', 'named:/data', '-v', 'inner:/data/inner', '-v', '/anon',
      '-v', `${bind}:/bind`, '-v', `${join(d.dir, 'single.txt')}:/etc/single.txt`, '-v', `${roBind}:/robind:ro`, '-v', 'rovol:/rovol:ro', '--tmpfs', '/scratch', 'busybox', 'sh', '-c',
      'echo vol > /data/v.txt && echo inner > /data/inner/i.txt && echo anon > /anon/a.txt && echo tmp > /scratch/t.txt && ' +
      `echo in-container > /etc/${marker} && ln -s /etc /data/etc-link && ln -s ../../../../../../etc /anon/etc-rel && touch /ready && ` +
      "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    assert.equal(r.status, 0, r.stderr);
    await waitFor(() => d.docker(['exec', 'mnt', 'test', '-e', '/ready']).status === 0, 'container ready');
  });
  after(async () => { await d?.cleanup(); });

  const ok = (args: string[]) => { const r = d.docker(args); assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`); return r.stdout; };
  const fails = (args: string[], message: RegExp) => {
    const r = d.docker(args);
    assert.notEqual(r.status, 0, `docker ${args.join(' ')} should fail`);
    assert.match(r.stderr, message);
  };
  const copyOut = (src: string, name: string) => { ok(['cp', src, join(work, name)]); return readFileSync(join(work, name), 'utf8'); };
  const volumePath = (name: string) => ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', name]).trim();

  test('out of a named volume, a nested volume, an anonymous volume and a bind mount', () => {
    assert.equal(copyOut('mnt:/data/v.txt', 'v.txt'), 'vol\n');
    assert.equal(copyOut('mnt:/data/inner/i.txt', 'i.txt'), 'inner\n');
    assert.equal(copyOut('mnt:/anon/a.txt', 'a.txt'), 'anon\n');
    assert.equal(copyOut('mnt:/bind/b.txt', 'b.txt'), 'from the bind\n');
    assert.equal(copyOut('mnt:/etc/single.txt', 'single.txt'), 'a single file\n', 'a bind-mounted file');
    // A directory copy walks into the mounts below it.
    ok(['cp', 'mnt:/data', join(work, 'data-dir')]);
    assert.equal(readFileSync(join(work, 'data-dir', 'v.txt'), 'utf8'), 'vol\n');
    assert.equal(readFileSync(join(work, 'data-dir', 'inner', 'i.txt'), 'utf8'), 'inner\n');
    // The network files are the container's own, not the empty mount-point stubs in its root.
    const id = ok(['inspect', '-f', '{{.Id}}', 'mnt']).trim();
    assert.equal(copyOut('mnt:/etc/hostname', 'hostname'), id.slice(0, 12) + '\n');
  });

  test('into a named volume, a nested volume and a bind mount of a running container', () => {
    ok(['cp', join(work, 'in.txt'), 'mnt:/data/']);
    assert.equal(ok(['exec', 'mnt', 'cat', '/data/in.txt']), 'incoming\n');
    assert.equal(readFileSync(join(volumePath('named'), 'in.txt'), 'utf8'), 'incoming\n');
    ok(['cp', join(work, 'in.txt'), 'mnt:/data/inner/renamed.txt']);
    assert.equal(ok(['exec', 'mnt', 'cat', '/data/inner/renamed.txt']), 'incoming\n');
    assert.equal(readFileSync(join(volumePath('inner'), 'renamed.txt'), 'utf8'), 'incoming\n');
    ok(['cp', join(work, 'in.txt'), 'mnt:/bind/']);
    assert.equal(readFileSync(join(bind, 'in.txt'), 'utf8'), 'incoming\n');
    assert.equal(ok(['exec', 'mnt', 'cat', '/bind/in.txt']), 'incoming\n');
    // Nothing landed in the read/write layer beneath the mounts.
    const diff = ok(['diff', 'mnt']);
    assert.ok(!/\/(data|bind)\/in\.txt/.test(diff), diff);
    // Copies are reported as dockerd reports them.
    const actions = ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=mnt', '--format', '{{.Action}}']);
    assert.match(actions, /^archive-path$/m);
    assert.match(actions, /^extract-to-dir$/m);
  });

  test('a symlink in a volume (absolute or climbing with ..) pointing at /etc reaches the container\'s /etc, not the host\'s', () => {
    assert.equal(copyOut(`mnt:/data/etc-link/${marker}`, 'via-abs'), 'in-container\n');
    assert.equal(copyOut(`mnt:/anon/etc-rel/${marker}`, 'via-rel'), 'in-container\n');
    ok(['cp', '-L', 'mnt:/data/etc-link', join(work, 'etc-copy')]);
    assert.equal(readFileSync(join(work, 'etc-copy', marker), 'utf8'), 'in-container\n');
    ok(['cp', join(work, 'in.txt'), `mnt:/data/etc-link/${marker}.in`]);
    assert.equal(ok(['exec', 'mnt', 'cat', `/etc/${marker}.in`]), 'incoming\n');
    ok(['cp', join(work, marker), 'mnt:/anon/etc-rel/']);
    assert.equal(ok(['exec', 'mnt', 'cat', `/etc/${marker}`]), 'planted\n');
    assert.ok(!existsSync(`/etc/${marker}`) && !existsSync(`/etc/${marker}.in`), 'nothing was written to the host\'s /etc');
  });

  test('read-only volumes, binds and roots refuse writes', () => {
    fails(['cp', join(work, 'in.txt'), 'mnt:/robind/'], /mounted volume is marked read-only/);
    fails(['cp', join(work, 'in.txt'), 'mnt:/rovol/'], /mounted volume is marked read-only/);
    assert.ok(!existsSync(join(roBind, 'in.txt')));
    assert.equal(copyOut('mnt:/robind/r.txt', 'r.txt'), 'read only\n', 'reading a read-only bind is fine');
    ok(['run', '-d', '--name', 'ro', '--read-only', '-v', 'rw-in-ro:/rw', 'busybox', 'sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    fails(['cp', join(work, 'in.txt'), 'ro:/'], /container rootfs is marked read-only/);
    fails(['cp', join(work, 'in.txt'), 'ro:/tmp/'], /container rootfs is marked read-only/);
    ok(['cp', join(work, 'in.txt'), 'ro:/rw/']);
    assert.equal(ok(['exec', 'ro', 'cat', '/rw/in.txt']), 'incoming\n');
    ok(['create', '--name', 'ro-stopped', '--read-only', 'busybox', 'true']);
    fails(['cp', join(work, 'in.txt'), 'ro-stopped:/'], /container rootfs is marked read-only/);
  });

  test('a stopped container\'s volumes and binds', () => {
    ok(['create', '--name', 'stopped', '-v', 'named:/data', '-v', `${bind}:/bind`, 'busybox', 'cat', '/data/from-cp.txt', '/bind/b.txt']);
    ok(['cp', join(work, 'in.txt'), 'stopped:/data/from-cp.txt']);
    assert.equal(readFileSync(join(volumePath('named'), 'from-cp.txt'), 'utf8'), 'incoming\n');
    assert.equal(copyOut('stopped:/data/v.txt', 'stopped-v.txt'), 'vol\n');
    assert.equal(ok(['start', '-a', 'stopped']), 'incoming\nfrom the bind\n');
  });

  test('tmpfs is not in the view (as in Docker): copies reach the directory beneath it', () => {
    fails(['cp', 'mnt:/scratch/t.txt', join(work, 't.txt')], /Could not find the file \/scratch\/t.txt/);
    ok(['cp', join(work, 'in.txt'), 'mnt:/scratch/']);
    assert.notEqual(d.docker(['exec', 'mnt', 'cat', '/scratch/in.txt']).status, 0, 'hidden under the tmpfs');
    assert.match(ok(['diff', 'mnt']), /A \/scratch\/in\.txt/);
  });

  test('an archive into a volume replaces a directory with a file and keeps hard links', async () => {
    ok(['exec', 'mnt', 'sh', '-c', 'mkdir -p /data/replace/sub && touch /data/replace/sub/x']);
    const pack = tar.pack();
    pack.entry({ name: 'replace' }, 'now a file\n');
    pack.entry({ name: 'orig' }, 'linked\n');
    pack.entry({ name: 'hard', type: 'link', linkname: 'orig' });
    pack.entry({ name: 'dir/', type: 'directory', mode: 0o750, mtime: new Date('2001-02-03T04:05:06Z') });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const res = await d.api('PUT', '/containers/mnt/archive?path=/data', Buffer.concat(chunks), { 'Content-Type': 'application/x-tar' });
    assert.equal(res.status, 200, res.body);
    assert.equal(ok(['exec', 'mnt', 'cat', '/data/replace']), 'now a file\n');
    assert.equal(ok(['exec', 'mnt', 'stat', '-c', '%h', '/data/hard']).trim(), '2');
    assert.equal(ok(['exec', 'mnt', 'stat', '-c', '%a %Y', '/data/dir']).trim(), `750 ${Date.parse('2001-02-03T04:05:06Z') / 1000}`);
    assert.equal(readFileSync(join(volumePath('named'), 'hard'), 'utf8'), 'linked\n');
  });

  test('a mount point itself cannot be replaced', () => {
    fails(['cp', join(work, 'in.txt'), 'mnt:/etc/hostname'], /device or resource busy/);
    fails(['cp', join(work, 'in.txt'), 'mnt:/etc/single.txt'], /device or resource busy/);
    assert.equal(readFileSync(join(d.dir, 'single.txt'), 'utf8'), 'a single file\n');
    assert.equal(ok(['exec', 'mnt', 'cat', '/etc/hostname']).length, 13);
  });
});
