/**
 * Swarm mode and managed plugins, which berth does not have: the answers dockerd gives on a node
 * that is in no swarm and has no plugins, so clients that look (docker-py's `client.swarm`,
 * `docker node ls`, `docker plugin ls`, dashboards probing /swarm) get Docker's words, not a 404.
 */
import { NotFoundError, NotImplementedError, UnavailableError, notASwarmManager } from '../errors/index.js';
import { checkFilters, filtersParam, type Router } from './router.js';

export function swarmRoutes(r: Router): void {
  const notManager = () => { throw notASwarmManager(); };
  for (const path of ['/swarm', '/swarm/unlockkey']) r.get(path, notManager);
  for (const path of ['/swarm/update', '/swarm/unlock']) r.post(path, notManager);
  r.post('/swarm/leave', () => { throw new UnavailableError('This node is not part of a swarm'); });
  for (const path of ['/swarm/init', '/swarm/join']) r.post(path, () => { throw new NotImplementedError('swarm mode is not supported by berth'); });
  for (const kind of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    r.get(`/${kind}`, notManager);
    r.get(`/${kind}/:id*`, notManager);
    r.post(`/${kind}/:id*`, notManager);
    r.delete(`/${kind}/:id*`, notManager);
  }
}

export function pluginRoutes(r: Router): void {
  r.get('/plugins', (req) => {
    checkFilters(filtersParam(req.query), ['capability', 'enable']);
    return { body: [] };
  });
  r.get('/plugins/privileges', () => { throw new NotImplementedError('plugins are not supported by berth'); });
  for (const path of ['/plugins/pull', '/plugins/create']) r.post(path, () => { throw new NotImplementedError('plugins are not supported by berth'); });
  const missing = (req: { params: Record<string, string> }) => { throw new NotFoundError(`plugin "${req.params.name}" not found`); };
  r.get('/plugins/:name*/json', missing);
  r.delete('/plugins/:name*', missing);
  for (const action of ['enable', 'disable', 'push', 'set', 'upgrade']) r.post(`/plugins/:name*/${action}`, missing);
}
