/** Exec routes: create, start (hijacked or detached), inspect, resize. */
import { InvalidParameterError } from '../errors/index.js';
import { frame } from '../container/index.js';
import type { ExecService } from '../container/exec.js';
import { intParam, readJson, requestJson, type Router } from './router.js';
import { hijack } from './server.js';

export function execRoutes(r: Router, execs: ExecService): void {
  r.post('/containers/:id/exec', async (req) => {
    const body = await readJson(req.raw);
    if (!body) throw new InvalidParameterError('No exec command specified');
    return { status: 201, body: execs.create(req.params.id, body) };
  });

  r.post('/exec/:id/start', async (req, res) => {
    const body = (await requestJson(req)) ?? {};
    const e = execs.get(req.params.id);
    const detach = !!body.Detach;
    const consoleSize = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? body.ConsoleSize as [number, number] : null;
    if (detach) {
      await execs.start(e.ID, { detach: true, tty: body.Tty, consoleSize });
      return { status: 200 };
    }
    const tty = !!(e.config.Tty || body.Tty);
    const raw = hijack(req, res, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    try {
      await execs.start(e.ID, { detach: false, tty: body.Tty, consoleSize }, raw);
    } catch (err) {
      // After the upgrade, Docker reports start failures inside the stream; inspect then gives 126/127.
      const text = Buffer.from(`${(err as Error).message}\r\n`);
      try { raw.output.write(tty ? text : frame(1, text)); } catch { /* gone */ }
      raw.end();
    }
    return undefined;
  });

  r.get('/exec/:id/json', (req) => ({ body: execs.inspect(req.params.id) }));

  r.post('/exec/:id/resize', async (req) => {
    const h = intParam(req.query, 'h'); const w = intParam(req.query, 'w');
    if (h === undefined || w === undefined || h < 0 || w < 0) throw new InvalidParameterError('invalid resize parameters');
    await execs.resize(req.params.id, h, w);
    return { status: 200 };
  });
}
