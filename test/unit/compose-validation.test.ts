import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { findDependencyCycle, loadProject, SchemaValidationError } from '../../src/compose/index.js';
import { compose, tempProject } from '../fixtures/compose/helpers.js';

function loadError(files: Record<string, string>, env: Record<string, string> = {}): { err: Error; dir: string } {
  const p = tempProject(files);
  try {
    loadProject({ cwd: p.dir, env });
  } catch (err) {
    return { err: err as Error, dir: p.dir };
  } finally {
    p.cleanup();
  }
  throw new Error('expected the project to fail to load');
}

test('schema errors name the file, the service and the key, in docker compose\'s words', () => {
  const cases: Array<[string, string]> = [
    ['services:\n  web:\n    image: x\n    ports: [true]\n', 'services.web.ports.0 must be a number, string or mapping'],
    ['services:\n  web:\n    image: x\n    imagee: y\n', 'services.web Additional property imagee is not allowed'],
    ['services:\n  web:\n    image: x\n    environment: 5\n', 'services.web.environment must be a mapping or list'],
    ['services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: started\n  db:\n    image: y\n',
      'services.web.depends_on.db.condition must be one of the following: "service_started", "service_healthy", "service_completed_successfully"'],
    ['services:\n  web:\n    image: x\n    extends: {}\n', 'services.web.extends service is required'],
    ['services:\n  web:\n    image: x\n    healthcheck:\n      interval: 5\n', 'services.web.healthcheck.interval must be a string'],
    ['services:\n  web:\n    image: x\nnetworkz: {}\n', '(root) Additional property networkz is not allowed'],
  ];
  for (const [yaml, detail] of cases) {
    const { err, dir } = loadError({ 'compose.yaml': yaml });
    assert.ok(err instanceof SchemaValidationError, `${detail}: ${err.message}`);
    assert.equal(err.message, `validating ${join(dir, 'compose.yaml')}: ${detail}`);
  }
});

test('interpolation happens before validation: a variable can fill a number', () => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    scale: ${N}\n    ports: ["${P}:80"]\n' });
  try {
    const s = loadProject({ cwd: p.dir, env: { N: '2', P: '8080' } }).services.web;
    assert.equal(s.scale, 2);
    assert.equal(s.deploy?.replicas, 2);
    assert.equal(s.ports?.[0].published, '8080');
  } finally {
    p.cleanup();
  }
});

test('a required variable missing: message names file, key and variable', () => {
  const { err, dir } = loadError({ 'compose.yaml': 'services:\n  web:\n    image: "app:${TAG:?TAG must be set}"\n' });
  assert.equal(err.message, `${join(dir, 'compose.yaml')}: error while interpolating services.web.image: required variable TAG is missing a value: TAG must be set`);
});

test('YAML syntax errors name the file and line', () => {
  const { err, dir } = loadError({ 'compose.yaml': 'services:\n  web:\n    image: x\n   bad: [\n' });
  assert.match(err.message, new RegExp(`^failed to parse ${join(dir, 'compose.yaml').replace(/[.]/g, '\\.')}: yaml: line \\d+`));
  const dup = loadError({ 'compose.yaml': 'services:\n  web:\n    image: x\n    image: y\n' });
  assert.match(dup.err.message, /failed to parse .*Map keys must be unique/);
});

test('semantic checks name the service', () => {
  const expectations: Array<[string, RegExp]> = [
    ['services:\n  web:\n    image: x\n    depends_on: [db]\n', /^service "web" depends on undefined service "db": invalid compose project$/],
    ['services:\n  web:\n    image: x\n    networks: [front]\n', /^service "web" refers to undefined network front: invalid compose project$/],
    ['services:\n  web:\n    image: x\n    volumes: ["data:/data"]\n', /^service "web" refers to undefined volume data: invalid compose project$/],
    ['services:\n  web:\n    image: x\n    secrets: [token]\n', /^service "web" refers to undefined secret token: invalid compose project$/],
    ['services:\n  web:\n    build: {}\n    image: x\n  worker:\n    restart: always\n', /^service "worker" has neither an image nor a build context specified: invalid compose project$/],
    ['services:\n  web:\n    image: x\n    network_mode: "service:vpn"\n', /^service "web" network_mode refers to undefined service "vpn"/],
    ['services:\n  web:\n    image: x\n    scale: 2\n    deploy: { replicas: 3 }\n', /^service "web" can't set distinct values on 'scale' and 'deploy.replicas'$/],
    ['services:\n  web:\n    image: x\n    env_file: missing.env\n', /^service "web" env file .*missing\.env not found/],
    ['services:\n  web:\n    image: x\n    ports: ["80-82:90-91"]\n', /^services\.web\.ports: invalid ranges specified for container and host Ports/],
  ];
  for (const [yaml, re] of expectations) {
    const { err, dir } = loadError({ 'compose.yaml': yaml });
    const file = `${dir}/compose.yaml: `;
    assert.ok(err.message.startsWith(file), `names the file: ${err.message}`);
    assert.match(err.message.slice(file.length), re);
  }
});

test('dependency cycles are reported with the path', () => {
  const { err, dir } = loadError({
    'compose.yaml': 'services:\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: { c: { condition: service_healthy } } }\n  c: { image: x, depends_on: [a] }\n  d: { image: x, depends_on: [a] }\n',
  });
  assert.equal(err.message, `${dir}/compose.yaml: dependency cycle detected: a -> b -> c -> a`);
  assert.equal(findDependencyCycle({ a: { name: 'a', depends_on: { a: { condition: 'service_started', required: true } } } })?.join(), 'a,a');
  assert.equal(findDependencyCycle({ a: { name: 'a' } }), undefined);
});

test('optional dependencies (required: false) on unknown services only warn', () => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    depends_on:\n      maybe: { condition: service_started, required: false }\n' });
  try {
    const warnings: string[] = [];
    loadProject({ cwd: p.dir, env: {}, warn: (m) => warnings.push(m) });
    assert.match(warnings.join(), /depends on undefined service "maybe"/);
  } finally {
    p.cleanup();
  }
});

test('berth compose config exits 15 (as docker compose) and prints the error on stderr', async (t) => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: x\n    depends_on: [ghost]\n' });
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir);
  assert.equal(r.code, 15, 'docker compose\'s exit code for a project that does not load');
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `${p.dir}/compose.yaml: service "web" depends on undefined service "ghost": invalid compose project\n`);
  const q = await compose(['config', '-q'], p.dir);
  assert.equal(q.code, 15);
});

test('an empty file is an error; the obsolete version attribute only warns', () => {
  assert.match(loadError({ 'compose.yaml': '# nothing\n' }).err.message, /compose\.yaml: empty compose file$/);
  const p = tempProject({ 'compose.yaml': 'version: "3.8"\nservices:\n  a:\n    image: x\n' });
  try {
    const warnings: string[] = [];
    loadProject({ cwd: p.dir, env: {}, warn: (m) => warnings.push(m) });
    assert.match(warnings.join(), /the attribute `version` is obsolete, it will be ignored/);
  } finally {
    p.cleanup();
  }
});

test('include cycles are detected', () => {
  const { err } = loadError({
    'compose.yaml': 'include: [a/compose.yaml]\nservices:\n  top: { image: x }\n',
    'a/compose.yaml': 'include: [../b/compose.yaml]\nservices:\n  a: { image: x }\n',
    'b/compose.yaml': 'include: [../a/compose.yaml]\nservices:\n  b: { image: x }\n',
  });
  assert.match(err.message, /include cycle detected: .*a\/compose\.yaml -> .*b\/compose\.yaml -> .*a\/compose\.yaml/);
});

test('an error about a service names the file that defines it', () => {
  const { err, dir } = loadError({
    'compose.yaml': 'services:\n  web:\n    image: x\n',
    'compose.override.yaml': 'services:\n  web:\n    environment: [A=1]\n  worker:\n    image: y\n    depends_on: [queue]\n',
  });
  assert.equal(err.message, `${dir}/compose.override.yaml: service "worker" depends on undefined service "queue": invalid compose project`);
});

test('links, volumes_from and service: namespaces count as dependencies (order and cycles)', async () => {
  const { servicesInDependencyOrder, serviceDependencies } = await import('../../src/compose/index.js');
  const p = tempProject({
    'compose.yaml': 'services:\n  app: { image: x, network_mode: "service:vpn", volumes_from: [data, "container:ext"], links: ["db:database"] }\n  vpn: { image: x }\n  data: { image: x }\n  db: { image: x }\n',
  });
  try {
    const project = loadProject({ cwd: p.dir, env: {} });
    assert.deepEqual(serviceDependencies(project.services.app).sort(), ['data', 'db', 'vpn']);
    assert.deepEqual(servicesInDependencyOrder(project), ['data', 'db', 'vpn', 'app']);
  } finally {
    p.cleanup();
  }
  const { err } = loadError({ 'compose.yaml': 'services:\n  a: { image: x, links: [b] }\n  b: { image: x, volumes_from: [a] }\n' });
  assert.match(err.message, /dependency cycle detected: a -> b -> a$/);
});
