/**
 * Debian's python3-docker (docker-py 5, run by /usr/bin/python3) against berthd: the scenarios in
 * helpers/docker-py-scenarios.py do what a Python user does, and print what that user would look at.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { importBusybox, repoRoot, startBerthd, type Berthd } from './helpers/berthd.js';

const SCENARIOS = join(repoRoot, 'test', 'integration', 'helpers', 'docker-py-scenarios.py');

describe('python3-docker (docker-py 5)', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  function scenario(name: string): any {
    const r = spawnSync('/usr/bin/python3', [SCENARIOS, name], { env: { ...d.env, PYTHONDONTWRITEBYTECODE: '1' }, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  test('containers.run returns the output (the default log driver is json-file), raises ContainerError with stderr, removes', () => {
    assert.deepEqual(scenario('run_output'), { out: 'hi\n', err: 'er\n', failed: [3, 'bad\n'], left: [] });
  });

  test('a detached container: wait, logs, followed logs, labels and the label filter', () => {
    assert.deepEqual(scenario('detached'), {
      wait: { StatusCode: 0, Error: null }, logs: 'one\ntwo\n', status: 'exited', followed: ['one\n', 'two\n'], labels: { a: 'b' }, listed: ['py-det'],
    });
  });

  test('exec_run: exit code, demux, environment, user and workdir, stdin through the socket', () => {
    const r = scenario('execs');
    assert.deepEqual(r.plain, [5, ['a', 'b']]);
    assert.deepEqual(r.split, [0, 'a\n', 'b\n']);
    assert.equal(r.env, true);
    assert.equal(r.who, '65534\n/tmp\n');
    // One stdout frame: stream 1, length 14, the bytes that went in.
    assert.equal(Buffer.from(r.socket, 'hex').toString('latin1'), '\x01\x00\x00\x00\x00\x00\x00\x0ethrough socket');
  });

  test('put_archive, get_archive with its stat, diff; a missing path is NotFound', () => {
    assert.deepEqual(scenario('archive'), {
      put: true, stat: ['f.txt', 7], got: 'payload', diff: [{ Path: '/tmp', Kind: 0 }, { Path: '/tmp/f.txt', Kind: 1 }], missing: 404,
    });
  });

  test('images.build from a Dockerfile and from a custom context, BuildError on a failing step, save and load', () => {
    assert.deepEqual(scenario('build'), {
      tags: ['pyb:1'], labels: { x: 'y' }, run: 'built\n', ctx: 'from the context\n', streamed: true,
      failure: "The command '/bin/sh -c exit 9' returned a non-zero code: 9", loaded: [['pyb:1']],
    });
  });

  test('a user network with name resolution, a named volume shared by two containers, a published port', () => {
    const r = scenario('networks_volumes');
    assert.deepEqual([r.members, r.ping, r.kept], [['py-peer'], true, 'kept\n']);
    assert.equal(r.ports['80/tcp'][0].HostIp, '127.0.0.1');
    assert.match(r.ports['80/tcp'][0].HostPort, /^\d+$/);
  });

  test('top, rename, pause, update, restart, stop, stats, commit and attach_socket', () => {
    assert.deepEqual(scenario('lifecycle'), {
      titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], name: 'py-top2', paused: 'paused', memory: 64 * 1024 * 1024,
      restarted: 'running', code: 137, stats: [true, ['cpu_usage', 'online_cpus', 'system_cpu_usage', 'throttling_data']], commit: 'c\n',
      attached: Buffer.from('\x01\x00\x00\x00\x00\x00\x00\x09attached\n', 'latin1').toString('hex'),
    });
  });

  test('errors arrive as docker-py\'s exception classes with Docker\'s codes and messages; events, df, version', () => {
    const r = scenario('errors');
    assert.deepEqual(r.errors.slice(0, 4), [
      ['NotFound', 404, 'No such container: nope'],
      ['ImageNotFound', 404, 'No such image: nope:1'],
      ['ImageNotFound', 404, 'No such image: nope:1'],
      ['APIError', 400, 'Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'],
    ]);
    assert.deepEqual(r.errors[4].slice(0, 2), ['APIError', 409]);
    assert.match(r.errors[4][2], /^Conflict\. The container name "\/py-taken" is already in use by container "[0-9a-f]{64}"/);
    for (const name of ['py-det', 'py-taken', 'py-top2']) assert.ok(r.destroyed.includes(name), `destroy events: ${r.destroyed}`);
    assert.deepEqual(r.df, ['BuildCache', 'Containers', 'Images', 'LayersSize', 'Volumes']);
    assert.equal(r.ping, true);
    assert.equal(r.api, '1.45');
  });
});
