/**
 * Container routes beyond the core: archive (docker cp), top, stats, pause/unpause, update,
 * export, changes (docker diff) and commit. top, update, pause and unpause are the container service's.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerArchive, type PathStat } from '../container/archive.js';
import { initLayerEntries, withoutInitLayer } from '../container/init-layer.js';
import { mergeHealthcheck } from '../container/health-config.js';
import type { ContainerRecord } from '../container/index.js';
import { streamStats } from '../container/stats.js';
import { InvalidParameterError } from '../errors/index.js';
import { applyChanges, ingestLayer } from '../image/index.js';
import { diffTar, tarDirectory } from '../layer/index.js';
import type { Engine } from './engine.js';
import { boolParam, filtersParam, readJson, type Router } from './router.js';

void filtersParam;

function statHeader(s: PathStat): string { return Buffer.from(JSON.stringify(s)).toString('base64'); }

export function containerExtraRoutes(r: Router, e: Engine): void {
  const archive = new ContainerArchive(e.containers, e.images, e.volumes);
  const attrs = (c: ContainerRecord) => ({ ...(c.Config.Labels ?? {}), image: c.Config.Image, name: c.Name });
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
  const cgroupOf = (c: ContainerRecord) => {
    try { return String(JSON.parse(readFileSync(join(cs.dir(c.Id), 'config.json'), 'utf8')).linux.cgroupsPath); } catch { return ''; }
  };

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
      return { id: c.Id, name: c.Name, pid: c.State.Pid, running: c.State.Status === 'running' || c.State.Status === 'paused', cgroup: cgroupOf(c) };
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
    const c = cs.get(req.params.id);
    await archive.withRoot(c, async (root) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      const t = tarDirectory(root, { filter: (p: string) => !/^\.?\/?(proc|sys|dev)\/./.test(p) } as any) as NodeJS.ReadableStream;
      await new Promise<void>((resolve) => { t.on('error', () => { res.destroy(); resolve(); }); t.pipe(res); res.on('close', resolve); res.on('finish', resolve); });
    });
    e.events.emit('container', 'export', c.Id, attrs(c));
  });

  r.get('/containers/:id/changes', (req) => {
    const c = cs.get(req.params.id);
    const img = e.images.table.get(c.ImageId);
    const lower = img?.chainId ? e.images.layers.lowerDirs(img.chainId) : [];
    return { body: changesOf(join(cs.dir(c.Id), 'upper'), lower) };
  });

  r.post('/commit', async (req) => {
    const q = req.query;
    const ref = q.get('container');
    if (!ref) throw new InvalidParameterError('No container specified');
    const c = cs.get(ref);
    const body = (await readJson(req.raw)) ?? {};
    const repo = q.get('repo') ?? ''; const tag = q.get('tag') ?? '';
    const pause = boolParam(q, 'pause', true) && c.State.Status === 'running';
    const img = e.images.table.get(c.ImageId);
    const base = img ? await e.images.config(img.id) : undefined;
    if (pause) await cs.runtime.pause(c.Id).catch(() => undefined);
    let info;
    try {
      // The read/write layer less the mount-point stubs Docker keeps in its init layer.
      const upper = join(cs.dir(c.Id), 'upper');
      const lower = img?.chainId ? e.images.layers.lowerDirs(img.chainId) : [];
      info = await ingestLayer(e.images.content, e.images.layers, { chainId: img?.chainId ?? null, diffIds: base?.rootfs?.diff_ids ?? [] }, diffTar(upper, { filter: withoutInitLayer(upper, lower) }));
    } finally { if (pause) await cs.runtime.resume(c.Id).catch(() => undefined); }
    const cc = c.Config;
    let config: Record<string, any> = {
      ...(base?.config ?? {}),
      User: cc.User, ExposedPorts: cc.ExposedPorts, Env: cc.Env, Cmd: cc.Cmd, Entrypoint: cc.Entrypoint,
      WorkingDir: cc.WorkingDir, Labels: cc.Labels, Volumes: cc.Volumes, StopSignal: cc.StopSignal, Healthcheck: cc.Healthcheck,
      ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))),
    };
    // A partial Healthcheck in the request is completed from the container's, field by field (Docker's merge).
    if (body.Healthcheck) config.Healthcheck = mergeHealthcheck(body.Healthcheck, cc.Healthcheck);
    const changes = q.getAll('changes').flatMap((x) => x.split('\n')).filter(Boolean);
    if (changes.length) config = applyChanges(config, changes);
    for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
    const now = new Date().toISOString();
    const imageConfig = {
      architecture: base?.architecture ?? 'amd64', os: base?.os ?? 'linux', created: now,
      ...(q.get('author') ? { author: q.get('author') } : {}),
      config, container: c.Id, container_config: { ...cc },
      rootfs: { type: 'layers', diff_ids: [...(base?.rootfs?.diff_ids ?? []), info.diffId] },
      history: [...(base?.history ?? []), { created: now, created_by: [c.Path, ...c.Args].join(' '), ...(q.get('author') ? { author: q.get('author') } : {}), ...(q.get('comment') ? { comment: q.get('comment') } : {}) }],
      ...(q.get('comment') ? { comment: q.get('comment') } : {}),
    };
    const rec = await e.images.create(Buffer.from(JSON.stringify(imageConfig)), { parent: img?.id });
    if (repo) e.images.tag(rec.id, tag ? `${repo}:${tag}` : repo);
    e.events.emit('container', 'commit', c.Id, { ...attrs(c), comment: q.get('comment') ?? '' });
    return { status: 201, body: { Id: rec.id } };
  });
}

/**
 * `docker diff` from the upper dir: whiteouts are deletions, the rest added or changed (if a lower
 * layer has it). The mount-point stubs Docker keeps in its init layer are left out; mount points of
 * volumes and binds are real changes of the read/write layer in Docker too, and stay.
 */
export function changesOf(upper: string, lower: string[]): { Path: string; Kind: number }[] | null {
  const out: { Path: string; Kind: number }[] = [];
  const skip = existsSync(upper) ? initLayerEntries(upper, lower) : new Set<string>();
  const inLower = (p: string) => lower.some((l) => { try { lstatSync(join(l, p)); return true; } catch { return false; } });
  const walk = (rel: string): boolean => {
    let any = false;
    for (const name of readdirSync(join(upper, rel)).sort()) {
      const p = rel === '/' ? `/${name}` : `${rel}/${name}`;
      if (skip.has(p)) continue;
      const st = lstatSync(join(upper, p));
      if (st.isCharacterDevice() && st.rdev === 0) { out.push({ Path: p, Kind: 2 }); any = true; continue; }
      const existed = inLower(p);
      if (st.isDirectory()) {
        const idx = out.length;
        const childChanged = walk(p);
        if (!existed) { out.splice(idx, 0, { Path: p, Kind: 1 }); any = true; }
        else if (childChanged || !existsSync(join(upper, p))) { out.splice(idx, 0, { Path: p, Kind: 0 }); any = true; }
      } else { out.push({ Path: p, Kind: existed ? 0 : 1 }); any = true; }
    }
    return any;
  };
  if (existsSync(upper)) walk('/');
  return out.length ? out.sort((a, b) => a.Path.localeCompare(b.Path)) : null;
}
