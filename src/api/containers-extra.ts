/**
 * Container routes beyond the core: archive (docker cp), top, stats, pause/unpause, update,
 * export, changes (docker diff) and commit. top, update, pause and unpause are the container service's.
 */
import { ContainerArchive, type PathStat } from '../container/archive.js';
import { commitContainer, containerChanges, containerEventAttrs, exportContainer } from '../container/index.js';
import { streamStats } from '../container/stats.js';
import { InvalidParameterError } from '../errors/index.js';
import type { Engine } from './engine.js';
import { boolParam, filtersParam, readJson, type Router } from './router.js';

void filtersParam;

function statHeader(s: PathStat): string { return Buffer.from(JSON.stringify(s)).toString('base64'); }

export function containerExtraRoutes(r: Router, e: Engine): void {
  const archive = new ContainerArchive(e.containers, e.images, e.volumes);
  const attrs = containerEventAttrs;
  const pathOf = (q: URLSearchParams) => {
    const p = q.get('path');
    if (!p) throw new InvalidParameterError('path cannot be empty');
    return p;
  };

  r.head('/containers/:id/archive', async (req) => {
    const s = await archive.stat(req.params.id, pathOf(req.query));
    return { status: 200, headers: { 'X-Docker-Container-Path-Stat': statHeader(s) } };
  });

  r.get('/containers/:id/archive', async (req, res) => {
    await archive.get(req.params.id, pathOf(req.query), async (stat, tarStream) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(stat) });
      if (req.method === 'HEAD') { tarStream.resume(); res.end(); return; }
      await new Promise<void>((resolve) => {
        tarStream.on('error', () => { res.destroy(); resolve(); });
        tarStream.pipe(res);
        res.on('close', resolve);
        res.on('finish', resolve);
      });
    });
    const c = e.containers.tryGet(req.params.id);
    if (c) e.events.emit('container', 'archive-path', c.Id, attrs(c));
  });

  r.put('/containers/:id/archive', async (req) => {
    await archive.put(req.params.id, pathOf(req.query), req.raw, {
      noOverwriteDirNonDir: boolParam(req.query, 'noOverwriteDirNonDir'),
      copyUIDGID: boolParam(req.query, 'copyUIDGID'),
    });
    const c = e.containers.get(req.params.id);
    e.events.emit('container', 'extract-to-dir', c.Id, attrs(c));
    return { status: 200 };
  });

  const cs = e.containers;

  r.get('/containers/:id/top', async (req) => ({ body: await cs.top(req.params.id, req.query.get('ps_args') ?? '') }));

  r.get('/containers/:id/stats', async (req, res) => {
    const c0 = cs.get(req.params.id);
    const stream = boolParam(req.query, 'stream', true);
    const oneShot = boolParam(req.query, 'one-shot');
    if (oneShot && stream) throw new InvalidParameterError('cannot have stream=true and one-shot=true');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    res.on('close', () => { closed = true; });
    await streamStats(() => {
      const c = cs.tryGet(c0.Id) ?? c0;
      return { id: c.Id, name: c.Name, pid: c.State.Pid, running: c.State.Status === 'running' || c.State.Status === 'paused', cgroup: cs.cgroupPath(c) };
    }, { stream, oneShot }, async (msg) => {
      if (closed) return false;
      if (!res.write(JSON.stringify(msg) + '\n')) await new Promise((r2) => res.once('drain', r2).once('close', r2));
      return !closed;
    }, () => closed);
    res.end();
  });

  r.post('/containers/:id/pause', async (req) => { await cs.pause(req.params.id); return undefined; });
  r.post('/containers/:id/unpause', async (req) => { await cs.unpause(req.params.id); return undefined; });

  r.post('/containers/:id/update', async (req) => ({ body: await cs.update(req.params.id, (await readJson(req.raw)) ?? {}) }));

  r.get('/containers/:id/export', async (req, res) => {
    await exportContainer(archive, e.events, cs.get(req.params.id), async (t) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      await new Promise<void>((resolve) => { t.on('error', () => { res.destroy(); resolve(); }); t.pipe(res); res.on('close', resolve); res.on('finish', resolve); });
    });
  });

  r.get('/containers/:id/changes', (req) => ({ body: containerChanges(cs, e.images, req.params.id) }));

  r.post('/commit', async (req) => {
    const q = req.query;
    const ref = q.get('container');
    // The container is looked up before the body is read, so a missing one is reported first.
    if (!ref) throw new InvalidParameterError('No container specified');
    const c = cs.get(ref);
    const config = (await readJson(req.raw)) ?? {};
    const body = await commitContainer(cs, e.images, e.events, {
      container: c.Id, repo: q.get('repo') ?? '', tag: q.get('tag') ?? '',
      author: q.get('author'), comment: q.get('comment'),
      pause: boolParam(q, 'pause', true), changes: q.getAll('changes'), config,
    });
    return { status: 201, body };
  });
}
