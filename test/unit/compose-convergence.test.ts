import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerLabels, loadProject, planConvergence, projectContainers, serviceConfigHash,
  type ComposeProject, type ExistingContainer,
} from '../../src/compose/index.js';
import { tempProject } from '../fixtures/compose/helpers.js';

const YAML = `
services:
  web:
    image: web
    environment: { GREETING: hello }
    depends_on: [db]
  db:
    image: postgres
  worker:
    image: worker
    depends_on:
      web: { condition: service_started, restart: true }
  sidecar:
    image: proxy
    network_mode: "service:web"
`;

function load(yaml: string, env: Record<string, string> = {}): ComposeProject {
  const p = tempProject({ 'compose.yaml': yaml }, 'shop');
  try {
    return loadProject({ cwd: p.dir, env });
  } finally {
    p.cleanup();
  }
}

/** Containers as a previous `up` of `project` left them. */
function upped(project: ComposeProject, state = 'running'): ExistingContainer[] {
  return Object.values(project.services).map((s) => ({
    id: `id-${s.name}`, name: `shop-${s.name}-1`, service: s.name, number: 1, oneoff: false,
    configHash: serviceConfigHash(s), state,
  }));
}

const summary = (plan: ReturnType<typeof planConvergence>): Record<string, string[]> =>
  Object.fromEntries(Object.entries(plan.actions).map(([s, list]) => [s, list.map((a) => a.action + ('number' in a ? `#${a.number}` : ''))]));

test('first up creates everything, dependencies first', () => {
  const project = load(YAML);
  const plan = planConvergence(project, []);
  assert.deepEqual(plan.order, ['db', 'web', 'sidecar', 'worker']);
  assert.deepEqual(summary(plan), { db: ['create#1'], web: ['create#1'], sidecar: ['create#1'], worker: ['create#1'] });
});

test('an unchanged project is left alone; stopped containers are started', () => {
  const project = load(YAML);
  assert.deepEqual(summary(planConvergence(project, upped(project))), { db: ['keep'], web: ['keep'], sidecar: ['keep'], worker: ['keep'] });
  assert.deepEqual(summary(planConvergence(project, upped(project, 'exited'))), { db: ['start'], web: ['start'], sidecar: ['start'], worker: ['start'] });
});

test('editing one service recreates it, what shares its namespace, and restarts depends_on restart:true', () => {
  const before = load(YAML);
  const after = load(YAML.replace('GREETING: hello', 'GREETING: bonjour'));
  const plan = planConvergence(after, upped(before));
  assert.deepEqual(summary(plan), { db: ['keep'], web: ['recreate#1'], sidecar: ['recreate#1'], worker: ['restart'] });
  const web = plan.actions.web[0];
  assert.equal(web.action === 'recreate' && web.reason, 'config-changed');
  const all = planConvergence(after, upped(before), { recreateAllDependents: true });
  assert.deepEqual(summary(all).worker, ['recreate#1']);
  assert.deepEqual(summary(planConvergence(after, upped(before), { noRecreate: true })).web, ['keep']);
  assert.deepEqual(summary(planConvergence(before, upped(before), { forceRecreate: true })).db, ['recreate#1']);
});

test('scale up numbers new replicas after the highest; scale down removes the highest first', () => {
  const project = load(YAML);
  const existing = upped(project);
  let plan = planConvergence(project, existing, { scale: { web: 3 } });
  assert.deepEqual(summary(plan).web, ['keep', 'create#2', 'create#3']);
  assert.equal((plan.actions.web[2] as { name: string }).name, 'shop-web-3');
  const three = [...existing, { ...existing.find((c) => c.service === 'web')!, id: 'w2', number: 2 }, { ...existing.find((c) => c.service === 'web')!, id: 'w3', number: 3 }];
  plan = planConvergence(project, three);
  assert.deepEqual(plan.actions.web.map((a) => a.action === 'remove' ? `remove ${a.container.id}` : a.action), ['remove w3', 'remove w2', 'keep']);
});

test('targeted services bring their dependencies unless --no-deps; orphans are reported', () => {
  const project = load(YAML);
  assert.deepEqual(planConvergence(project, [], { services: ['web'] }).order, ['db', 'web']);
  assert.deepEqual(planConvergence(project, [], { services: ['web'], noDeps: true }).order, ['web']);
  const stale: ExistingContainer = { id: 'old', name: 'shop-cache-1', service: 'cache', number: 1, oneoff: false, configHash: 'x', state: 'running' };
  const oneoff: ExistingContainer = { ...stale, id: 'run', service: 'web', oneoff: true };
  assert.deepEqual(planConvergence(project, [...upped(project), stale, oneoff]).orphans.map((c) => c.id), ['old']);
});

test('containers are recognised from their labels in a container list', () => {
  const project = load(YAML);
  const labels = containerLabels(project, project.services.web, { number: 2, version: '2.32.0' });
  const found = projectContainers('shop', [
    { Id: 'abc', Names: ['/shop-web-2'], Image: 'web', ImageID: 'sha256:1', Command: '', Created: 0, Ports: [], Labels: labels, State: 'running', Status: 'Up' },
    { Id: 'other', Names: ['/x'], Image: 'x', ImageID: 'sha256:2', Command: '', Created: 0, Ports: [], Labels: { 'com.docker.compose.project': 'other' }, State: 'running', Status: 'Up' },
  ]);
  assert.deepEqual(found, [{ id: 'abc', name: 'shop-web-2', service: 'web', number: 2, oneoff: false, configHash: serviceConfigHash(project.services.web), state: 'running' }]);
});
