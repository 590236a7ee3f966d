/**
 * Registry routes: pull (POST /images/create?fromImage=), push, docker login (POST /auth) and
 * search. Progress streams start with the first message, so errors found before it (unknown
 * repository, bad credentials) are plain HTTP errors, as with dockerd; later ones go in-stream.
 */
import type { ServerResponse } from 'node:http';
import { InvalidParameterError } from '../errors/index.js';
import { DistributionService, decodeAuthHeader, normaliseAuthConfig, type ProgressMessage } from '../distribution/index.js';
import type { Engine } from './engine.js';
import { filtersParam, intParam, readJson, type ApiRequest, type Router } from './router.js';
import { startJsonStream } from './server.js';

/** The daemon builds the service (with its --insecure-registry values); an engine assembled without one gets a default on first use. */
export function distributionService(e: Engine): DistributionService {
  e.distribution ??= new DistributionService({ images: e.images, events: e.events, dataRoot: e.info.dataRoot });
  return e.distribution;
}

/** Runs a streaming operation: a lazily started JSON stream, in-stream errors once it has started. */
async function streamed(res: ServerResponse, run: (emit: (m: ProgressMessage) => void, signal: AbortSignal) => Promise<void>): Promise<void> {
  let send: ((m: unknown) => void) | undefined;
  const emit = (m: ProgressMessage) => { (send ??= startJsonStream(res))(m); };
  const aborter = new AbortController();
  const onClose = () => { if (!res.writableFinished) aborter.abort(new Error('client disconnected')); };
  res.on('close', onClose);
  try {
    await run(emit, aborter.signal);
  } catch (err) {
    if (!send) throw err;
    const message = (err as Error)?.message ?? String(err);
    send({ errorDetail: { message }, error: message });
  } finally {
    res.off('close', onClose);
  }
  if (!send) send = startJsonStream(res);
  res.end();
}

/** POST /images/create with fromImage (images.ts hands pulls here). */
export function pullRoute(e: Engine, req: ApiRequest, res: ServerResponse): Promise<void> {
  const fromImage = req.query.get('fromImage') ?? '';
  if (!fromImage) throw new InvalidParameterError('invalid reference format');
  const auth = decodeAuthHeader(req.raw.headers['x-registry-auth']);
  return streamed(res, (emit, signal) => distributionService(e).pull({
    fromImage, tag: req.query.get('tag') ?? undefined, platform: req.query.get('platform') ?? undefined, allTags: true, auth, emit, signal,
  }));
}

export function distributionRoutes(r: Router, e: Engine): void {
  r.post('/images/:name*/push', (req, res) => {
    const auth = decodeAuthHeader(req.raw.headers['x-registry-auth']);
    return streamed(res, (emit, signal) => distributionService(e).push({
      name: req.params.name, tag: req.query.get('tag') ?? undefined, auth, emit, signal,
    }));
  });

  r.get('/images/search', async (req) => {
    const term = req.query.get('term') ?? '';
    const results = await distributionService(e).search({
      term, limit: intParam(req.query, 'limit'), filters: filtersParam(req.query), auth: decodeAuthHeader(req.raw.headers['x-registry-auth']),
    });
    return { body: results };
  });

  r.get('/distribution/:name*/json', async (req) => ({
    body: await distributionService(e).inspect(req.params.name, decodeAuthHeader(req.raw.headers['x-registry-auth'])),
  }));

  r.post('/auth', async (req) => {
    const body = await readJson(req.raw);
    const result = await distributionService(e).login(normaliseAuthConfig(body));
    return { body: result };
  });
}
