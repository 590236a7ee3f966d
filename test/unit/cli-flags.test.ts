import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, filtersFromFlags, parseFlags, type FlagSpec } from '../../src/cli/flags.js';
import { CONTAINER_FLAGS, RUN_ONLY_FLAGS, buildCreateBody, parsePortSpecs, parseRestartPolicy } from '../../src/cli/run-options.js';

const RUN = [...CONTAINER_FLAGS, ...RUN_ONLY_FLAGS];
const run = (argv: string[]) => parseFlags(RUN, argv, { stopAtFirstArg: true });

test('combined short booleans: -it, -dit', () => {
  const p = run(['-it', 'busybox', 'sh']);
  assert.equal(p.flags.interactive, true);
  assert.equal(p.flags.tty, true);
  assert.deepEqual(p.args, ['busybox', 'sh']);
  const q = run(['-dit', '--rm', 'busybox']);
  assert.equal(q.flags.detach, true); assert.equal(q.flags.rm, true);
});

test('values: -e X=Y, --env=X, -eFOO=1, --name value, --name=value, repeated lists', () => {
  const p = run(['-e', 'X=Y', '--env=Z', '-eFOO=1', '--name', 'web', '-l', 'a=b', '--label=c=d', 'img']);
  assert.deepEqual(p.flags.env, ['X=Y', 'Z', 'FOO=1']);
  assert.equal(p.flags.name, 'web');
  assert.deepEqual(p.flags.label, ['a=b', 'c=d']);
  assert.ok(p.changed.has('name'));
});

test('parsing stops at the image: the command keeps its own flags', () => {
  const p = run(['--rm', 'busybox', 'ls', '-la', '--name', 'x']);
  assert.deepEqual(p.args, ['busybox', 'ls', '-la', '--name', 'x']);
  assert.equal(p.flags.name, undefined);
});

test('-- ends flag parsing', () => {
  const specs: FlagSpec[] = [{ name: 'force', short: 'f', type: 'bool' }];
  const p = parseFlags(specs, ['-f', '--', '-weird-name']);
  assert.equal(p.flags.force, true);
  assert.deepEqual(p.args, ['-weird-name']);
  const q = run(['--', 'busybox', '-x']);
  assert.deepEqual(q.args, ['busybox', '-x']);
});

test('interspersed flags for ordinary commands; bool=false; int flags', () => {
  const specs: FlagSpec[] = [{ name: 'all', short: 'a', type: 'bool' }, { name: 'last', short: 'n', type: 'int', default: -1 }];
  const p = parseFlags(specs, ['x', '-a', 'y', '-n', '3', '--all=false']);
  assert.deepEqual(p.args, ['x', 'y']);
  assert.equal(p.flags.all, false);
  assert.equal(p.flags.last, 3);
  assert.throws(() => parseFlags(specs, ['-n', 'x']), /invalid argument "x" for "-n, --last" flag/);
});

test('docker error messages for bad flags', () => {
  assert.throws(() => run(['--foo', 'busybox']), (e: Error) => e instanceof FlagError && e.message === 'unknown flag: --foo');
  assert.throws(() => run(['-Z']), /unknown shorthand flag: 'Z' in -Z/);
  assert.throws(() => run(['--name']), /flag needs an argument: --name/);
});

test('filters become the API map of lists', () => {
  assert.deepEqual(filtersFromFlags(['status=exited', 'label=a=b', 'status=created']), { status: ['exited', 'created'], label: ['a=b'] });
  assert.throws(() => filtersFromFlags(['nope']), /bad format of filter/);
});

test('run flags build Config and HostConfig', () => {
  const p = run(['-d', '--name', 'w', '-e', 'A=1', '-e', 'HOME_X', '-w', '/tmp', '-u', '1000', '--entrypoint', '/bin/sh',
    '-l', 'k=v', '-h', 'host1', '-v', '/data:/data:ro', '-v', '/anon', '-p', '8080:80', '-p', '127.0.0.1:53:53/udp',
    '--network', 'net1', '-m', '32m', '--cpus', '1.5', '--pids-limit', '10', '--restart', 'on-failure:2',
    '--read-only', '--privileged', '--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '--init', '--health-cmd', 'true', '--health-interval', '5s', '--health-retries', '3', 'busybox', 'echo', 'hi']);
  const b = buildCreateBody(p, { HOME_X: '/root' }, '/');
  assert.equal(b.Image, 'busybox');
  assert.deepEqual(b.Cmd, ['echo', 'hi']);
  assert.deepEqual(b.Env, ['A=1', 'HOME_X=/root']);
  assert.equal(b.WorkingDir, '/tmp'); assert.equal(b.User, '1000'); assert.deepEqual(b.Entrypoint, ['/bin/sh']);
  assert.deepEqual(b.Labels, { k: 'v' }); assert.equal(b.Hostname, 'host1');
  assert.equal(b.AttachStdout, false);
  assert.deepEqual(b.Volumes, { '/anon': {} });
  assert.deepEqual(b.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  const hc = b.HostConfig!;
  assert.deepEqual(hc.Binds, ['/data:/data:ro']);
  assert.deepEqual(hc.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '53' }] });
  assert.equal(hc.NetworkMode, 'net1');
  assert.equal(hc.Memory, 32 * 1024 * 1024);
  assert.equal(hc.NanoCpus, 1.5e9);
  assert.equal(hc.PidsLimit, 10);
  assert.deepEqual(hc.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
  assert.equal(hc.ReadonlyRootfs, true); assert.equal(hc.Privileged, true);
  assert.deepEqual(hc.CapAdd, ['NET_ADMIN']); assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
  assert.equal(hc.Init, true);
  assert.deepEqual(b.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 0, Retries: 3, StartPeriod: 0, StartInterval: 0 });
});

test('-it without -d attaches stdin once; --rm sets AutoRemove', () => {
  const b = buildCreateBody(run(['-it', '--rm', 'busybox']), {}, '/');
  assert.equal(b.AttachStdin, true); assert.equal(b.OpenStdin, true); assert.equal(b.StdinOnce, true); assert.equal(b.Tty, true);
  assert.equal(b.HostConfig!.AutoRemove, true);
  assert.equal(b.Cmd, null);
});

test('port ranges and restart policy validation', () => {
  assert.deepEqual(parsePortSpecs(['8000-8001:80-81']).bindings, {
    '80/tcp': [{ HostIp: '', HostPort: '8000' }], '81/tcp': [{ HostIp: '', HostPort: '8001' }],
  });
  assert.throws(() => parseRestartPolicy('sometimes'), /invalid restart policy/);
  assert.throws(() => parseRestartPolicy('always:3'), /maximum retry count/);
});
