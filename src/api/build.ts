/** Build routes: POST /build (the classic builder's JSON stream) and POST /build/prune. */
import { InvalidParameterError, NotImplementedError } from '../errors/index.js';
import { Builder, BuildStepError, type BuilderDeps, type BuildOptions } from '../build/index.js';
import type { Engine } from './engine.js';
import { boolParam, intParam, type Router } from './router.js';
import { startJsonStream } from './server.js';

function jsonParam<T>(q: URLSearchParams, name: string): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  try { return JSON.parse(raw) as T; } catch { throw new InvalidParameterError(`invalid ${name} parameter: ${raw}`); }
}

/** HostConfig fields the API's resource parameters map to, for RUN containers. */
function hostConfigOf(q: URLSearchParams): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  const num = (param: string, field: string) => { const v = intParam(q, param); if (v) h[field] = v; };
  num('shmsize', 'ShmSize'); num('memory', 'Memory'); num('memswap', 'MemorySwap'); num('cpushares', 'CpuShares');
  num('cpuperiod', 'CpuPeriod'); num('cpuquota', 'CpuQuota');
  const cpus = q.get('cpusetcpus'); if (cpus) h.CpusetCpus = cpus;
  const mems = q.get('cpusetmems'); if (mems) h.CpusetMems = mems;
  const hosts = q.getAll('extrahosts').filter(Boolean); if (hosts.length) h.ExtraHosts = hosts;
  return h;
}

export function buildRoutes(r: Router, e: Engine, extra: Pick<BuilderDeps, 'pull'> = {}): Builder {
  const builder = new Builder({ images: e.images, containers: e.containers, dataRoot: e.info.dataRoot, ...extra });
  void builder.sweep().catch(() => undefined);   // leftovers of builds a crash interrupted

  r.post('/build', async (req, res) => {
    const q = req.query;
    if (q.get('remote')) throw new NotImplementedError('building from a remote context (git or URL) is not supported');
    const version = q.get('version');
    if (version === '2') throw new NotImplementedError('BuildKit (version=2) is not supported by this daemon; use the classic builder');
    const buildArgs = jsonParam<Record<string, string | null>>(q, 'buildargs') ?? {};
    const labels = jsonParam<Record<string, string>>(q, 'labels') ?? {};
    const cacheFrom = jsonParam<string[]>(q, 'cachefrom') ?? [];
    const opts: BuildOptions = {
      dockerfile: q.get('dockerfile') || undefined,
      tags: q.getAll('t').filter(Boolean),
      buildArgs, labels, cacheFrom,
      noCache: boolParam(q, 'nocache'),
      remove: boolParam(q, 'rm', true),
      forceRemove: boolParam(q, 'forcerm'),
      target: q.get('target') || undefined,
      quiet: boolParam(q, 'q'),
      pull: boolParam(q, 'pull'),
      networkMode: q.get('networkmode') || undefined,
      platform: q.get('platform') || undefined,
      hostConfig: hostConfigOf(q),
    };
    // The response starts with the first message; an error before it is a plain HTTP error, as in dockerd.
    let send: ((msg: unknown) => void) | undefined;
    const emit = (msg: unknown) => { send ??= startJsonStream(res); send(msg); };
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    try {
      await builder.build(req.raw, opts, { stream: (t) => emit({ stream: t }), aux: (a) => emit({ aux: a }) }, abort.signal);
    } catch (err) {
      if (!send) {
        req.raw.resume();
        throw err;
      }
      const message = (err as Error).message;
      const code = err instanceof BuildStepError ? err.code : undefined;
      send({ errorDetail: code !== undefined ? { code, message } : { message }, error: message });
    }
    res.end();
  });

  r.post('/build/prune', async () => ({ body: await builder.prune() }));
  r.post('/build/cancel', () => ({ status: 200 }));
  return builder;
}
