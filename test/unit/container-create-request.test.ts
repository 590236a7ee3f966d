/**
 * The JSON type check of containers/create bodies: what real clients send passes (the docker CLI's
 * full body, Cmd as a string, nulls, unknown fields); each bad body of the audit is refused with
 * dockerd's encoding/json or validation message. And a create that fails leaves no directory.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerService, type ContainerServiceOptions } from '../../src/container/index.js';
import { validateCreateRequest } from '../../src/container/create-request.js';
import { InvalidParameterError } from '../../src/errors/index.js';
import { openDatabase } from '../../src/store/index.js';
import { badCreateBodies, dockerCliCreateBody } from '../fixtures/requests/request-bodies.js';

const refuses = (body: unknown, message: string) =>
  assert.throws(() => validateCreateRequest(body), (e: unknown) => e instanceof InvalidParameterError && e.message === message ? true : assert.fail(`got ${String(e)}`));

describe('container create request types', () => {
  test('the body of docker create with ports, ulimits, health check, mounts and limits passes', () => {
    validateCreateRequest(dockerCliCreateBody);
  });

  test('Cmd, Entrypoint and Shell as strings or lists, CapAdd as a string, pass', () => {
    validateCreateRequest({ Image: 'busybox', Cmd: 'echo hi', Entrypoint: ['sh', '-c'], Shell: '/bin/sh', HostConfig: { CapAdd: 'NET_ADMIN' } });
    validateCreateRequest({ Image: 'busybox', Cmd: [], Entrypoint: '' });
  });

  test('null fields, unknown fields and lowercase field names pass', () => {
    validateCreateRequest({
      Image: 'busybox', Cmd: null, Env: null, Labels: null, Healthcheck: null, ExposedPorts: { '80/tcp': null }, StopTimeout: null,
      HostConfig: null, NetworkingConfig: { EndpointsConfig: null }, Unknown: { deep: [1, { x: 'y' }] },
    });
    validateCreateRequest({ Image: 'busybox', HostConfig: { Memory: null, Bogus: 5, PortBindings: null, Ulimits: null }, labels: { a: 'b' } });
    validateCreateRequest(null);
  });

  test('port keys, host ports, host IPs and ulimit names dockerd takes pass', () => {
    validateCreateRequest({
      Image: 'busybox', ExposedPorts: { 80: {}, '53/udp': {}, '8000-8010/tcp': {}, '9/sctp': {} },
      HostConfig: {
        PortBindings: {
          '80/tcp': [{ HostIp: '', HostPort: '' }, { HostIp: '127.0.0.1', HostPort: '8080' }, { HostIp: '::1', HostPort: '0' }],
          '8000-8010/tcp': [{ HostPort: '9000-9010' }], 53: [{}],
        },
        Ulimits: ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']
          .map((Name) => ({ Name, Soft: 1, Hard: 2 })),
        Memory: 2 ** 40, MemorySwap: -1, MemorySwappiness: -1, NanoCpus: 5e8, BlkioWeight: 500,
      },
    });
  });

  test('a wrong port number in a key, a reversed range or an unknown protocol is refused', () => {
    refuses({ Image: 'busybox', ExposedPorts: { '0/tcp': {} } }, 'invalid port specification: "0/tcp"');
    refuses({ Image: 'busybox', ExposedPorts: { '70000/tcp': {} } }, 'invalid port specification: "70000/tcp"');
    refuses({ Image: 'busybox', HostConfig: { PortBindings: { '90-80/tcp': [] } } }, 'invalid port specification: "90-80/tcp"');
    refuses({ Image: 'busybox', HostConfig: { PortBindings: { '80/icmp': [] } } }, 'invalid port specification: "80/icmp"');
    refuses({ Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 'x80' }] } } }, 'invalid port specification: "x80"');
  });

  test('nested structs name their own struct and the full path', () => {
    refuses({ Image: 'busybox', HostConfig: { Mounts: [{ Type: 'bind', BindOptions: { Propagation: 1 } }] } },
      'json: cannot unmarshal number into Go struct field BindOptions.HostConfig.Mounts.BindOptions.Propagation of type string');
    refuses({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: '3' } } },
      'json: cannot unmarshal string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int');
    refuses({ Image: 'busybox', HostConfig: { BlkioWeight: 70000 } }, 'json: cannot unmarshal number 70000 into Go struct field Resources.HostConfig.BlkioWeight of type uint16');
    refuses({ Image: 'busybox', HostConfig: { Privileged: 'true' } }, 'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Privileged of type bool');
    refuses({ Image: 'busybox', HostConfig: [] }, 'json: cannot unmarshal array into Go struct field ContainerConfigWrapper.HostConfig of type container.HostConfig');
  });

  for (const c of badCreateBodies) {
    test(`refuses ${c.what}`, () => refuses(c.body, c.message));
  }
});

describe('container create failures', () => {
  /** A container service over a temporary data root, with stand-ins for the image store, runtime and networking. */
  function serviceWith(networking: ContainerServiceOptions['networking']) {
    const dataRoot = mkdtempSync(join(tmpdir(), 'berth-create-'));
    const db = openDatabase(join(dataRoot, 'berth.db'));
    const events: unknown[] = [];
    const service = new ContainerService({
      db, dataRoot, networking, hooks: [], cgroupParent: '/berth-unit', log: () => undefined,
      images: { setUsage: () => undefined, resolve: () => ({ id: 'sha256:' + 'a'.repeat(64) }), config: async () => ({ config: { Cmd: ['sh'] } }), table: { get: () => undefined } },
      runtime: { cfg: { name: 'runc' } },
      events: { emit: (...e: unknown[]) => events.push(e) },
    } as unknown as ContainerServiceOptions);
    return { service, dataRoot, events, close: () => { db.close(); rmSync(dataRoot, { recursive: true, force: true }); } };
  }

  test('a create that fails after its directory was made removes the directory and saves nothing', async () => {
    const s = serviceWith({ planned: () => { throw new Error('planning failed'); } } as unknown as ContainerServiceOptions['networking']);
    try {
      await assert.rejects(s.service.create({ Image: 'busybox' }), /planning failed/);
      assert.deepEqual(readdirSync(join(s.dataRoot, 'containers')), []);
      assert.deepEqual(s.service.list(), []);
      assert.deepEqual(s.events, []);
    } finally { s.close(); }
  });

  test('a wait whose caller went away is dropped; the others stay', async () => {
    const s = serviceWith({ planned: () => ({}) } as unknown as ContainerServiceOptions['networking']);
    try {
      const { Id } = await s.service.create({ Image: 'busybox', Cmd: 'true' });
      const gone = new AbortController();
      void s.service.wait(Id, 'next-exit', gone.signal);
      void s.service.wait(Id, 'removed');
      assert.equal(s.service.waiterCount(Id), 2);
      gone.abort();
      assert.equal(s.service.waiterCount(Id), 1);
    } finally { s.close(); }
  });

  test('a body of the wrong types is refused before anything is made', async () => {
    const s = serviceWith({ planned: () => ({}) } as unknown as ContainerServiceOptions['networking']);
    try {
      await assert.rejects(s.service.create({ Image: 'busybox', Labels: { a: 1 } }), /ContainerConfigWrapper\.Labels of type string/);
      assert.deepEqual(readdirSync(s.dataRoot).filter((f) => f === 'containers'), []);
      const ok = await s.service.create({ Image: 'busybox', Cmd: 'true', Labels: { a: '1' } });
      assert.deepEqual(readdirSync(join(s.dataRoot, 'containers')), [ok.Id]);
    } finally { s.close(); }
  });
});
