/** Container routes beyond the core: archive (docker cp). More (top, stats, pause, …) join here. */
import { ContainerArchive, type PathStat } from '../container/archive.js';
import { InvalidParameterError } from '../errors/index.js';
import type { Engine } from './engine.js';
import { boolParam, type Router } from './router.js';

function statHeader(s: PathStat): string { return Buffer.from(JSON.stringify(s)).toString('base64'); }

export function containerExtraRoutes(r: Router, e: Engine): void {
  const archive = new ContainerArchive(e.containers, e.images);
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
  });

  r.put('/containers/:id/archive', async (req) => {
    await archive.put(req.params.id, pathOf(req.query), req.raw, {
      noOverwriteDirNonDir: boolParam(req.query, 'noOverwriteDirNonDir'),
      copyUIDGID: boolParam(req.query, 'copyUIDGID'),
    });
    return { status: 200 };
  });
}
