import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compose, tempProject } from '../fixtures/compose/helpers.js';

// What docker compose v2 prints for the same input (key order from compose-go's types, long syntaxes,
// default network, resource names, durations as Go durations and sizes as strings).
const SAMPLE = `
services:
  web:
    build: ./web
    ports:
      - "8080:80"
    environment:
      GREETING: \${GREETING:-hello}
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - ./html:/www:ro
  db:
    image: postgres:16
    healthcheck:
      test: pg_isready
      interval: 90s
      timeout: 5s
      retries: 5
    mem_limit: 512m
    volumes:
      - dbdata:/var/lib/postgresql/data
volumes:
  dbdata:
`;

test('config prints the resolved model as docker compose does (yaml)', async (t) => {
  const p = tempProject({ 'compose.yaml': SAMPLE }, 'sample');
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `name: sample
services:
  db:
    healthcheck:
      test:
        - CMD-SHELL
        - pg_isready
      timeout: 5s
      interval: 1m30s
      retries: 5
    image: postgres:16
    mem_limit: "536870912"
    networks:
      default: null
    volumes:
      - type: volume
        source: dbdata
        target: /var/lib/postgresql/data
        volume: {}
  web:
    build:
      context: ${p.dir}/web
      dockerfile: Dockerfile
    depends_on:
      db:
        condition: service_healthy
        required: true
    environment:
      GREETING: hello
    networks:
      default: null
    ports:
      - mode: ingress
        target: 80
        published: "8080"
        protocol: tcp
    volumes:
      - type: bind
        source: ${p.dir}/html
        target: /www
        read_only: true
        bind:
          create_host_path: true
networks:
  default:
    name: sample_default
volumes:
  dbdata:
    name: sample_dbdata
`);
});

test('config --format json, -p, --services in dependency order, --volumes, --profiles, -q, -o', async (t) => {
  const p = tempProject({
    'compose.yaml': SAMPLE + '  cache: {}\n',
    'compose.override.yaml': 'services:\n  tools:\n    image: busybox\n    profiles: [debug, ops]\n',
  }, 'sample');
  t.after(p.cleanup);
  const j = await compose(['-p', 'other', 'config', '--format', 'json'], p.dir, { GREETING: 'hi' });
  assert.equal(j.code, 0, j.stderr);
  const model = JSON.parse(j.stdout);
  assert.equal(model.name, 'other');
  assert.equal(model.services.web.environment.GREETING, 'hi');
  assert.deepEqual(model.services.web.ports, [{ mode: 'ingress', target: 80, published: '8080', protocol: 'tcp' }]);
  assert.deepEqual(model.networks, { default: { name: 'other_default', ipam: {} } }, 'compose-go\'s JSON always has ipam');
  assert.equal(model.services.db.command, null);
  assert.deepEqual(Object.keys(model), ['name', 'networks', 'services', 'volumes'], 'top-level keys sorted as in Go\'s JSON');
  assert.deepEqual(model.volumes, { cache: { name: 'other_cache' }, dbdata: { name: 'other_dbdata' } });
  assert.equal(model.services.tools, undefined, 'a service behind a profile is left out');

  assert.equal((await compose(['config', '--services'], p.dir)).stdout, 'db\nweb\n');
  assert.equal((await compose(['--profile', 'ops', 'config', '--services'], p.dir)).stdout, 'db\ntools\nweb\n');
  assert.equal((await compose(['config', '--volumes'], p.dir)).stdout, 'cache\ndbdata\n');
  assert.equal((await compose(['config', '--profiles'], p.dir)).stdout, 'debug\nops\n');
  const q = await compose(['config', '-q'], p.dir);
  assert.deepEqual([q.code, q.stdout], [0, '']);
  const o = await compose(['config', '-o', 'out.yaml'], p.dir);
  assert.equal(o.code, 0);
  const { readFileSync } = await import('node:fs');
  assert.match(readFileSync(`${p.dir}/out.yaml`, 'utf8'), /^name: sample\n/);
  const only = await compose(['config', '--services', 'web'], p.dir);
  assert.equal(only.stdout, 'db\nweb\n', 'a named service brings its dependencies');
});

test('config --hash: stable, changes when the service changes', async (t) => {
  const a = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    environment: [A=1]\n' }, 'h');
  t.after(a.cleanup);
  const first = await compose(['config', '--hash', '*'], a.dir);
  assert.match(first.stdout, /^web [0-9a-f]{64}\n$/);
  const again = await compose(['config', '--hash', 'web'], a.dir);
  assert.equal(again.stdout, first.stdout);
  const b = tempProject({ 'compose.yaml': 'services:\n  web:\n    environment: { A: "1" }\n    image: x\n    scale: 3\n' }, 'h');
  t.after(b.cleanup);
  assert.equal((await compose(['config', '--hash', 'web'], b.dir)).stdout, first.stdout, 'key order, list form and scale do not count');
  const c = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    environment: [A=2]\n' }, 'h');
  t.after(c.cleanup);
  assert.notEqual((await compose(['config', '--hash', 'web'], c.dir)).stdout, first.stdout);
});

test('unset variables warn on stderr like docker compose; the output uses an empty string', async (t) => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: "busybox${SUFFIX}"\n' });
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /The "SUFFIX" variable is not set\. Defaulting to a blank string\./);
  assert.match(r.stdout, /image: busybox\n/);
});

test('version (full, --short, json); unknown and runtime commands fail clearly', async () => {
  const full = await compose(['version'], '/');
  assert.match(full.stdout, /^Docker Compose version v2\.\d+\.\d+-berth\.\S+ \(berth compose \S+\)\n$/);
  const short = await compose(['version', '--short'], '/');
  assert.match(short.stdout, /^2\.\d+\.\d+-berth\.\S+\n$/);
  const json = await compose(['version', '--format', 'json'], '/');
  assert.match(JSON.parse(json.stdout).version, /^v2\./);
  const up = await compose(['up', '-d'], '/');
  assert.deepEqual([up.code, up.stderr], [14, 'no configuration file provided: not found\n'], 'runtime commands load the project first');
  const watch = await compose(['watch'], '/');
  assert.deepEqual([watch.code, watch.stderr], [1, 'berth compose watch: not implemented yet\n']);
  const bogus = await compose(['frobnicate'], '/');
  assert.deepEqual([bogus.code, bogus.stderr], [1, 'unknown docker command: "compose frobnicate"\n']);
  const badFlag = await compose(['--nope', 'config'], '/');
  assert.deepEqual([badFlag.code, badFlag.stderr], [16, 'unknown flag: --nope\n'], 'docker compose\'s exit code for command line syntax');
});

test('global flags in docker\'s forms: -f=x, --file=x, -fx, repeated --env-file, --project-directory', async (t) => {
  const p = tempProject({
    'a.yaml': 'services:\n  s:\n    image: "i:${V}"\n',
    'b.yaml': 'services:\n  s:\n    command: run\n',
    'e1.env': 'V=1\n',
    'e2.env': 'V=2\n',
  });
  t.after(p.cleanup);
  const r = await compose(['-f=a.yaml', '--file=b.yaml', '--env-file', 'e1.env', '--env-file=e2.env', '--project-directory', '.', 'config', '--format=json'], p.dir);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.services.s.image, 'i:2');
  assert.deepEqual(m.services.s.command, ['run']);
  const r2 = await compose(['-fa.yaml', 'config', '--services'], p.dir, { V: 'x' });
  assert.equal(r2.stdout, 's\n');
});

test('a file using most attributes prints as docker compose config would (fixture full/)', async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  // from dist*/test/unit back to the repository, then to the fixture sources
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const dir = `${repo}test/fixtures/compose/full`;
  const home = '/home/someone';
  const r = await compose(['config'], dir, { HOME: home, FROM_SHELL: 'shell', FROM_ENV: 'argenv' });
  assert.equal(r.code, 0, r.stderr);
  const expected = readFileSync(`${dir}/expected.yaml`, 'utf8').replaceAll('${DIR}', dir).replaceAll('${HOME}', home);
  assert.equal(r.stdout, expected);
});

test('config escapes literal dollars so its output reads back the same; duplicate container names fail', async (t) => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    command: echo $$HOME ${GREETING}\n' });
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir, { GREETING: 'cost: $5' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /command:\n {6}- echo\n {6}- \$\$HOME\n {6}- "cost:"\n {6}- \$\$5\n/);
  const again = tempProject({ 'compose.yaml': r.stdout });
  t.after(again.cleanup);
  const back = await compose(['config'], again.dir);
  assert.equal(back.stdout, r.stdout, 'config of config is stable');

  const d = tempProject({ 'compose.yaml': 'services:\n  a: { image: x, container_name: same }\n  b: { image: x, container_name: same }\n' });
  t.after(d.cleanup);
  const dup = await compose(['config'], d.dir);
  assert.deepEqual([dup.code, dup.stderr], [1, 'container name "same" is already in use by service a\n']);
});

test('as a docker CLI plugin: metadata, and `compose <args>` runs berth compose', async (t) => {
  const { runAsDockerCliPlugin } = await import('../../src/compose/index.js');
  let out = '';
  const io = { stdout: { write: (s: string) => { out += s; return true; } }, stderr: { write: () => true }, env: {}, cwd: '/' };
  assert.equal(await runAsDockerCliPlugin(['docker-cli-plugin-metadata'], io), 0);
  const meta = JSON.parse(out);
  assert.equal(meta.SchemaVersion, '0.1.0');
  assert.match(meta.Version, /^v2\./);
  out = '';
  const p = tempProject({ 'compose.yaml': 'services:\n  one: { image: x }\n' });
  t.after(p.cleanup);
  assert.equal(await runAsDockerCliPlugin(['compose', 'config', '--services'], { ...io, cwd: p.dir }), 0);
  assert.equal(out, 'one\n');
});

test('config --no-interpolate prints the merged model with variables as written', async (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  web:\n    image: "nginx:${TAG:-latest}"\n    healthcheck: { interval: "${EVERY:-5s}" }\n    ports: ["${PORT}:80"]\n',
    'compose.override.yaml': 'services:\n  web:\n    environment: [A=$$literal]\n',
  }, 'raw');
  t.after(p.cleanup);
  const r = await compose(['config', '--no-interpolate'], p.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'no warnings for unset variables');
  assert.match(r.stdout, /image: nginx:\$\{TAG:-latest\}/);
  assert.match(r.stdout, /interval: \$\{EVERY:-5s\}/);
  assert.match(r.stdout, /A: \$\$literal/);
  assert.match(r.stdout, /^name: raw\n/);
});

test('config --variables lists the variables with required flag, default and alternate values', async (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  web:\n    image: "nginx:${TAG:-latest}"\n    environment:\n      - DB=${DB_URL:?set DB_URL}\n      - DEBUG=${DEBUG:+on}\n      - HOME_DIR=$HOME_DIR\n      - PRICE=$$5\n',
  });
  t.after(p.cleanup);
  const r = await compose(['config', '--variables'], p.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'NAME       REQUIRED   DEFAULT VALUE   ALTERNATE VALUE',
    'DB_URL     true',
    'DEBUG      false                      on',
    'HOME_DIR   false',
    'TAG        false      latest',
    '',
  ].join('\n'));
});

test('false booleans and empty lists or mappings are left out, as Go\'s omitempty does', async (t) => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    tty: false\n    privileged: false\n    init: false\n    environment: {}\n    cap_add: []\nnetworks:\n  default:\n    internal: false\n' }, 'omit');
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir);
  assert.equal(r.stdout, 'name: omit\nservices:\n  web:\n    image: x\n    init: false\n    networks:\n      default: null\nnetworks:\n  default:\n    name: omit_default\n');
});

test('global flags are accepted after the command too (config -f x -p y)', async (t) => {
  const p = tempProject({ 'other.yaml': 'services:\n  late: { image: x }\n' });
  t.after(p.cleanup);
  const r = await compose(['config', '-f', 'other.yaml', '--project-name', 'late', '--format', 'json'], p.dir);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.name, 'late');
  assert.deepEqual(Object.keys(m.services), ['late']);
});

test('the same fixture as JSON, in compose-go\'s JSON shape (fixture full/expected.json)', async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const dir = `${repo}test/fixtures/compose/full`;
  const home = '/home/someone';
  const r = await compose(['config', '--format', 'json'], dir, { HOME: home, FROM_SHELL: 'shell', FROM_ENV: 'argenv' });
  assert.equal(r.code, 0, r.stderr);
  const expected = readFileSync(`${dir}/expected.json`, 'utf8').replaceAll('${DIR}', dir).replaceAll('${HOME}', home);
  assert.equal(r.stdout, expected);
});
