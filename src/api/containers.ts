/** Container routes: create, start, attach, wait, stop, kill, restart, list, inspect, logs, rename, resize, remove, prune. */
import { RE2JS } from 're2js';
import { InvalidParameterError, NotModifiedError } from '../errors/index.js';
import { encodeLogBatch, inspectShape, listShape, logAttributes, parseDetachKeys, portsList, readLogs, type ContainerRecord } from '../container/index.js';
import { parseTimeArg } from '../events/index.js';
import { labelMatch, labelsMatch, untilFilter } from '../filters/index.js';
import type { Engine } from './engine.js';
import { boolParam, checkFilters, filtersParam, intParam, olderThan, readJson, type Router } from './router.js';
import { hijack, upgradeToWebSocket, type RawStream } from './server.js';

/**
 * The ports a publish or expose filter names, as "port/proto" keys: `<port>[/<proto>]` or
 * `<start>-<end>[/<proto>]`, tcp by default (dockerd's portOp with nat.SplitProtoPort and
 * nat.ParsePortRange); anything else is a 400 with dockerd's wording.
 */
function portFilter(key: string, values: string[]): Set<string> {
  const out = new Set<string>();
  for (const value of values) {
    if (value.includes(':')) throw new InvalidParameterError(`filter for '${key}' should not contain ':': ${value}`);
    const parts = value.split('/');
    const [proto, port] = !value || !parts[0] ? ['', ''] : parts.length === 1 || !parts[1] ? ['tcp', parts[0]] : [parts[1], parts[0]];
    const fail = (why: string) => new InvalidParameterError(`error while looking up for ${key} ${value}: ${why}`);
    const uint16 = (s: string): number => {
      if (!/^[0-9]+$/.test(s)) throw fail(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
      const n = Number(s);
      if (n > 65535) throw fail(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
      return n;
    };
    if (!port) throw fail('empty string specified for ports');
    const range = port.split('-');
    const start = uint16(range[0]);
    const end = range.length > 1 ? uint16(range[1]) : start;
    if (end < start) throw fail(`invalid range specified for port: ${port}`);
    for (let i = start; i <= end; i++) out.add(`${i}/${proto}`);
  }
  return out;
}

export function containerRoutes(r: Router, e: Engine): void {
  const cs = e.containers;

  r.post('/containers/create', async (req) => {
    const body = await readJson(req.raw);
    if (body === undefined || body === null) throw new InvalidParameterError('config cannot be empty in order to create a container');
    return { status: 201, body: await cs.create(body, req.query.get('name'), req.query.get('platform')) };
  });

  r.get('/containers/json', async (req) => {
    const filters = filtersParam(req.query);
    checkFilters(filters, ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume']);
    for (const v of filters.status ?? []) if (!['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'].includes(v)) throw new InvalidParameterError(`invalid filter 'status=${v}'`);
    for (const v of filters.health ?? []) if (!['starting', 'healthy', 'unhealthy', 'none'].includes(v)) throw new InvalidParameterError(`unrecognized filter value for health: ${v}`);
    for (const v of filters.exited ?? []) if (!/^-?\d+$/.test(v)) throw new InvalidParameterError(`strconv.Atoi: parsing "${v}": invalid syntax`);
    const isTask = filters['is-task'] ?? [];
    if (isTask.length && !(isTask.length === 1 && ['true', 'false'].includes(isTask[0]))) throw new InvalidParameterError(`invalid filter 'is-task=[${isTask.join(' ')}]'`);
    // publish/expose values are ports or ranges ("80", "90/udp", "6000-6001"), checked before any container is looked at.
    const publish = portFilter('publish', filters.publish ?? []);
    const expose = portFilter('expose', filters.expose ?? []);
    // Names match as Go regular expressions (RE2: linear time, whatever the pattern); one that does not compile matches nothing, as in dockerd.
    const namePatterns = new Map((filters.name ?? []).map((v) => [v, compileOrNull(v)]));
    const limit = intParam(req.query, 'limit');
    // A limit counts the most recently created containers, running or not (as dockerd).
    const all = boolParam(req.query, 'all') || !!filters.status?.length || !!filters.exited?.length || (limit !== undefined && limit > 0);
    let list = cs.list().sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created));
    if (!all) list = list.filter((c) => c.State.Status === 'running' || c.State.Status === 'paused' || c.State.Status === 'restarting');
    // Values of one filter are alternatives, except labels: every label filter must match (as dockerd).
    const ok = (c: ContainerRecord) => Object.entries(filters).every(([k, vals]) => !vals.length || (k === 'label' ? vals.every.bind(vals) : vals.some.bind(vals))((v: string) => {
      switch (k) {
        case 'status': return c.State.Status === v;
        case 'exited': return c.State.Status === 'exited' && String(c.State.ExitCode) === v;
        case 'id': return c.Id.startsWith(v);
        case 'name': { const re = namePatterns.get(v); return !!re && (re.matcher(c.Name).find() || re.matcher('/' + c.Name).find()); }
        case 'label': return labelMatch(c.Config.Labels ?? {}, v);
        case 'ancestor': {
          const img = e.images.tryResolve(v);
          return img ? c.ImageId === img.id : c.Config.Image === v;
        }
        case 'before': { const o = cs.get(v); return Date.parse(c.Created) < Date.parse(o.Created); }
        case 'since': { const o = cs.get(v); return Date.parse(c.Created) > Date.parse(o.Created); }
        case 'network': return Object.keys(c.NetworkSettings?.Networks ?? {}).includes(v) || c.HostConfig.NetworkMode === v;
        case 'health': return (c.State.Health?.Status ?? 'none') === v;
        case 'is-task': return v === 'false';
        // A named volume's name (a bind's source) or a mount's destination, as dockerd.
        case 'volume': return (c.Mounts ?? []).some((m) => m.Destination === v || (m.Name ? m.Name === v : m.Source === v));
        // Windows-only: dockerd on Linux ignores it (list_unix.go), so every container matches.
        case 'isolation': return true;
        // publish and expose are handled together below.
        default: return true;
      }
    }));
    // As dockerd: publish matches a published host port, expose a container port (published or not),
    // against the Ports of the list (so only running containers); with both, either may match.
    const portsOk = (c: ContainerRecord) => (!publish.size && !expose.size)
      || portsList(c).some((p) => publish.has(`${p.PublicPort ?? 0}/${p.Type}`) || expose.has(`${p.PrivatePort}/${p.Type}`));
    list = list.filter(portsOk);
    list = list.filter(ok);
    if (limit !== undefined && limit > 0) list = list.slice(0, limit);
    const size = boolParam(req.query, 'size');
    const sizes = size ? await Promise.all(list.map((c) => cs.sizeOf(c))) : undefined;
    return { body: list.map((c, i) => listShape(c, sizes?.[i], cs.imageShown(c))) };
  });

  r.post('/containers/prune', async (req) => {
    const filters = filtersParam(req.query);
    checkFilters(filters, ['label', 'label!', 'until']);
    const beforeUntil = untilFilter(filters);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of cs.list()) {
      if (cs.isRunning(c.Id)) continue;
      if (!labelsMatch(c.Config.Labels, filters) || !beforeUntil(c.Created)) continue;
      const { rw } = await cs.sizeOf(c);
      await cs.remove(c.Id, { force: false, volumes: false }).then(() => { deleted.push(c.Id); reclaimed += rw; }, () => undefined);
    }
    e.events.emit('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { body: { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed } };
  });

  r.get('/containers/:id/json', async (req) => {
    const c = cs.get(req.params.id);
    const img = e.images.table.get(c.ImageId);
    const body: any = inspectShape(c, cs.dir(c.Id), img?.chainId ? e.images.layers.lowerDirs(img.chainId) : []);
    if (boolParam(req.query, 'size')) { const s = await cs.sizeOf(c); body.SizeRw = s.rw; body.SizeRootFs = s.rootfs; }
    const execIds = e.execs?.idsOf(c.Id) ?? [];
    body.ExecIDs = execIds.length ? execIds : null;
    // Before API 1.44 Docker listed the short container ID among a user network's aliases; old clients
    // (docker-compose 1.29) compare against it.
    if (olderThan(req.apiVersion, '1.44')) {
      for (const [net, ep] of Object.entries<any>(body.NetworkSettings?.Networks ?? {})) {
        if (['bridge', 'host', 'none'].includes(net) || !ep) continue;
        const short = c.Id.slice(0, 12);
        if (!(ep.Aliases ?? []).includes(short)) ep.Aliases = [...(ep.Aliases ?? []), short];
      }
    }
    return { body };
  });

  r.post('/containers/:id/start', async (req) => {
    try { await cs.start(req.params.id); } catch (err) {
      if (err instanceof NotModifiedError) return { status: 304 };
      throw err;
    }
    return undefined;
  });

  const timeoutOf = (q: URLSearchParams) => intParam(q, 't') ?? intParam(q, 'timeout');

  r.post('/containers/:id/stop', async (req) => {
    try { await cs.stop(req.params.id, { signal: req.query.get('signal'), timeout: timeoutOf(req.query) }); } catch (err) {
      if (err instanceof NotModifiedError) return { status: 304 };
      throw err;
    }
    return undefined;
  });

  r.post('/containers/:id/restart', async (req) => { await cs.restart(req.params.id, { signal: req.query.get('signal'), timeout: timeoutOf(req.query) }); return undefined; });
  r.post('/containers/:id/kill', async (req) => { await cs.kill(req.params.id, req.query.get('signal')); return undefined; });

  r.post('/containers/:id/wait', async (req, res) => {
    const c = cs.get(req.params.id);
    const cond = req.query.get('condition') ?? '';
    const gone = new AbortController();
    const pending = cs.wait(c.Id, cond, gone.signal);
    res.once('close', () => { if (!res.writableFinished) gone.abort(); });
    // Headers go out at once so clients know the wait is registered (docker CLI relies on it before start).
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const result = await pending;
    res.end(JSON.stringify(result) + '\n');
  });

  r.delete('/containers/:id', async (req) => {
    await cs.remove(req.params.id, { force: boolParam(req.query, 'force'), volumes: boolParam(req.query, 'v') });
    return undefined;
  });

  r.post('/containers/:id/rename', (req) => {
    const name = req.query.get('name');
    if (!name) throw new InvalidParameterError('name cannot be empty');
    cs.rename(req.params.id, name);
    return undefined;
  });

  r.post('/containers/:id/resize', async (req) => {
    const h = intParam(req.query, 'h') ?? 0; const w = intParam(req.query, 'w') ?? 0;
    await cs.resize(req.params.id, h, w);
    return { status: 200 };
  });

  r.post('/containers/:id/attach', async (req, res) => {
    const c = cs.get(req.params.id);
    const q = req.query;
    const stream = boolParam(q, 'stream'); const logs = boolParam(q, 'logs');
    const stdout = boolParam(q, 'stdout'); const stderr = boolParam(q, 'stderr'); const stdin = boolParam(q, 'stdin');
    let detachKeys: number[] | undefined;
    try { detachKeys = parseDetachKeys(q.get('detachKeys')); } catch (err) { throw new InvalidParameterError((err as Error).message); }
    const raw = hijack(req, res, c.Config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    await attachTo(cs, c, raw, { logs, stream, stdin, stdout, stderr, detachKeys, unframed: false });
  });

  // dockerd's attach over a WebSocket (web consoles): never multiplexed; stdin/stdout/stderr honoured from 1.42, all on before.
  r.get('/containers/:id/attach/ws', async (req) => {
    const c = cs.get(req.params.id);
    const q = req.query;
    const all = olderThan(req.apiVersion, '1.42');
    const stdin = all || boolParam(q, 'stdin'); const stdout = all || boolParam(q, 'stdout'); const stderr = all || boolParam(q, 'stderr');
    let detachKeys: number[] | undefined;
    try { detachKeys = parseDetachKeys(q.get('detachKeys')); } catch (err) { throw new InvalidParameterError((err as Error).message); }
    const raw = await upgradeToWebSocket(req, !olderThan(req.apiVersion, '1.28'));
    await attachTo(cs, c, raw, { logs: boolParam(q, 'logs'), stream: boolParam(q, 'stream'), stdin, stdout, stderr, detachKeys, unframed: true });
  });

  // berth's one extension endpoint: the read/write layer as a tar diff, out of a stopped container
  // and into a new one (used by `berth container move`).
  r.get('/containers/:id/rwlayer', async (_req, res) => {
    const tar = cs.exportRwLayer(_req.params.id);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    tar.on('error', () => res.destroy());
    tar.pipe(res);
    await new Promise((resolve) => res.on('close', resolve));
  });
  r.put('/containers/:id/rwlayer', async (req) => { await cs.importRwLayer(req.params.id, req.raw); return { status: 200 }; });

  r.get('/containers/:id/logs', async (req, res) => {
    const c = cs.get(req.params.id);
    const q = req.query;
    const stdout = boolParam(q, 'stdout'); const stderr = boolParam(q, 'stderr');
    if (!stdout && !stderr) throw new InvalidParameterError('Bad parameters: you must choose at least one stream');
    const tailRaw = q.get('tail');
    // As dockerd: anything but a count of lines (all, -1, x) means every line.
    const n = tailRaw && /^\d+$/.test(tailRaw) ? Number(tailRaw) : undefined;
    const tail = n !== undefined && Number.isSafeInteger(n) ? n : undefined;
    let sinceNs: number | undefined; let untilNs: number | undefined;
    try {
      const s = q.get('since'); if (s && s !== '0') sinceNs = parseTimeArg(s);
      const u = q.get('until'); if (u && u !== '0') untilNs = parseTimeArg(u);
    } catch (err) { throw new InvalidParameterError((err as Error).message); }
    const timestamps = boolParam(q, 'timestamps');
    const details = boolParam(q, 'details') ? logAttributes(c.HostConfig.LogConfig, c.Config.Labels, c.Config.Env) : undefined;
    const follow = boolParam(q, 'follow');
    const tty = !!c.Config.Tty;
    const logPath = cs.readableLogPath(c);
    res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    res.flushHeaders();
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    let unsubscribe: (() => void) | undefined;
    await readLogs(logPath, { stdout, stderr, sinceNs, untilNs, tail, follow }, async (batch) => {
      const buf = encodeLogBatch(batch, { tty, timestamps, details });
      if (!res.write(buf)) await new Promise((r) => res.once('drain', r).once('close', r));
    }, { stopped: () => !cs.isRunning(c.Id), signal: ac.signal, onStop: (fn) => { unsubscribe = cs.onStop(c.Id, fn); } });
    unsubscribe?.();
    res.end();
  });

}

/** An attach over a raw stream: the logs so far if asked, then the live session until it ends. */
async function attachTo(cs: Engine['containers'], c: ContainerRecord, raw: RawStream, o: {
  logs: boolean; stream: boolean; stdin: boolean; stdout: boolean; stderr: boolean; detachKeys?: number[]; unframed: boolean;
}): Promise<void> {
  const tty = !!c.Config.Tty;
  if (o.logs && c.HostConfig.LogConfig?.Type !== 'none') {
    await readLogs(cs.logPath(c.Id), { stdout: o.stdout, stderr: o.stderr, follow: false }, (batch) => {
      raw.output.write(encodeLogBatch(batch, { tty: tty || o.unframed, timestamps: false }));
    }, { stopped: () => true, signal: new AbortController().signal });
  }
  if (!o.stream) { raw.end(); return; }
  const session = await cs.attach(c.Id, { ...raw, tty, unframed: o.unframed, stdout: o.stdout, stderr: o.stderr, detachKeys: o.detachKeys }, o.stdin);
  await new Promise<void>((resolve) => session.onDone(resolve));
}

function compileOrNull(pattern: string): RE2JS | null { try { return RE2JS.compile(pattern); } catch { return null; } }
