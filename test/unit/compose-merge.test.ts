import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadProject } from '../../src/compose/index.js';
import { tempProject } from '../fixtures/compose/helpers.js';

test('several files merge with the specification\'s rules', (t) => {
  const p = tempProject({
    'compose.yaml': `
services:
  web:
    image: web:1
    command: ["echo", "base"]
    entrypoint: /bin/sh -c
    environment:
      - A=1
      - B=2
    labels: { keep: "yes", change: before }
    ports: ["8080:80", "9090:90"]
    expose: ["1000"]
    volumes: ["data:/data", "./logs:/logs"]
    dns: 1.1.1.1
    cap_add: [NET_ADMIN]
    secrets: [s1]
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
      retries: 3
    depends_on: [db]
    networks: [front]
  db:
    image: db
networks: { front: {}, back: {} }
volumes: { data: {}, other: {} }
secrets: { s1: { file: ./s1.txt } }
`,
    'override.yaml': `
services:
  web:
    image: web:2
    command: echo override
    environment:
      B: "22"
      C: "3"
    labels: [change=after]
    ports: ["8081:80", "9090:90"]
    expose: ["1000", "2000"]
    volumes: ["other:/data"]
    dns: [8.8.8.8]
    cap_add: [NET_ADMIN, SYS_TIME]
    healthcheck:
      test: ["CMD", "false"]
      retries: 5
    depends_on:
      db:
        condition: service_healthy
    networks:
      back:
        aliases: [api]
`,
  });
  t.after(p.cleanup);
  const s = loadProject({ cwd: p.dir, env: {}, files: ['compose.yaml', 'override.yaml'] }).services.web;
  assert.equal(s.image, 'web:2');
  assert.deepEqual(s.command, ['echo', 'override'], 'command is replaced, not appended');
  assert.deepEqual(s.entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(s.environment, { A: '1', B: '22', C: '3' }, 'environment merges as a mapping after list normalisation');
  assert.deepEqual(s.labels, { keep: 'yes', change: 'after' });
  assert.deepEqual(s.ports?.map((x) => `${x.published}:${x.target}`), ['8080:80', '9090:90', '8081:80'], 'ports merge by ip/target/published/protocol');
  assert.deepEqual(s.expose, ['1000', '2000'], 'expose appends without duplicates');
  assert.deepEqual(s.volumes?.map((v) => `${v.source}:${v.target}`), ['other:/data', `${join(p.dir, 'logs')}:/logs`], 'volumes merge by target');
  assert.deepEqual(s.dns, ['1.1.1.1', '8.8.8.8']);
  assert.deepEqual(s.cap_add, ['NET_ADMIN', 'SYS_TIME']);
  assert.deepEqual(s.healthcheck, { test: ['CMD', 'false'], interval: 10e9, retries: 5 });
  assert.deepEqual(s.depends_on, { db: { condition: 'service_healthy', required: true } });
  assert.deepEqual(s.networks, { front: null, back: { aliases: ['api'] } });
});

test('!reset and !override', (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  app:\n    image: a\n    ports: ["8080:80"]\n    environment: { FOO: bar, KEEP: "1" }\n    user: root\n',
    'compose.override.yaml': 'services:\n  app:\n    ports: !override ["8443:443"]\n    environment:\n      FOO: !reset null\n    user: !reset ""\n',
  });
  t.after(p.cleanup);
  const s = loadProject({ cwd: p.dir, env: {} }).services.app;
  assert.deepEqual(s.ports?.map((x) => `${x.published}:${x.target}`), ['8443:443']);
  assert.deepEqual(s.environment, { KEEP: '1' });
  assert.equal(s.user, undefined);
});

test('YAML anchors, aliases and merge keys; x- extensions leave the model', (t) => {
  const p = tempProject({
    'compose.yaml': `
x-defaults: &defaults
  image: busybox
  restart: always
  environment: &env
    SHARED: "1"
services:
  a:
    <<: *defaults
    x-private: ignored
  b:
    <<: *defaults
    restart: "no"
    environment:
      <<: *env
      OWN: "2"
`,
  });
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  assert.deepEqual(project.services.a.environment, { SHARED: '1' });
  assert.equal(project.services.a.restart, 'always');
  assert.equal('x-private' in project.services.a, false);
  assert.equal(project.services.b.restart, 'no');
  assert.deepEqual(project.services.b.environment, { SHARED: '1', OWN: '2' });
});

test('extends: same file, other file (paths relative to it), recursive, cycles', (t) => {
  const p = tempProject({
    'compose.yaml': `
services:
  base:
    image: busybox
    user: root
    environment: { TZ: utc, PORT: "80" }
    volumes: ["common:/var/lib/backup/data:rw"]
    security_opt: ["label:role:ROLE"]
  common:
    extends: base
    image: busybox:1
  cli:
    extends:
      service: common
    environment: [PORT=8080]
    volumes: ["cli:/var/lib/backup/data:ro"]
    security_opt: ["label:user:USER"]
  remote:
    extends:
      file: lib/common.yaml
      service: webapp
    ports: ["81:80"]
volumes: { common: {}, cli: {} }
`,
    'lib/common.yaml': `
services:
  root:
    image: nginx
    env_file: web.env
  webapp:
    extends: root
    build: ./app
    ports: ["80:80"]
`,
    'lib/web.env': 'FROM_LIB=1\n',
  });
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  const cli = project.services.cli;
  assert.equal(cli.user, 'root', 'cli gets user from base through common');
  assert.equal(cli.image, 'busybox:1');
  assert.deepEqual(cli.environment, { TZ: 'utc', PORT: '8080' });
  assert.deepEqual(cli.volumes?.map((v) => `${v.source}:${v.target}:${v.read_only ? 'ro' : 'rw'}`), ['cli:/var/lib/backup/data:ro']);
  assert.deepEqual(cli.security_opt, ['label:role:ROLE', 'label:user:USER']);
  const remote = project.services.remote;
  assert.equal(remote.build?.context, join(p.dir, 'lib', 'app'), 'relative paths of the extended file are relative to it');
  assert.deepEqual(remote.environment, { FROM_LIB: '1' });
  assert.deepEqual(remote.ports?.map((x) => x.published), ['80', '81']);
  assert.equal('extends' in remote, false);

  const c = tempProject({ 'compose.yaml': 'services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: c\n  c:\n    extends: a\n' });
  t.after(c.cleanup);
  assert.throws(() => loadProject({ cwd: c.dir, env: {} }), /circular reference with extends: a \(.*\) -> b \(.*\) -> c \(.*\) -> a/);
  const m = tempProject({ 'compose.yaml': 'services:\n  a:\n    extends: nope\n    image: x\n' });
  t.after(m.cleanup);
  assert.throws(() => loadProject({ cwd: m.dir, env: {} }), /service "a" extends "nope": service "nope" not found/);
});

test('include: own project directory and .env, the including project\'s environment wins, conflicts rejected', (t) => {
  const p = tempProject({
    'compose.yaml': `
include:
  - sub/compose.yaml
  - path: other/svc.yaml
    project_directory: other
    env_file: other/custom.env
services:
  web:
    image: web
    depends_on: [db, cache]
`,
    '.env': 'DB_TAG=from-parent\n',
    'sub/compose.yaml': 'services:\n  db:\n    image: "postgres:${DB_TAG}"\n    build: ./db\n    volumes: [dbdata:/var/lib]\n    environment: ["USER=${DB_USER}"]\nvolumes: { dbdata: {} }\n',
    'sub/.env': 'DB_TAG=from-sub\nDB_USER=sub-user\n',
    'other/svc.yaml': 'services:\n  cache:\n    image: "redis:${CACHE_TAG}"\n',
    'other/custom.env': 'CACHE_TAG=7\n',
  });
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  assert.equal(project.services.db.image, 'postgres:from-parent');
  assert.deepEqual(project.services.db.environment, { USER: 'sub-user' });
  assert.equal(project.services.db.build?.context, join(p.dir, 'sub', 'db'));
  assert.equal(project.services.cache.image, 'redis:7');
  assert.equal(project.volumes.dbdata.name, 'proj_dbdata');

  const c = tempProject({
    'compose.yaml': 'include: [inc.yaml]\nservices:\n  db:\n    image: mine\n',
    'inc.yaml': 'services:\n  db:\n    image: theirs\n',
  });
  t.after(c.cleanup);
  assert.throws(() => loadProject({ cwd: c.dir, env: {} }), /imported compose file .*inc\.yaml defines conflicting service db/);
});

test('profiles: --profile, COMPOSE_PROFILES, "*", and targeted services', (t) => {
  const p = tempProject({
    'compose.yaml': `
services:
  always: { image: a }
  debug: { image: d, profiles: [debug] }
  test: { image: t, profiles: [test, ci] }
`,
  });
  t.after(p.cleanup);
  const names = (opts: object): string[] => Object.keys(loadProject({ cwd: p.dir, env: {}, ...opts }).services).sort();
  assert.deepEqual(names({}), ['always']);
  assert.deepEqual(names({ profiles: ['debug'] }), ['always', 'debug']);
  assert.deepEqual(names({ env: { COMPOSE_PROFILES: 'ci,debug' } }), ['always', 'debug', 'test']);
  assert.deepEqual(names({ profiles: ['*'] }), ['always', 'debug', 'test']);
  assert.deepEqual(names({ services: ['test'] }), ['always', 'test']);
  const dep = tempProject({ 'compose.yaml': 'services:\n  web: { image: w, depends_on: [db] }\n  db: { image: d, profiles: [db] }\n' });
  t.after(dep.cleanup);
  assert.throws(() => loadProject({ cwd: dep.dir, env: {} }),
    /service "db" was pulled in as a dependency of service "web" but is not enabled by the active profiles/);
});

test('!reset and !override on whole services and top-level sections', (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  a:\n    image: a\n    ports: ["80:80"]\n    volumes: [data:/d]\n  b:\n    image: b\nvolumes:\n  data: {}\n',
    'compose.override.yaml': 'services:\n  b: !reset\n  a: !override\n    image: a2\n    ports: ["81:81"]\nvolumes: !reset {}\n',
  });
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  assert.deepEqual(Object.keys(project.services), ['a']);
  assert.equal(project.services.a.image, 'a2');
  assert.deepEqual(project.services.a.ports, [{ mode: 'ingress', target: 81, published: '81', protocol: 'tcp' }]);
  assert.equal(project.services.a.volumes, undefined);
  assert.deepEqual(project.volumes, {});
});

test('a volume with the same target in a later file replaces the earlier one entirely', (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  a:\n    image: a\n    volumes: ["./src:/app:ro", "cache:/cache"]\nvolumes: { cache: {} }\n',
    'compose.override.yaml': 'services:\n  a:\n    volumes: ["./src:/app"]\n',
  });
  t.after(p.cleanup);
  const v = loadProject({ cwd: p.dir, env: {} }).services.a.volumes;
  assert.equal(v?.length, 2);
  assert.equal(v?.[0].target, '/app');
  assert.equal(v?.[0].read_only, undefined);
});
