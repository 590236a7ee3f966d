/**
 * berth compose against a private berthd with the sample application (examples/compose-sample): up -d --wait
 * (web built from its Dockerfile, db with a health check and a named volume, worker talking to both by name),
 * --scale web=3 behind one name, a changed environment recreating only web, run and logs, down -v leaving
 * nothing; foreground up (prefixed logs, --exit-code-from, Ctrl-C); bad input and a failed up leaving nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';
import { berthCompose, sampleCopy, tempProject } from './compose-harness.js';

interface PsEntry { ID: string; Name: string; Service: string; State: string; Labels: string; Publishers: Array<{ PublishedPort: number }> }

describe('berth compose with the sample application', () => {
  let d: Berthd;
  let sample: { dir: string; cleanup: () => void };

  before(async () => {
    d = await startBerthd();
    importBusybox(d);
    sample = sampleCopy();
  });
  after(async () => {
    if (d && sample) await berthCompose(d, sample.dir, ['down', '-v', '-t', '1']).catch(() => {});
    await d?.cleanup();
    sample?.cleanup();
  });

  const compose = (args: string[], env: NodeJS.ProcessEnv = {}) => berthCompose(d, sample.dir, args, { env });
  const ps = async (): Promise<PsEntry[]> => {
    const r = await compose(['ps', '-a', '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PsEntry);
  };
  /** What `cmd` in the worker prints once it succeeds with output matching `want` (the network may take a moment). */
  const fromWorker = async (cmd: string[], want: RegExp): Promise<string> => {
    let last = '';
    const out = await waitFor(async () => {
      const r = await compose(['exec', '-T', 'worker', ...cmd]);
      last = `${r.status} ${r.stdout} ${r.stderr}`;
      return r.status === 0 && want.test(r.stdout) ? r.stdout : undefined;
    }, `${cmd.join(' ')} to print ${want}`, 60_000).catch((e: Error) => { throw new Error(`${e.message}; last: ${last}`); });
    return out ?? '';
  };

  test('up -d --wait builds web, starts db (healthy, named volume) and worker, with docker compose labels', async () => {
    const r = await compose(['up', '-d', '--wait']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Network compose-sample_default {2}Created/);
    assert.match(r.stderr, /Volume "compose-sample_db-data" {2}Created/);
    assert.match(r.stderr, /Container compose-sample-db-1 {2}Healthy/);
    const list = await ps();
    assert.deepEqual(list.map((c) => [c.Name, c.Service, c.State]), [
      ['compose-sample-db-1', 'db', 'running'], ['compose-sample-web-1', 'web', 'running'], ['compose-sample-worker-1', 'worker', 'running'],
    ]);
    const labels = JSON.parse(d.docker(['inspect', '-f', '{{json .Config.Labels}}', 'compose-sample-worker-1']).stdout) as Record<string, string>;
    assert.equal(labels['com.docker.compose.project'], 'compose-sample');
    assert.equal(labels['com.docker.compose.service'], 'worker');
    assert.equal(labels['com.docker.compose.container-number'], '1');
    assert.equal(labels['com.docker.compose.oneoff'], 'False');
    assert.equal(labels['com.docker.compose.depends_on'], 'db:service_healthy:false,web:service_started:false');
    assert.match(labels['com.docker.compose.config-hash'], /^[a-f0-9]{64}$/);
    assert.equal(labels['com.docker.compose.project.working_dir'], sample.dir);
    const net = d.docker(['network', 'inspect', '-f', '{{index .Labels "com.docker.compose.network"}} {{index .Labels "com.docker.compose.project"}}', 'compose-sample_default']);
    assert.equal(net.stdout.trim(), 'default compose-sample');
    const vol = d.docker(['volume', 'inspect', '-f', '{{index .Labels "com.docker.compose.volume"}}', 'compose-sample_db-data']);
    assert.equal(vol.stdout.trim(), 'db-data');
    assert.equal(d.docker(['images', '-q', 'compose-sample-web']).stdout.trim().length, 12, 'web was built from its Dockerfile');
  });

  test('services reach each other by service name; logs are prefixed per container', async () => {
    assert.equal(await fromWorker(['wget', '-q', '-O-', 'http://web/greeting'], /./), 'hello\n');
    assert.equal(await fromWorker(['wget', '-q', '-O-', 'http://db:8080/boots'], /./), '1\n');
    const logs = await waitFor(async () => {
      const r = await compose(['logs', 'worker']);
      return /compose-sample-worker-1 {2}\| web says: hello {2}db boots: 1/.test(r.stdout) ? r : undefined;
    }, 'the worker to log what web and db answered', 60_000);
    assert.equal(logs?.status, 0);
  });

  test('up is idempotent: nothing is recreated when nothing changed', async () => {
    const before = await ps();
    const r = await compose(['up', '-d']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Recreate|Creating/);
    assert.deepEqual((await ps()).map((c) => c.ID), before.map((c) => c.ID));
  });

  test('--scale web=3 gives three replicas behind the name web, each answering', async () => {
    const r = await compose(['up', '-d', '--wait', '--scale', 'web=3']);
    assert.equal(r.status, 0, r.stderr);
    const webs = (await ps()).filter((c) => c.Service === 'web');
    assert.deepEqual(webs.map((c) => c.Name), ['compose-sample-web-1', 'compose-sample-web-2', 'compose-sample-web-3']);
    const replicaIps = webs.map((c) => d.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c.ID]).stdout.trim());
    // the name web resolves to every replica
    await fromWorker(['nslookup', '-type=a', 'web'], new RegExp(replicaIps.map((ip) => `(?=[\\s\\S]*Address: ${ip.replaceAll('.', '\\.')}\\b)`).join('')));
    // every replica answers on its address with its own hostname
    const ids = new Set<string>();
    for (const ip of replicaIps) ids.add((await fromWorker(['wget', '-q', '-O-', `http://${ip}/id`], /./)).trim());
    assert.equal(ids.size, 3);
    for (const c of webs) assert.ok(ids.has(c.ID.slice(0, 12)), `replica ${c.Name} answered`);
  });

  test('changing web\'s environment recreates only web', async () => {
    const before = new Map((await ps()).map((c) => [c.Name, c.ID]));
    const r = await compose(['up', '-d', '--wait'], { GREETING: 'changed' });
    assert.equal(r.status, 0, r.stderr);
    const now = await ps();
    assert.deepEqual(now.map((c) => c.Name), ['compose-sample-db-1', 'compose-sample-web-1', 'compose-sample-worker-1'], 'scaled back to the model\'s one web');
    const id = (n: string) => now.find((c) => c.Name === n)!.ID;
    assert.equal(id('compose-sample-db-1'), before.get('compose-sample-db-1'));
    assert.equal(id('compose-sample-worker-1'), before.get('compose-sample-worker-1'));
    assert.notEqual(id('compose-sample-web-1'), before.get('compose-sample-web-1'));
    assert.equal(await fromWorker(['wget', '-q', '-O-', 'http://web/greeting'], /^changed$/m), 'changed\n');
  });

  test('run --rm starts a one-off container on the project network and removes it', async () => {
    const r = await compose(['run', '--rm', '--no-deps', 'worker', 'wget', '-q', '-O-', 'http://db:8080/boots'], { GREETING: 'changed' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '1\n');
    const exit = await compose(['run', '--rm', '--no-deps', '-e', 'CODE=5', 'worker', 'sh', '-c', 'echo out; exit $CODE'], { GREETING: 'changed' });
    assert.deepEqual([exit.status, exit.stdout], [5, 'out\n']);
    assert.equal((await ps()).length, 3, 'the one-off containers are gone');
  });

  test('port, exec -e/-w/-u, top, images, ls, pause/unpause', async () => {
    const env = { GREETING: 'changed' };
    const port = await compose(['port', 'web', '80'], env);
    assert.equal(port.status, 0, port.stderr);
    const published = (await ps()).find((c) => c.Service === 'web')!.Publishers[0].PublishedPort;
    assert.equal(port.stdout, `0.0.0.0:${published}\n`);
    const ex = await compose(['exec', '-T', '-e', 'X=42', '-w', '/tmp', '-u', 'nobody', 'worker', 'sh', '-c', 'echo $X $(pwd) $(id -un)'], env);
    assert.deepEqual([ex.status, ex.stdout], [0, '42 /tmp nobody\n'], ex.stderr);
    const code = await compose(['exec', '-T', 'worker', 'sh', '-c', 'exit 3'], env);
    assert.equal(code.status, 3);
    const top = await compose(['top', 'db'], env);
    if (d.docker(['top', 'compose-sample-db-1']).status === 0) {
      assert.match(top.stdout, /^compose-sample-db-1\n/);
      assert.match(top.stdout, /httpd -f -p 8080/);
    } else {
      assert.match(top.stderr, /^top compose-sample-db-1: .*GET \/containers\/\{id\}\/top/, 'the engine has no top: said clearly');
    }
    const images = await compose(['images'], env);
    assert.match(images.stdout, /^CONTAINER\s+REPOSITORY\s+TAG\s+IMAGE ID\s+SIZE$/m);
    assert.match(images.stdout, /^compose-sample-web-1\s+compose-sample-web\s+latest\s+[a-f0-9]{12}\s/m);
    const ls = await compose(['ls']);
    assert.match(ls.stdout, new RegExp(`^compose-sample\\s+running\\(3\\)\\s+${sample.dir}/compose\\.yaml$`, 'm'));
    assert.equal((await compose(['pause', 'worker'], env)).status, 0);
    assert.equal((await ps()).find((c) => c.Service === 'worker')!.State, 'paused');
    assert.equal((await compose(['unpause', 'worker'], env)).status, 0);
    assert.equal((await ps()).find((c) => c.Service === 'worker')!.State, 'running');
  });

  test('stop, start and restart keep the data in the named volume', async () => {
    assert.equal((await compose(['stop', '-t', '2'])).status, 0);
    assert.deepEqual((await ps()).map((c) => c.State), ['exited', 'exited', 'exited']);
    const start = await compose(['start', '--wait'], { GREETING: 'changed' });
    assert.equal(start.status, 0, start.stderr);
    assert.equal(await fromWorker(['wget', '-q', '-O-', 'http://db:8080/boots'], /./), '2\n', 'db counted its second boot in the volume');
  });

  test('down -v leaves no container, network or volume', async () => {
    const r = await compose(['down', '-v', '-t', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '');
    assert.doesNotMatch(d.docker(['network', 'ls', '--format', '{{.Name}}']).stdout, /compose-sample/);
    assert.equal(d.docker(['volume', 'ls', '-q']).stdout.trim(), '');
  });

  test('run starts the service\'s dependencies first (db healthy, web started)', async () => {
    const r = await compose(['run', '--rm', 'worker', 'sh', '-c', 'wget -q -O- http://db:8080/boots; for i in $(seq 60); do wget -q -O- http://web/greeting && break; sleep 0.5; done']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '1\nhello\n');
    assert.match(r.stderr, /Container compose-sample-db-1 {2}Healthy/);
    const list = await ps();
    assert.deepEqual(list.map((c) => [c.Name, c.State]), [['compose-sample-db-1', 'running'], ['compose-sample-web-1', 'running']], 'the one-off is gone, its dependencies run');
    const down = await compose(['down', '-v', '-t', '2']);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '');
  });

  test('foreground up: prefixed logs of every service, --exit-code-from returns that service\'s code', async () => {
    const p = tempProject({
      'compose.yaml': `services:
  server:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo serving; sleep 100 & wait"]
  client:
    image: busybox
    command: ["sh", "-c", "echo one; echo two >&2; exit 7"]
    depends_on: [server]
`,
    }, 'fg');
    try {
      const r = await berthCompose(d, p.dir, ['up', '--exit-code-from', 'client']);
      assert.equal(r.status, 7, r.stderr);
      assert.match(r.stdout, /^Attaching to fg-client-1, fg-server-1$/m);
      assert.match(r.stdout, /^fg-client-1 {2}\| one$/m);
      assert.match(r.stdout, /^fg-client-1 {2}\| two$/m);
      assert.match(r.stdout, /^fg-server-1 {2}\| serving$/m);
      assert.match(r.stdout, /^fg-client-1 exited with code 7$/m);
      assert.match(d.docker(['inspect', '-f', '{{.State.Status}}', 'fg-server-1']).stdout, /exited/, 'the other services were stopped');
    } finally {
      await berthCompose(d, p.dir, ['down', '-t', '1']);
      p.cleanup();
    }
  });

  test('foreground up: Ctrl-C stops every container', async () => {
    const p = tempProject({
      'compose.yaml': `services:
  a:
    image: busybox
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; sleep 100 & wait"]
  b:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"]
`,
    }, 'sig');
    try {
      let child: ChildProcess | undefined;
      let out = '';
      const running = berthCompose(d, p.dir, ['up'], { onSpawn: (c) => { child = c; c.stdout!.on('data', (x) => { out += x; }); } });
      // interrupt once the logs of both are being followed (a's first line came through its prefix)
      await waitFor(() => /^sig-a-1 {2}\| ready$/m.test(out) && d.docker(['inspect', '-f', '{{.State.Running}}', 'sig-b-1']).stdout.trim() === 'true', 'both containers to run and be attached', 120_000);
      child!.kill('SIGINT');
      const r = await running;
      assert.equal(r.status, 130, r.stderr);
      assert.match(r.stderr, /Gracefully stopping\.\.\./);
      assert.match(r.stdout, /^sig-a-1 {2}\| bye$/m);
      for (const c of ['sig-a-1', 'sig-b-1']) assert.equal(d.docker(['inspect', '-f', '{{.State.Running}}', c]).stdout.trim(), 'false');
    } finally {
      await berthCompose(d, p.dir, ['down', '-t', '1']);
      p.cleanup();
    }
  });

  describe('bad input: a clear message naming the file and the service, nothing left behind', () => {
    const cases: Array<[string, string, RegExp[]]> = [
      ['a schema violation', 'services:\n  web:\n    image: busybox\n    ports:\n      - target: 80\n        bogus: 1\n', [/compose\.yaml/, /services\.web\.ports/]],
      ['an undefined variable with :?', 'services:\n  web:\n    image: busybox\n    environment:\n      X: ${NEEDED:?set NEEDED please}\n', [/compose\.yaml/, /services\.web\.environment\.X/, /required variable NEEDED is missing a value: set NEEDED please/]],
      ['a dependency cycle', 'services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n', [/compose\.yaml/, /dependency cycle detected: a -> b -> a/]],
      ['an unknown service in depends_on', 'services:\n  a:\n    image: busybox\n    depends_on: [ghost]\n', [/compose\.yaml/, /service "a" depends on undefined service "ghost"/]],
    ];
    for (const [what, yaml, patterns] of cases) {
      test(what, async () => {
        const p = tempProject({ 'compose.yaml': yaml }, 'bad');
        try {
          const r = await berthCompose(d, p.dir, ['up', '-d']);
          assert.equal(r.status, 15, r.stderr);
          for (const re of patterns) assert.match(r.stderr, re);
          assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '');
          assert.doesNotMatch(d.docker(['network', 'ls', '--format', '{{.Name}}']).stdout, /bad_default/);
        } finally { p.cleanup(); }
      });
    }

    test('a port already in use: the failed up removes what it started', async () => {
      const busy: Server = createServer();
      await new Promise<void>((r) => busy.listen(0, '0.0.0.0', () => r()));
      const port = (busy.address() as { port: number }).port;
      const p = tempProject({
        'compose.yaml': `services:
  db:
    image: busybox
    command: ["sleep", "1000"]
    volumes: [data:/data]
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80"]
    depends_on: [db]
    ports: ["${port}:80"]
volumes:
  data:
`,
      }, 'busy');
      try {
        const r = await berthCompose(d, p.dir, ['up', '-d']);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`service "web" \\(compose\\.yaml\\): failed to start container busy-web-1: .*${port}.*(already allocated|in use)`));
        assert.equal(d.docker(['ps', '-aq']).stdout.trim(), '', 'db, started before web failed, is gone too');
        assert.doesNotMatch(d.docker(['network', 'ls', '--format', '{{.Name}}']).stdout, /busy_default/);
        assert.equal(d.docker(['volume', 'ls', '-q']).stdout.trim(), '');
      } finally {
        busy.close();
        p.cleanup();
      }
    });
  });
});
