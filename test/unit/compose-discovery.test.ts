import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadProject, normalizeProjectName, resolveProjectName } from '../../src/compose/index.js';
import { compose, tempProject } from '../fixtures/compose/helpers.js';

const svc = (image: string): string => `services:\n  app:\n    image: ${image}\n`;

test('finds compose.yaml in the working directory or a parent, and prefers it to docker-compose.yml', (t) => {
  const p = tempProject({ 'compose.yaml': svc('from-compose-yaml'), 'docker-compose.yml': svc('from-docker-compose') }, 'My App');
  t.after(p.cleanup);
  const sub = join(p.dir, 'deep', 'er');
  mkdirSync(sub, { recursive: true });
  const warnings: string[] = [];
  const project = loadProject({ cwd: sub, env: {}, warn: (m) => warnings.push(m) });
  assert.equal(project.services.app.image, 'from-compose-yaml');
  assert.equal(project.workingDir, p.dir);
  assert.equal(project.name, 'myapp', 'name derived from the directory, normalised');
  assert.deepEqual(project.configFiles, [join(p.dir, 'compose.yaml')]);
  assert.match(warnings.join('\n'), /Found multiple config files with supported names: .*compose\.yaml, .*docker-compose\.yml/);
});

test('each default name is found; an override file next to it is merged', (t) => {
  for (const name of ['compose.yml', 'docker-compose.yaml', 'docker-compose.yml']) {
    const p = tempProject({ [name]: svc('base'), 'compose.override.yaml': 'services:\n  app:\n    command: ["echo", "override"]\n' });
    t.after(p.cleanup);
    const project = loadProject({ cwd: p.dir, env: {} });
    assert.equal(project.services.app.image, 'base', name);
    assert.deepEqual(project.services.app.command, ['echo', 'override']);
  }
});

test('no compose file gives docker compose\'s error', async (t) => {
  const p = tempProject({});
  t.after(p.cleanup);
  const r = await compose(['config'], p.dir);
  assert.equal(r.code, 14, 'docker compose\'s exit code for a missing compose file');
  assert.equal(r.stderr, 'no configuration file provided: not found\n');
});

test('-f several files, --project-directory, COMPOSE_FILE with its separator, -f -', async (t) => {
  const p = tempProject({
    'a/one.yaml': 'services:\n  app:\n    image: one\n    build: ./ctx\n',
    'a/two.yaml': 'services:\n  app:\n    image: two\n',
    'other/.keep': '',
  });
  t.after(p.cleanup);
  let project = loadProject({ cwd: p.dir, env: {}, files: ['a/one.yaml', 'a/two.yaml'] });
  assert.equal(project.services.app.image, 'two');
  assert.equal(project.workingDir, join(p.dir, 'a'), 'project directory is the first file\'s directory');
  assert.equal(project.services.app.build?.context, join(p.dir, 'a', 'ctx'));
  assert.equal(project.name, 'a');

  project = loadProject({ cwd: p.dir, env: {}, files: ['a/one.yaml'], projectDirectory: 'other' });
  assert.equal(project.services.app.build?.context, join(p.dir, 'other', 'ctx'), 'relative paths follow --project-directory');
  assert.equal(project.name, 'other');

  project = loadProject({ cwd: p.dir, env: { COMPOSE_FILE: 'a/one.yaml:a/two.yaml' } });
  assert.equal(project.services.app.image, 'two');
  project = loadProject({ cwd: p.dir, env: { COMPOSE_FILE: 'a/one.yaml;a/two.yaml', COMPOSE_PATH_SEPARATOR: ';' } });
  assert.equal(project.services.app.image, 'two');

  const r = await compose(['-f', '-', '-p', 'piped', 'config', '--services'], p.dir, {}, 'services:\n  fromstdin:\n    image: x\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'fromstdin\n');
});

test('project name: -p over COMPOSE_PROJECT_NAME over name: over the directory; invalid names rejected', (t) => {
  const p = tempProject({ 'compose.yaml': 'name: from-file\n' + svc('x') }, 'Dir.Name');
  t.after(p.cleanup);
  assert.equal(loadProject({ cwd: p.dir, env: {} }).name, 'from-file');
  assert.equal(loadProject({ cwd: p.dir, env: { COMPOSE_PROJECT_NAME: 'from-env' } }).name, 'from-env');
  assert.equal(loadProject({ cwd: p.dir, env: { COMPOSE_PROJECT_NAME: 'from-env' }, projectName: 'flag_1' }).name, 'flag_1');
  assert.throws(() => loadProject({ cwd: p.dir, env: {}, projectName: 'Bad' }),
    { message: 'invalid project name "Bad": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number' });
  assert.throws(() => loadProject({ cwd: p.dir, env: {}, projectName: '-x' }), /invalid project name "-x"/);
  assert.equal(normalizeProjectName('My.Cool_App-2'), 'mycool_app-2');
  assert.equal(normalizeProjectName('__x'), 'x');
  assert.equal(resolveProjectName({ projectDir: '/tmp/Dir.Name' }), 'dirname');
  assert.throws(() => resolveProjectName({ projectDir: '/tmp/...' }), /project name must not be empty/);
});

test('.env in the project directory feeds interpolation and COMPOSE_* settings; --env-file replaces it', (t) => {
  const p = tempProject({
    'compose.yaml': 'services:\n  app:\n    image: "busybox:${TAG}"\n    profiles: [extra]\n  base:\n    image: base\n',
    '.env': 'TAG=from-dotenv\nCOMPOSE_PROJECT_NAME=dotenvname\nCOMPOSE_PROFILES=extra\n',
    'one.env': 'TAG=one\nOTHER=1\n',
    'two.env': 'TAG=two-${OTHER}\n',
  });
  t.after(p.cleanup);
  let project = loadProject({ cwd: p.dir, env: {} });
  assert.equal(project.services.app.image, 'busybox:from-dotenv');
  assert.equal(project.name, 'dotenvname');
  assert.deepEqual(Object.keys(project.services).sort(), ['app', 'base']);
  project = loadProject({ cwd: p.dir, env: { TAG: 'shell' } });
  assert.equal(project.services.app.image, 'busybox:shell', 'the shell environment wins over .env');
  project = loadProject({ cwd: p.dir, env: {}, envFiles: ['one.env', 'two.env'] });
  assert.equal(project.services.app, undefined, 'COMPOSE_PROFILES came from the .env that --env-file replaced');
  assert.equal(project.disabledServices.app.image, 'busybox:two-1', 'later --env-file wins and sees earlier ones');
  assert.equal(project.name, 'proj');
  assert.throws(() => loadProject({ cwd: p.dir, env: {}, envFiles: ['missing.env'] }), /couldn't find env file: .*missing\.env/);
});
