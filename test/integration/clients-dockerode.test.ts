/**
 * The npm dockerode (with docker-modem) against berthd, as a Node program uses it: containers run
 * with their output demultiplexed, hijacked attach and exec with stdin, TTY resize, archives,
 * builds with progress, save/load, push, pull and distribution inspect with credentials, events,
 * networks, volumes and Docker's error codes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';
import { spawnRegistry } from './registry-harness.js';

function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(Buffer.from(b)));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

describe('dockerode', () => {
  let d: Berthd;
  let docker: Docker;
  before(async () => { d = await startBerthd(); importBusybox(d); docker = new Docker({ socketPath: d.socket }); });
  after(async () => { await d?.cleanup(); });

  /** Splits a multiplexed stream (or a logs buffer) with docker-modem's own demultiplexer. */
  async function demux(source: NodeJS.ReadableStream | Buffer): Promise<{ out: string; err: string }> {
    const stream = Buffer.isBuffer(source) ? new PassThrough().end(source) : source;
    const out = new PassThrough(); const err = new PassThrough();
    const got = Promise.all([collect(out), collect(err)]);
    docker.modem.demuxStream(stream, out, err);
    stream.on('end', () => { out.end(); err.end(); });
    const [o, e] = await got;
    return { out: o.toString(), err: e.toString() };
  }

  test('a container runs; wait gives its exit code; logs split into stdout and stderr, followed or not', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    await c.start();
    const followed = demux(await c.logs({ stdout: true, stderr: true, follow: true }) as unknown as Readable);
    assert.deepEqual(await c.wait(), { StatusCode: 3, Error: null });
    assert.deepEqual(await followed, { out: 'out\n', err: 'err\n' });
    assert.deepEqual(await demux(await c.logs({ stdout: true, stderr: true, follow: false })), { out: 'out\n', err: 'err\n' });
    const info = await c.inspect();
    assert.equal(info.State.ExitCode, 3);
    assert.equal(info.HostConfig.LogConfig?.Type, 'json-file');
    await c.remove();
  });

  test('attach with stdin gives the process exactly what was written, not the request body dockerode sends', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    // docker-modem sends the attach options as a JSON body ahead of the hijacked stream.
    const s = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const output = demux(s);
    await c.start();
    s.write('hello stdin\n');
    s.end();
    assert.deepEqual(await c.wait(), { StatusCode: 0, Error: null });
    assert.deepEqual(await output, { out: 'hello stdin\n', err: '' });
    await c.remove();
  });

  test('a TTY container takes input through attach and sees its resize', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh'], Tty: true, OpenStdin: true, AttachStdin: true, AttachStdout: true });
    const s = await c.attach({ stream: true, stdin: true, stdout: true, hijack: true });
    let seen = '';
    s.on('data', (b: Buffer) => { seen += b.toString(); });
    await c.start();
    await c.resize({ h: 33, w: 101 });
    s.write('stty size; exit 7\n');
    assert.deepEqual(await c.wait(), { StatusCode: 7, Error: null });
    await waitFor(() => seen.includes('33 101'), `the size in the output: ${JSON.stringify(seen)}`);
    assert.ok(!seen.includes('"stream"'), 'no request body in the terminal');
    await c.remove();
  });

  test('exec: output split by stream, exit code in inspect, stdin through the hijacked stream', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '60'] });
    await c.start();
    const ex = await c.exec({ Cmd: ['sh', '-c', 'echo eo; echo ee >&2; exit 4'], AttachStdout: true, AttachStderr: true });
    assert.deepEqual(await demux(await ex.start({ hijack: true, stdin: false })), { out: 'eo\n', err: 'ee\n' });
    const state = await ex.inspect();
    assert.deepEqual([state.ExitCode, state.Running], [4, false]);
    const cat = await c.exec({ Cmd: ['cat'], AttachStdin: true, AttachStdout: true });
    const s = await cat.start({ hijack: true, stdin: true });
    const output = demux(s);
    s.write('via exec stdin');
    s.end();
    assert.deepEqual(await output, { out: 'via exec stdin', err: '' });
    await c.remove({ force: true });
  });

  test('archives: putArchive, getArchive and the stat header of infoArchive', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['true'] });
    const pack = tar.pack();
    pack.entry({ name: 'hello.txt', mode: 0o640 }, 'archived');
    pack.finalize();
    await c.putArchive(pack, { path: '/tmp' });
    const extract = tar.extract();
    const entries: { name: string; body: string }[] = [];
    extract.on('entry', (h, body, next) => { collect(body).then((b) => { entries.push({ name: h.name, body: b.toString() }); next(); }, next); });
    const done = new Promise((resolve) => extract.on('finish', resolve));
    (await c.getArchive({ path: '/tmp/hello.txt' })).pipe(extract);
    await done;
    assert.deepEqual(entries, [{ name: 'hello.txt', body: 'archived' }]);
    const res = await c.infoArchive({ path: '/tmp/hello.txt' }) as unknown as { headers: Record<string, string>; destroy?: () => void };
    const stat = JSON.parse(Buffer.from(res.headers['x-docker-container-path-stat'], 'base64').toString());
    res.destroy?.();
    assert.deepEqual([stat.name, stat.size, stat.mode & 0o777], ['hello.txt', 8, 0o640]);
    await assert.rejects(c.getArchive({ path: '/nope' }), (e: any) => e.statusCode === 404);
    await c.remove();
  });

  test('build with progress, run the image, save it and load it back; events report what happened', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY note /note\nRUN echo built >> /note\nCMD ["cat", "/note"]\n');
    pack.entry({ name: 'note' }, 'copied\n');
    pack.finalize();
    const progress = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: 'dode:1' });
    const messages: any[] = await new Promise((resolve, reject) => docker.modem.followProgress(progress, (e: Error | null, out: any[]) => (e ? reject(e) : resolve(out))));
    assert.ok(messages.some((m) => m.stream === 'Successfully tagged dode:1\n'), JSON.stringify(messages));
    assert.ok(!messages.some((m) => m.error), JSON.stringify(messages));
    // Attached before the start, read to the stream's end (the wait can answer before the last output is read).
    const c = await docker.createContainer({ Image: 'dode:1' });
    const output = demux(await c.attach({ stream: true, stdout: true, stderr: true }) as unknown as Readable);
    await c.start();
    assert.equal((await c.wait()).StatusCode, 0);
    assert.deepEqual(await output, { out: 'copied\nbuilt\n', err: '' });
    await c.remove();

    const id = (await docker.getImage('dode:1').inspect()).Id;
    const archive = await collect(await docker.getImage('dode:1').get());
    await docker.getImage('dode:1').remove();
    await assert.rejects(docker.getImage('dode:1').inspect(), (e: any) => e.statusCode === 404);
    const loaded = (await collect(await docker.loadImage(new PassThrough().end(archive)) as unknown as Readable)).toString();
    assert.match(loaded, /Loaded image: dode:1/);
    assert.equal((await docker.getImage('dode:1').inspect()).Id, id);

    const events = (await collect(await docker.getEvents({ since, until: Math.floor(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['die'] } }))).toString();
    const dies = events.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(dies.some((e) => e.Actor.ID === c.id && e.Actor.Attributes.exitCode === '0'), events);
    await docker.getImage('dode:1').remove();
  });

  test('push and pull with credentials through a registry that requires them; checkAuth', async () => {
    const users = join(d.dir, 'users.htpasswd');
    writeFileSync(users, `alice:${bcrypt.hashSync('wonderland', 5)}\n`);
    const reg = await spawnRegistry(['--htpasswd', users]);
    try {
      const ref = `${reg.address}/team/bb`;
      const auth = { username: 'alice', password: 'wonderland', serveraddress: reg.address };
      const follow = async (s: NodeJS.ReadableStream): Promise<any[]> => new Promise((resolve, reject) => docker.modem.followProgress(s, (e: Error | null, out: any[]) => (e ? reject(e) : resolve(out))));
      await docker.getImage('busybox').tag({ repo: ref, tag: 'v1' });
      const refused = await follow(await docker.getImage(`${ref}:v1`).push({}));
      assert.match(refused.at(-1).error, /no basic auth credentials/);
      const pushed = await follow(await docker.getImage(`${ref}:v1`).push({ authconfig: auth }));
      const digest = pushed.find((m) => m.aux?.Digest)?.aux.Digest;
      assert.match(digest, /^sha256:[0-9a-f]{64}$/, JSON.stringify(pushed));
      await docker.getImage(`${ref}:v1`).remove();
      await assert.rejects(async () => follow(await docker.pull(`${ref}:v1`)), /no basic auth credentials/);
      const pulled = await follow(await docker.pull(`${ref}:v1`, { authconfig: auth }));
      assert.equal(pulled.at(-1).status, `Status: Downloaded newer image for ${ref}:v1`);
      assert.deepEqual((await docker.getImage(`${ref}:v1`).inspect()).RepoDigests, [`${ref}@${digest}`]);
      // GET /distribution/{name}/json: what the registry serves under the name, without pulling.
      const dist = await docker.getImage(`${ref}:v1`).distribution({ authconfig: auth }) as any;
      assert.deepEqual(dist, {
        Descriptor: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest, size: dist.Descriptor.size },
        Platforms: [{ architecture: (await docker.getImage('busybox').inspect()).Architecture, os: 'linux' }],
      });
      assert.ok(dist.Descriptor.size > 0);
      await assert.rejects(docker.getImage(`${ref}:v2`).distribution({ authconfig: auth }), (e: any) => e.statusCode === 404);
      assert.equal((await docker.checkAuth(auth)).Status, 'Login Succeeded');
      await assert.rejects(docker.checkAuth({ ...auth, password: 'wrong' }), (e: any) => e.statusCode === 401);
      await docker.getImage(`${ref}:v1`).remove();
    } finally {
      await reg.stop();
    }
  });

  test('networks and volumes; a missing object is a 404 with Docker\'s message', async () => {
    const net = await docker.createNetwork({ Name: 'dode-net', Labels: { team: 'x' } });
    const vol = await docker.createVolume({ Name: 'dode-vol' });
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo kept > /v/f'], HostConfig: { NetworkMode: 'dode-net', Binds: ['dode-vol:/v'] } });
    await c.start();
    assert.equal((await c.wait()).StatusCode, 0);
    assert.deepEqual((await net.inspect()).Labels, { team: 'x' });
    assert.ok((await docker.listNetworks({ filters: { label: ['team=x'] } })).some((n) => n.Name === 'dode-net'));
    assert.ok((await docker.listVolumes()).Volumes.some((v) => v.Name === vol.name));
    await c.remove();
    await net.remove();
    const reader = await docker.createContainer({ Image: 'busybox', Cmd: ['cat', '/v/f'], HostConfig: { Binds: ['dode-vol:/v:ro'] } });
    const logs = demux(await reader.attach({ stream: true, stdout: true, stderr: true }) as unknown as Readable);
    await reader.start();
    await reader.wait();
    assert.deepEqual(await logs, { out: 'kept\n', err: '' });
    await reader.remove();
    await docker.getVolume('dode-vol').remove();
    await assert.rejects(docker.getContainer('nope').inspect(), (e: any) => e.statusCode === 404 && /No such container: nope/.test(e.message));
    await assert.rejects(docker.getVolume('dode-vol').inspect(), (e: any) => e.statusCode === 404);
    await assert.rejects(docker.createContainer({ Image: 'nosuch:1' }), (e: any) => e.statusCode === 404 && /No such image: nosuch:1/.test(e.message));
  });
});
