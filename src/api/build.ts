/** Build routes: POST /build (the classic builder's JSON stream) and POST /build/prune. */
import { InvalidParameterError, NotImplementedError } from '../errors/index.js';
import { BuildService, BuildStepError, type BuilderDeps, type BuildOptions } from '../build/index.js';
import type { Engine } from './engine.js';
import { boolParam, intParam, type Router } from './router.js';
import { startJsonStream } from './server.js';
import { distributionService } from './distribution.js';
import { normaliseAuthConfig } from '../distribution/index.js';
import { parseReference } from '../image/index.js';

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

/** X-Registry-Config: base64url JSON of registry → auth config (what the docker CLI sends with a build). */
function registryConfig(header: string | string[] | undefined): Record<string, unknown> {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return {};
  try { return JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) ?? {}; } catch { return {}; }
}

/** Base images the build lacks come from the distribution service, with the credentials the client sent for their registry. */
function pullWith(e: Engine): NonNullable<BuilderDeps['pull']> {
  return async (ref, emit, { auths, signal }) => {
    const domain = parseReference(ref).domain;
    const keys = domain === 'docker.io' ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'] : [domain, `https://${domain}`, `http://${domain}`];
    const found = keys.map((k) => auths[k]).find((a) => a && typeof a === 'object');
    await distributionService(e).pull({ fromImage: ref, auth: found ? normaliseAuthConfig(found) : {}, emit: (m) => emit(m as unknown as Record<string, unknown>), signal: signal ?? new AbortController().signal });
  };
}

export function buildRoutes(r: Router, e: Engine, extra: Pick<BuilderDeps, 'pull'> = {}): BuildService {
  const builder = new BuildService({ images: e.images, containers: e.containers, dataRoot: e.info.dataRoot, pull: pullWith(e), ...extra });
  void builder.sweepLeftovers().catch(() => undefined);   // leftovers of builds a crash interrupted

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
      registryAuths: registryConfig(req.raw.headers['x-registry-config']),
    };
    // The response starts with the first message; an error before it is a plain HTTP error, as in dockerd.
    let send: ((msg: unknown) => void) | undefined;
    const emit = (msg: unknown) => { send ??= startJsonStream(res); send(msg); };
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    try {
      await builder.build(req.raw, opts, { stream: (t) => emit({ stream: t }), aux: (a) => emit({ aux: a }), message: (m) => emit(m) }, abort.signal);
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
