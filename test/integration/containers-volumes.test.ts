/**
 * Volumes and mounts through the real docker CLI: named volumes keep data across containers,
 * labels and filters, copy-up of image content, anonymous volumes from VOLUME and `rm -v`,
 * binds (-v and --mount, ro), tmpfs, driver options (tmpfs, bind), --volumes-from, in-use
 * refusal, prune, and Docker's errors for bad specs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

describe('volumes and mounts', () => {
  let d: Berthd;
  let host: string;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    host = join(d.dir, 'host');
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, 'from-host'), 'host data\n');
  });
  after(async () => { await d?.cleanup(); });

  const ok = (args: string[], input?: string) => {
    const r = d.docker(args, { input });
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('a named volume keeps its data across container removal; ro refuses writes', () => {
    ok(['volume', 'create', '--label', 'team=blue', 'keep']);
    ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f']);
    assert.equal(ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f']), 'persisted\n');
    const ro = d.docker(['run', '--rm', '-v', 'keep:/data:ro', 'busybox', 'sh', '-c', 'echo x > /data/g']);
    assert.notEqual(ro.status, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const insp = JSON.parse(ok(['volume', 'inspect', 'keep']))[0];
    assert.equal(insp.Driver, 'local');
    assert.deepEqual(insp.Labels, { team: 'blue' });
    assert.equal(insp.Scope, 'local');
    assert.equal(readFileSync(join(insp.Mountpoint, 'f'), 'utf8'), 'persisted\n');
    assert.equal(ok(['volume', 'ls', '-q', '--filter', 'label=team=blue']).trim(), 'keep');
    assert.equal(ok(['volume', 'ls', '-q', '--filter', 'label=team=red']).trim(), '');
  });

  test('inspect shows Mounts in Docker\'s shape; a volume in use cannot be removed', () => {
    ok(['create', '--name', 'user1', '-v', 'keep:/data', '-v', `${host}:/h:ro`, 'busybox', 'true']);
    const mounts = JSON.parse(ok(['inspect', '-f', '{{json .Mounts}}', 'user1']));
    const vol = mounts.find((m: any) => m.Type === 'volume');
    const bind = mounts.find((m: any) => m.Type === 'bind');
    assert.deepEqual(Object.keys(vol), ['Type', 'Name', 'Source', 'Destination', 'Driver', 'Mode', 'RW', 'Propagation']);
    assert.equal(vol.Name, 'keep'); assert.equal(vol.Destination, '/data'); assert.equal(vol.RW, true);
    assert.deepEqual(bind, { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' });
    const rm = d.docker(['volume', 'rm', 'keep']);
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, /volume is in use/);
    ok(['rm', 'user1']);
    ok(['volume', 'rm', 'keep']);
    assert.match(d.docker(['volume', 'inspect', 'keep']).stderr, /no such volume/);
  });

  test('binds: -v and --mount, a missing --mount source is Docker\'s error, tmpfs mounts', () => {
    assert.equal(ok(['run', '--rm', '-v', `${host}:/h`, 'busybox', 'cat', '/h/from-host']), 'host data\n');
    ok(['run', '--rm', '--mount', `type=bind,source=${host},target=/h`, 'busybox', 'sh', '-c', 'echo back > /h/from-container']);
    assert.equal(readFileSync(join(host, 'from-container'), 'utf8'), 'back\n');
    const missing = d.docker(['run', '--rm', '--mount', `type=bind,source=${host}/nope,target=/x`, 'busybox', 'true']);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /bind source path does not exist: .*\/nope/);
    const created = join(host, 'made-by-v');
    ok(['run', '--rm', '-v', `${created}:/m`, 'busybox', 'true']);
    assert.ok(existsSync(created), '-v creates a missing host directory');
    const t = ok(['run', '--rm', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1048576', '--tmpfs', '/run:size=2m', 'busybox', 'sh', '-c', "grep -E ' /(t|run) ' /proc/mounts"]);
    assert.match(t, /tmpfs \/t tmpfs .*size=1024k/);
    assert.match(t, /tmpfs \/run tmpfs .*size=2048k/);
  });

  test('image VOLUME: anonymous volume with the image content copied up; rm -v removes it', () => {
    ok(['build', '-q', '-t', 'withvol', '-'], 'FROM busybox\nRUN mkdir -p /seed && echo seeded > /seed/file\nVOLUME /seed\n');
    ok(['run', '--name', 'anon', 'busybox', 'true']);
    const id = ok(['create', '--name', 'anon2', 'withvol', 'cat', '/seed/file']).trim();
    assert.equal(ok(['start', '-a', id]), 'seeded\n');
    const mounts = JSON.parse(ok(['inspect', '-f', '{{json .Mounts}}', 'anon2']));
    assert.equal(mounts.length, 1);
    assert.match(mounts[0].Name, /^[a-f0-9]{64}$/);
    assert.ok(ok(['volume', 'ls', '-q']).includes(mounts[0].Name));
    ok(['rm', '-v', 'anon2']);
    assert.ok(!ok(['volume', 'ls', '-q']).includes(mounts[0].Name), 'rm -v removed the anonymous volume');
    // A named volume is filled from the image the first time it is mounted.
    assert.equal(ok(['run', '--rm', '-v', 'seeded:/seed', 'withvol', 'cat', '/seed/file']), 'seeded\n');
    ok(['rm', 'anon']);
  });

  test('a volume on /etc keeps /etc/hosts, /etc/resolv.conf and /etc/hostname bound over it, as dockerd orders mounts', () => {
    const out = ok(['run', '--rm', '-h', 'etcvol', '-v', 'etcvol:/etc', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts; test -f /etc/resolv.conf && echo resolv']);
    assert.equal(out, 'etcvol\netcvol\n2\nresolv\n');
    ok(['volume', 'rm', 'etcvol']);
  });

  test('bind propagation shared or slave needs a host mount that is so, as dockerd checks', () => {
    const point = join(d.dir, 'propagation');
    mkdirSync(point, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-test', point]);
    try {
      execFileSync('mount', ['--make-private', point]);
      const shared = d.docker(['run', '--rm', '--mount', `type=bind,src=${point},dst=/m,bind-propagation=rshared`, 'busybox', 'true']);
      assert.notEqual(shared.status, 0);
      assert.match(shared.stderr, new RegExp(`path ${point} is mounted on ${point} but it is not a shared mount`));
      const slave = d.docker(['run', '--rm', '--mount', `type=bind,src=${point},dst=/m,bind-propagation=rslave`, 'busybox', 'true']);
      assert.match(slave.stderr, /is not a shared or slave mount/);
      execFileSync('mount', ['--make-shared', point]);
      // Now a mount the container makes below /m shows on the host.
      ok(['run', '--rm', '--privileged', '--mount', `type=bind,src=${point},dst=/m,bind-propagation=rshared`, 'busybox', 'sh', '-c', 'mkdir -p /m/sub && mount -t tmpfs inner /m/sub && echo seen > /m/sub/f']);
      assert.equal(readFileSync(join(point, 'sub', 'f'), 'utf8'), 'seen\n');
      ok(['run', '--rm', '--mount', `type=bind,src=${point},dst=/m,bind-propagation=rslave`, 'busybox', 'true']);
    } finally {
      execFileSync('umount', ['-R', point]);
    }
  });

  test('--volumes-from shares the volumes, ro when asked', () => {
    ok(['create', '--name', 'holder', '-v', 'shared:/shared', 'busybox', 'true']);
    ok(['run', '--rm', '--volumes-from', 'holder', 'busybox', 'sh', '-c', 'echo via-from > /shared/x']);
    assert.equal(ok(['run', '--rm', '--volumes-from', 'holder:ro', 'busybox', 'cat', '/shared/x']), 'via-from\n');
    const ro = d.docker(['run', '--rm', '--volumes-from', 'holder:ro', 'busybox', 'sh', '-c', 'echo no > /shared/y']);
    assert.notEqual(ro.status, 0);
    ok(['rm', 'holder']);
  });

  test('driver options: a tmpfs volume and a bind volume', () => {
    ok(['volume', 'create', '-d', 'local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=3m', 'tmpv']);
    assert.match(ok(['run', '--rm', '-v', 'tmpv:/v', 'busybox', 'sh', '-c', "grep ' /v ' /proc/mounts"]), /tmpfs \/v tmpfs .*size=3072k/);
    ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${host}`, 'bindv']);
    assert.equal(ok(['run', '--rm', '-v', 'bindv:/b', 'busybox', 'cat', '/b/from-host']), 'host data\n');
    ok(['volume', 'rm', 'tmpv', 'bindv']);
  });

  test('prune removes unused anonymous volumes (all named ones with --all); bad specs are refused', () => {
    ok(['volume', 'create', 'named-unused']);
    const anon = ok(['volume', 'create']).trim();
    assert.match(anon, /^[a-f0-9]{64}$/);
    const pruned = ok(['volume', 'prune', '-f']);
    assert.ok(!pruned.includes('named-unused'), pruned);
    assert.ok(pruned.includes(anon), pruned);
    assert.ok(ok(['volume', 'ls', '-q']).includes('named-unused'));
    ok(['volume', 'prune', '-f', '--all']);
    assert.ok(!ok(['volume', 'ls', '-q']).includes('named-unused'));

    const bad = [
      { args: ['-v', 'a:b', 'busybox', 'true'], re: /mount path must be absolute/ },
      { args: ['-v', `${host}:/x:bogus`, 'busybox', 'true'], re: /invalid mode: bogus/ },
      { args: ['-v', 'v1:/same', '-v', 'v2:/same', 'busybox', 'true'], re: /Duplicate mount point: \/same/ },
      { args: ['--volumes-from', 'no-such-container', 'busybox', 'true'], re: /No such container: no-such-container/ },
    ];
    for (const b of bad) {
      const r = d.docker(['create', ...b.args]);
      assert.notEqual(r.status, 0, b.args.join(' '));
      assert.match(r.stderr, b.re, b.args.join(' '));
    }
    assert.match(d.docker(['volume', 'create', '-o', 'bogus=1', 'x1']).stderr, /invalid option key: "bogus"/);
    assert.equal(d.docker(['volume', 'ls']).status, 0);
  });
});
