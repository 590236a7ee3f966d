/**
 * berth compose beside its peers: Debian's docker-compose 1.29 (Python) against the same berthd — each sees the
 * other's projects through docker compose's labels — and the docker CLI running berth compose as its compose
 * plugin (DOCKER_CONFIG/cli-plugins/docker-compose). berth compose against a real dockerd: compose-dockerd.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importBusybox, repoRoot, startBerthd, type Berthd } from './helpers/berthd.js';
import { berthCompose, composeEnv, runProcess, sampleCopy, tempProject } from './compose-harness.js';

const DOCKER_COMPOSE_V1 = '/usr/bin/docker-compose';
const haveV1 = existsSync(DOCKER_COMPOSE_V1);

const LEGACY = `services:
  app:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"]
`;

describe('berth compose and its peers', () => {
  let d: Berthd;

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
  });
  after(async () => { await d?.cleanup(); });

  const v1 = (cwd: string, args: string[]) => runProcess(DOCKER_COMPOSE_V1, args, { cwd, env: composeEnv(d) });
  const names = () => d.docker(['ps', '-a', '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean).sort();

  test('a project started by docker-compose 1.29 is seen and taken down by berth compose, and the reverse', { skip: !haveV1 && 'no /usr/bin/docker-compose' }, async () => {
    const p = tempProject({ 'docker-compose.yml': LEGACY }, 'legacy');
    try {
      const up = await v1(p.dir, ['up', '-d']);
      assert.equal(up.status, 0, up.stderr);
      const ps = await berthCompose(d, p.dir, ['ps', '--format', 'json']);
      assert.equal(ps.status, 0, ps.stderr);
      const entry = JSON.parse(ps.stdout.split('\n')[0]) as { Name: string; Service: string; Project: string; State: string };
      assert.deepEqual([entry.Name, entry.Service, entry.Project, entry.State], ['legacy_app_1', 'app', 'legacy', 'running']);
      const ls = await berthCompose(d, p.dir, ['ls']);
      assert.match(ls.stdout, /^legacy\s+running\(1\)\s+docker-compose\.yml$/m);
      const down = await berthCompose(d, p.dir, ['down', '-t', '1']);
      assert.equal(down.status, 0, down.stderr);
      assert.deepEqual(names(), []);

      const up2 = await berthCompose(d, p.dir, ['up', '-d']);
      assert.equal(up2.status, 0, up2.stderr);
      const ps2 = await v1(p.dir, ['ps', '--services']);
      assert.equal(ps2.stdout.trim(), 'app', ps2.stderr);
      const down2 = await v1(p.dir, ['down', '-t', '1']);
      assert.equal(down2.status, 0, down2.stderr);
      assert.deepEqual(names(), []);
    } finally { p.cleanup(); }
  });

  test('docker-compose 1.29 recreates a service whose configuration changed, with its anonymous volume', { skip: !haveV1 && 'no /usr/bin/docker-compose' }, async () => {
    // Recreating reads the image's ContainerConfig (API 1.38): the old container's anonymous volume goes to the new one.
    const yml = `services:\n  app:\n    image: busybox\n    network_mode: bridge\n    environment:\n      - V=\${V:-1}\n    volumes:\n      - /anon\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"]\n`;
    const p = tempProject({ 'docker-compose.yml': yml }, 'recreate');
    try {
      const up = await v1(p.dir, ['up', '-d']);
      assert.equal(up.status, 0, up.stderr);
      assert.equal(d.docker(['exec', 'recreate_app_1', 'sh', '-c', 'echo kept > /anon/f']).status, 0);
      const again = await runProcess(DOCKER_COMPOSE_V1, ['up', '-d'], { cwd: p.dir, env: { ...composeEnv(d), V: '2' } });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /Recreating recreate_app_1 .*done/);
      assert.equal(d.docker(['exec', 'recreate_app_1', 'sh', '-c', 'echo $V; cat /anon/f']).stdout, '2\nkept\n');
      assert.deepEqual(names(), ['recreate_app_1']);
      const down = await v1(p.dir, ['down', '-v', '-t', '1']);
      assert.equal(down.status, 0, down.stderr);
      assert.deepEqual(names(), []);
    } finally { p.cleanup(); }
  });

  test('docker-compose 1.29 brings the sample application up and down', {
    skip: !haveV1 && 'no /usr/bin/docker-compose',
  }, async () => {
    const sample = sampleCopy();
    try {
      const up = await v1(sample.dir, ['up', '-d']);
      try {
        assert.equal(up.status, 0, up.stderr);
        const r = d.docker(['exec', 'compose-sample_worker_1', 'wget', '-q', '-O-', 'http://web/greeting']);
        assert.equal(r.stdout, 'hello\n', r.stderr);
        const ps = await berthCompose(d, sample.dir, ['ps', '--services']);
        assert.equal(ps.stdout, 'db\nweb\nworker\n');
      } finally {
        const down = await v1(sample.dir, ['down', '-v', '-t', '1']);
        assert.equal(down.status, 0, down.stderr);
      }
      assert.deepEqual(names(), []);
      assert.equal(d.docker(['volume', 'ls', '-q']).stdout.trim(), '');
    } finally {
      await berthCompose(d, sample.dir, ['down', '-v', '-t', '1']);
      sample.cleanup();
    }
  });

  test('the docker CLI runs berth compose as its compose plugin', async () => {
    const config = mkdtempSync(join(tmpdir(), 'berth-docker-config-'));
    const p = tempProject({ 'compose.yaml': LEGACY }, 'plugged');
    try {
      mkdirSync(join(config, 'cli-plugins'));
      symlinkSync(join(repoRoot, 'cli-plugins', 'docker-compose'), join(config, 'cli-plugins', 'docker-compose'));
      const env = composeEnv(d, { DOCKER_CONFIG: config });
      const docker = (args: string[]) => runProcess('docker', args, { cwd: p.dir, env });
      const version = await docker(['compose', 'version']);
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, /^Docker Compose version v2\.\d+\.\d+-berth\.\S+ \(berth compose \S+\)$/m);
      const info = await docker(['info', '--format', '{{json .ClientInfo.Plugins}}']);
      const plugin = (JSON.parse(info.stdout) as Array<{ Name: string; Vendor?: string; Err?: string }>).find((x) => x.Name === 'compose');
      assert.equal(plugin?.Vendor, 'berth', JSON.stringify(plugin));
      const up = await docker(['compose', 'up', '-d']);
      assert.equal(up.status, 0, up.stderr);
      const ps = await docker(['compose', 'ps']);
      assert.equal(ps.status, 0, ps.stderr);
      assert.match(ps.stdout, /^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS$/m);
      assert.match(ps.stdout, /^plugged-app-1\s+busybox\s+.*\s+app\s+.*Up /m);
      const down = await docker(['compose', 'down', '-t', '1']);
      assert.equal(down.status, 0, down.stderr);
      assert.deepEqual(names(), []);
    } finally {
      rmSync(config, { recursive: true, force: true });
      p.cleanup();
    }
  });
});
