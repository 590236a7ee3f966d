/** Image routes: list, inspect, history, tag, remove, prune, load, save, import. */
import { RE2JS } from 're2js';
import { InvalidParameterError } from '../errors/index.js';
import { boolFilter, labelsMatch, untilFilter } from '../filters/index.js';
import { applyChanges, familiarName, normaliseContainerConfig, parseReference } from '../image/index.js';
import type { Engine } from './engine.js';
import { pullRoute } from './distribution.js';
import { boolParam, checkFilters, filtersParam, olderThan, type Router } from './router.js';
import { startJsonStream } from './server.js';

/**
 * A `reference` filter term as a test of one reference (`name:tag` or `name@digest`), compiled once
 * per request: like moby's FamiliarMatch, the whole reference or its name alone.
 */
function referenceMatcher(pattern: string): (ref: string) => boolean {
  // RE2 (as Go's path.Match): a pattern of many stars cannot make matching take exponential time.
  const re = RE2JS.compile('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.') + '$');
  const nameOf = (ref: string) => ref.includes('@') ? ref.slice(0, ref.indexOf('@')) : ref.slice(0, ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.lastIndexOf(':') : ref.length);
  return (ref) => re.matcher(ref).find() || re.matcher(nameOf(ref)).find();
}

export function imageRoutes(r: Router, e: Engine): void {
  r.get('/images/json', async (req) => {
    const filters = filtersParam(req.query);
    checkFilters(filters, ['dangling', 'label', 'before', 'since', 'reference', 'until']);
    const all = boolParam(req.query, 'all');
    const dangling = boolFilter(filters, 'dangling');
    const beforeUntil = untilFilter(filters);
    const references = (filters.reference ?? []).map(referenceMatcher);
    const out = [];
    for (const i of e.images.listed(all)) {
      if (dangling !== undefined && dangling !== (i.repoTags.length === 0)) continue;
      const matches = (ref: string) => references.some((m) => m(ref));
      if (references.length && !i.repoTags.some(matches) && !i.repoDigests.some(matches)) continue;
      const cfg = await e.images.config(i.id);
      const labels: Record<string, string> = cfg.config?.Labels ?? {};
      if (!labelsMatch(labels, filters) || !beforeUntil(i.created)) continue;
      if (filters.before?.length) { const b = e.images.resolve(filters.before[0]); if (Date.parse(i.created) >= Date.parse(b.created)) continue; }
      if (filters.since?.length) { const s = e.images.resolve(filters.since[0]); if (Date.parse(i.created) <= Date.parse(s.created)) continue; }
      // Filtering by reference narrows RepoTags and RepoDigests to the matching ones, as dockerd does.
      out.push({
        Id: i.id, ParentId: i.parent ?? '', RepoTags: references.length ? i.repoTags.filter(matches) : i.repoTags,
        RepoDigests: references.length ? i.repoDigests.filter(matches) : i.repoDigests,
        Created: Math.floor(Date.parse(i.created) / 1000), Size: i.size, SharedSize: -1, VirtualSize: i.size,
        Labels: labels, Containers: -1,   // not counted in a list, as dockerd (the CLI shows N/A); system df counts them
      });
    }
    out.sort((a, b) => b.Created - a.Created);
    // Before 1.43 an image without references was listed with placeholders.
    if (olderThan(req.apiVersion, '1.43')) {
      for (const i of out) if (!i.RepoTags.length && !i.RepoDigests.length) { i.RepoTags = ['<none>:<none>']; i.RepoDigests = ['<none>@<none>']; }
    }
    return { body: out };
  });

  r.post('/images/load', async (req, res) => {
    const quiet = boolParam(req.query, 'quiet');
    const send = startJsonStream(res);
    try {
      await e.archive.load(req.raw, (line) => send({ stream: line + '\n' }));
    } catch (err) {
      send({ errorDetail: { message: (err as Error).message }, error: (err as Error).message });
    }
    void quiet;
    res.end();
  });

  const save = async (names: string[], res: import('node:http').ServerResponse) => {
    if (!names.length) throw new InvalidParameterError('no images specified');
    const stream = e.archive.save(names);   // throws for an unknown name, before the answer starts
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    await new Promise((r) => res.on('close', r));
  };
  r.get('/images/get', (req, res) => save(req.query.getAll('names'), res));

  r.post('/images/create', async (req, res) => {
    const fromSrc = req.query.get('fromSrc');
    if (fromSrc === null) return pullRoute(e, req, res);
    if (fromSrc !== '-') throw new InvalidParameterError('importing from a URL is not supported; use fromSrc=-');
    const repo = req.query.get('repo');
    const tag = req.query.get('tag');
    if (repo) parseReference(repo + (tag ? ':' + tag : ''));  // validate before reading the body
    const changes = req.query.getAll('changes');
    applyChanges({}, changes);   // a bad change is the request's error (400), before the answer starts
    const send = startJsonStream(res);
    try {
      const rec = await e.archive.importRootfs(req.raw, { changes, message: req.query.get('message') ?? undefined });
      if (repo) e.images.tag(rec.id, repo + (tag ? ':' + tag : ''));
      e.images.announce('import', rec.id);
      send({ status: rec.id });
    } catch (err) {
      send({ errorDetail: { message: (err as Error).message }, error: (err as Error).message });
    }
    res.end();
  });

  r.post('/images/prune', async (req) => {
    const filters = filtersParam(req.query);
    checkFilters(filters, ['dangling', 'label', 'label!', 'until']);
    const onlyDangling = boolFilter(filters, 'dangling') ?? true;
    const beforeUntil = untilFilter(filters);
    const used = new Set(e.containers.list().map((c) => c.ImageId));
    const deleted: { Untagged?: string; Deleted?: string }[] = [];
    // Reclaimed: the layers that went with the images (a base layer other images keep is not).
    const layersBefore = e.images.layers.list();
    for (const i of e.images.all()) {
      if (used.has(i.id)) continue;
      if (onlyDangling && i.repoTags.length) continue;
      if (!beforeUntil(i.created)) continue;
      if (filters.label || filters['label!']) {
        const cfg = await e.images.config(i.id).catch(() => undefined);
        if (!labelsMatch(cfg?.config?.Labels, filters)) continue;
      }
      try {
        for (const d of e.images.remove(i.id, true, false)) deleted.push(d);
      } catch { /* in use: skip */ }
    }
    const kept = new Set(e.images.layers.list().map((l) => l.chainId));
    const reclaimed = layersBefore.filter((l) => !kept.has(l.chainId)).reduce((n, l) => n + l.size, 0);
    e.events.emit('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { body: { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed } };
  });

  // Routes with a name: image names contain slashes, so the name is a greedy capture.
  r.get('/images/:name*/json', async (req) => {
    const rec = e.images.resolve(req.params.name);
    const cfg = await e.images.config(rec.id);
    const body = e.images.inspectShape(rec, cfg);
    // API 1.45 dropped these, and dockerd 26 broke Debian's docker-compose 1.29 with it: on every
    // recreate it reads ContainerConfig.Volumes at whatever version it negotiated. Kept at every version.
    body.Container = typeof cfg.container === 'string' ? cfg.container : '';
    body.ContainerConfig = normaliseContainerConfig(cfg.container_config ?? {});
    if (olderThan(req.apiVersion, '1.44')) body.VirtualSize = body.Size;
    return { body };
  });

  r.get('/images/:name*/history', async (req) => ({ body: await e.images.history(e.images.resolve(req.params.name)) }));

  r.get('/images/:name*/get', (req, res) => save([req.params.name], res));

  r.post('/images/:name*/tag', (req) => {
    const rec = e.images.resolve(req.params.name);
    const repo = req.query.get('repo');
    if (!repo) throw new InvalidParameterError('repository name must have at least one component');
    const tag = req.query.get('tag');
    const parsed = parseReference(repo);
    if (parsed.tag && tag) throw new InvalidParameterError('invalid reference format');
    e.images.tag(rec.id, familiarName(parsed) + ':' + (tag || parsed.tag || 'latest'));
    return { status: 201 };
  });

  r.delete('/images/:name*', (req) => ({ body: e.images.remove(req.params.name, boolParam(req.query, 'force'), boolParam(req.query, 'noprune')) }));
}
