import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerSpec, loadProject, networkCreateBody, serviceConfigHash, volumeCreateBody } from '../../src/compose/index.js';
import { tempProject } from '../fixtures/compose/helpers.js';

const SAMPLE = `
services:
  web:
    build: ./web
    command: ["httpd", "-f", "-p", "80"]
    environment: { GREETING: hello, FROM_SHELL: null }
    ports: ["8080:80", "127.0.0.1::9000/udp"]
    expose: ["3000-3001"]
    volumes: ["./html:/www:ro", "data:/data:nocopy", "/anon", { type: tmpfs, target: /scratch, tmpfs: { size: 1m } }]
    networks:
      back: { aliases: [api], ipv4_address: 172.30.0.5 }
      front: { priority: 10 }
    depends_on:
      db: { condition: service_healthy }
    healthcheck: { test: wget -q -O- localhost, interval: 5s, timeout: 2s, retries: 3 }
    restart: on-failure:3
    mem_limit: 64m
    cpus: 0.5
    ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 100 }
    extra_hosts: ["host.internal:10.0.0.1"]
    tmpfs: ["/run:size=1m"]
    stop_grace_period: 30s
    secrets: [token]
    links: ["db:database"]
  db:
    image: postgres:16
    network_mode: "service:proxy"
    ipc: "service:proxy"
    pid: "service:proxy"
    deploy:
      restart_policy: { condition: any }
      resources: { limits: { memory: 128m, cpus: "1.5", pids: 50 } }
  proxy: { image: haproxy, ipc: shareable }
networks:
  front: {}
  back:
    internal: true
    ipam: { config: [{ subnet: 172.30.0.0/24, gateway: 172.30.0.1 }] }
volumes:
  data: { driver_opts: { type: none } }
secrets:
  token: { file: ./token.txt }
`;

test('a service becomes docker compose\'s container create body', (t) => {
  const p = tempProject({ 'compose.yaml': SAMPLE }, 'app');
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: { FROM_SHELL: 'sh' } });
  const spec = containerSpec(project, project.services.web, { number: 2 });
  assert.equal(spec.name, 'app-web-2');
  const b = spec.body;
  assert.equal(b.Image, 'app-web');
  assert.deepEqual(b.Cmd, ['httpd', '-f', '-p', '80']);
  assert.equal(b.Entrypoint, undefined, 'the image\'s entrypoint is kept');
  assert.deepEqual(b.Env, ['FROM_SHELL=sh', 'GREETING=hello']);
  assert.deepEqual(b.ExposedPorts, { '80/tcp': {}, '9000/udp': {}, '3000/tcp': {}, '3001/tcp': {} });
  assert.deepEqual(b.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O- localhost'], Interval: 5e9, Timeout: 2e9, Retries: 3 });
  assert.equal(b.StopTimeout, 30);
  assert.equal(b.Labels?.['com.docker.compose.container-number'], '2');
  assert.equal(b.Labels?.['com.docker.compose.config-hash'], serviceConfigHash(project.services.web));
  const h = b.HostConfig!;
  assert.deepEqual(h.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '9000/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  assert.deepEqual(h.Binds, [`${p.dir}/html:/www:ro`]);
  assert.deepEqual(h.Mounts, [
    { Type: 'volume', Target: '/data', Source: 'app_data', VolumeOptions: { NoCopy: true } },
    { Type: 'volume', Target: '/anon' },
    { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1048576 } },
    { Type: 'bind', Source: `${p.dir}/token.txt`, Target: '/run/secrets/token', ReadOnly: true },
  ]);
  assert.deepEqual(h.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.equal(h.Memory, 64 * 1024 * 1024);
  assert.equal(h.NanoCpus, 500000000);
  assert.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 100, Hard: 100 }]);
  assert.deepEqual(h.ExtraHosts, ['host.internal:10.0.0.1']);
  assert.deepEqual(h.Tmpfs, { '/run': 'size=1m' });
  assert.deepEqual(h.Links, ['app-db-1:database']);
  // the highest-priority network is attached at create, the others connected afterwards
  assert.equal(h.NetworkMode, 'app_front');
  assert.deepEqual(b.NetworkingConfig, { EndpointsConfig: { app_front: { Aliases: ['web'] } } });
  assert.deepEqual(spec.extraNetworks, [
    { network: 'app_back', key: 'back', config: { Aliases: ['web', 'api'], IPAMConfig: { IPv4Address: '172.30.0.5' } } },
  ]);

  const db = containerSpec(project, project.services.db, { number: 1 }).body;
  assert.equal(db.HostConfig?.NetworkMode, 'container:app-proxy-1');
  assert.equal(db.HostConfig?.IpcMode, 'container:app-proxy-1');
  assert.equal(db.HostConfig?.PidMode, 'container:app-proxy-1');
  assert.equal(containerSpec(project, project.services.proxy, { number: 1 }).body.HostConfig?.IpcMode, 'shareable');
  assert.equal(db.NetworkingConfig, undefined);
  assert.deepEqual(db.HostConfig?.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
  assert.equal(db.HostConfig?.Memory, 128 * 1024 * 1024);
  assert.equal(db.HostConfig?.NanoCpus, 1500000000);
  assert.equal(db.HostConfig?.PidsLimit, 50);
  assert.equal(containerSpec(project, project.services.db, { number: 1, oneoff: true }).name, 'app-db-run-1');
});

test('networks and volumes become create bodies with compose labels', (t) => {
  const p = tempProject({ 'compose.yaml': SAMPLE }, 'app');
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  assert.deepEqual(networkCreateBody(project, 'back'), {
    Name: 'app_back', Driver: 'bridge', Internal: true, Attachable: false, CheckDuplicate: true,
    Labels: { 'com.docker.compose.network': 'back', 'com.docker.compose.project': 'app', 'com.docker.compose.version': '2.32.0' },
    IPAM: { Driver: 'default', Config: [{ Subnet: '172.30.0.0/24', Gateway: '172.30.0.1' }] },
  });
  assert.deepEqual(volumeCreateBody(project, 'data'), {
    Name: 'app_data', Driver: 'local', DriverOpts: { type: 'none' },
    Labels: { 'com.docker.compose.volume': 'data', 'com.docker.compose.project': 'app', 'com.docker.compose.version': '2.32.0' },
  });
});
