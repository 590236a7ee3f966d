/** The Engine API: one router assembled from per-resource route modules. */
import { Router } from './router.js';
import type { Engine } from './engine.js';
import { systemRoutes } from './system.js';
import { imageRoutes } from './images.js';
import { containerRoutes } from './containers.js';
import { buildRoutes } from './build.js';
import { distributionRoutes } from './distribution.js';
import { execRoutes } from './exec.js';
import { volumeRoutes } from './volumes.js';
import { containerExtraRoutes } from './containers-extra.js';
import { pluginRoutes, swarmRoutes } from './swarm.js';

export { createApiServer, API_VERSION, MIN_API_VERSION, sendJson, sendError, hijack, startJsonStream } from './server.js';
export type { Engine, EngineInfo, ToolVersion } from './engine.js';
export { Router } from './router.js';
export { networkRoutes } from './networks.js';

export function engineRouter(engine: Engine): Router {
  const r = new Router();
  systemRoutes(r, engine);
  imageRoutes(r, engine);
  containerRoutes(r, engine);
  buildRoutes(r, engine);
  distributionRoutes(r, engine);
  if (engine.execs) execRoutes(r, engine.execs);
  if (engine.volumes) volumeRoutes(r, engine.volumes);
  containerExtraRoutes(r, engine);
  swarmRoutes(r);
  pluginRoutes(r);
  return r;
}
