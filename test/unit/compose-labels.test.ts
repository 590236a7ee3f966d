import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerLabels, containerName, defaultImageName, loadProject, networkLabels, serviceConfigHash } from '../../src/compose/index.js';
import { tempProject } from '../fixtures/compose/helpers.js';

test('docker compose\'s names and labels for containers, networks and volumes', (t) => {
  const p = tempProject({
    'compose.yaml': `
services:
  web:
    build: .
    labels: { team: web }
    depends_on:
      db: { condition: service_healthy, restart: true }
      cache: { condition: service_started }
  db: { image: postgres, container_name: the-db }
  cache: { image: redis }
networks:
  default:
    labels: [owner=ops]
`,
  }, 'shop');
  t.after(p.cleanup);
  const project = loadProject({ cwd: p.dir, env: {} });
  const web = project.services.web;
  assert.equal(containerName('shop', web, 2), 'shop-web-2');
  assert.equal(containerName('shop', project.services.db, 1), 'the-db');
  assert.equal(defaultImageName('shop', web), 'shop-web');
  const labels = containerLabels(project, web, { number: 1, version: '2.32.0' });
  assert.deepEqual(labels, {
    team: 'web',
    'com.docker.compose.project': 'shop',
    'com.docker.compose.service': 'web',
    'com.docker.compose.container-number': '1',
    'com.docker.compose.oneoff': 'False',
    'com.docker.compose.config-hash': serviceConfigHash(web),
    'com.docker.compose.project.working_dir': p.dir,
    'com.docker.compose.project.config_files': `${p.dir}/compose.yaml`,
    'com.docker.compose.depends_on': 'cache:service_started:false,db:service_healthy:true',
    'com.docker.compose.version': '2.32.0',
  });
  assert.deepEqual(networkLabels(project, 'default', '2.32.0'), {
    owner: 'ops', 'com.docker.compose.network': 'default', 'com.docker.compose.project': 'shop', 'com.docker.compose.version': '2.32.0',
  });
});
