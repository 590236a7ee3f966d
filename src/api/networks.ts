/** Network routes: list, inspect, create, connect, disconnect, remove, prune. */
import { InvalidParameterError } from '../errors/index.js';
import type { NetworkService } from '../network/index.js';
import { validateNetworkConnect, validateNetworkCreate, validateNetworkDisconnect } from '../network/requests.js';
import type { Engine } from './engine.js';
import { filtersParam, readJson, type Router } from './router.js';

export function networkRoutes(r: Router, e: Engine, networks: NetworkService): void {
  r.get('/networks', (req) => ({ body: networks.list(filtersParam(req.query)) }));

  r.post('/networks/create', async (req) => {
    const body = await readJson(req.raw);
    validateNetworkCreate(body);
    if (!body?.Name) throw new InvalidParameterError('network name must not be empty');
    return { status: 201, body: await networks.create(body) };
  });

  r.post('/networks/prune', async (req) => {
    const out = await networks.prune(filtersParam(req.query));
    e.events.emit('network', 'prune', '', { reclaimed: '0' });
    return { body: { NetworksDeleted: out.NetworksDeleted.length ? out.NetworksDeleted : null } };
  });

  r.get('/networks/:id', (req) => ({ body: networks.inspect(req.params.id) }));

  r.post('/networks/:id/connect', async (req) => {
    const body = await readJson(req.raw);
    validateNetworkConnect(body);
    if (!body?.Container) throw new InvalidParameterError('container is required');
    const net = networks.inspect(req.params.id);
    await e.containers.connectNetwork(body.Container, net.Name, body.EndpointConfig ?? {});   // a running container's endpoint tells the events
    return { status: 200 };
  });

  r.post('/networks/:id/disconnect', async (req) => {
    const body = await readJson(req.raw);
    validateNetworkDisconnect(body);
    if (!body?.Container) throw new InvalidParameterError('container is required');
    const net = networks.inspect(req.params.id);
    const id = e.containers.get(body.Container).Id;
    const hadEndpoint = e.containers.isRunning(id);
    await e.containers.disconnectNetwork(body.Container, net.Name, !!body.Force);
    // A running container's endpoint tells the events as it goes; Docker reports a stopped one's too.
    if (!hadEndpoint) e.events.emit('network', 'disconnect', net.Id, { container: id, name: net.Name, type: net.Driver });
    return { status: 200 };
  });

  r.delete('/networks/:id', async (req) => {
    await networks.remove(req.params.id);
    return undefined;
  });
}
