/** Volume routes: create, list (filters), inspect, remove, prune. */
import type { VolumeService } from '../volume/index.js';
import { validateVolumeCreate } from '../volume/create-request.js';
import { boolParam, filtersParam, readJson, type Router } from './router.js';

export function volumeRoutes(r: Router, volumes: VolumeService): void {
  r.post('/volumes/create', async (req) => {
    const body = (await readJson(req.raw)) ?? {};
    validateVolumeCreate(body);
    return { status: 201, body: volumes.inspectShape(volumes.create(body)) };
  });
  r.get('/volumes', (req) => {
    const list = volumes.list(filtersParam(req.query));
    return { body: { Volumes: list.map((v) => volumes.inspectShape(v)), Warnings: [] } };
  });
  r.post('/volumes/prune', async (req) => ({ body: await volumes.prune(filtersParam(req.query)) }));
  r.get('/volumes/:name', (req) => ({ body: volumes.inspectShape(volumes.get(req.params.name)) }));
  r.delete('/volumes/:name', async (req) => { await volumes.remove(req.params.name, boolParam(req.query, 'force')); return undefined; });
}
