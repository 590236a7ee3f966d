/** Exec routes: create, start (hijacked or detached), inspect, resize. */
import { InvalidParameterError } from '../errors/index.js';
import { frame } from '../container/index.js';
import type { ExecService } from '../container/exec.js';
import type { Duplex } from 'node:stream';
import { intParam, parseJson, readJson, type Router } from './router.js';
import { hijack } from './server.js';

export function execRoutes(r: Router, execs: ExecService): void {
  r.post('/containers/:id/exec', async (req) => {
    const body = await readJson(req.raw);
    if (!body) throw new InvalidParameterError('No exec command specified');
    return { status: 201, body: execs.create(req.params.id, body) };
  });

  r.post('/exec/:id/start', async (req, res) => {
    const body = (req.upgradeSocket ? await readUpgradeBody(req.upgradeSocket, Number(req.raw.headers['content-length'] ?? 0)) : await readJson(req.raw)) ?? {};
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

/** On an upgraded connection the JSON body arrives on the socket itself: take exactly Content-Length bytes. */
async function readUpgradeBody(socket: Duplex, length: number): Promise<any> {
  if (!length) return undefined;
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < length) {
    const chunk: Buffer | null = socket.read();
    if (chunk === null) {
      if (socket.readableEnded || socket.destroyed) break;
      await new Promise<void>((resolve) => { const done = () => { socket.off('readable', done); socket.off('end', done); socket.off('close', done); resolve(); }; socket.on('readable', done); socket.on('end', done); socket.on('close', done); });
      continue;
    }
    const need = length - have;
    if (chunk.length > need) { socket.unshift(chunk.subarray(need)); chunks.push(chunk.subarray(0, need)); have = length; }
    else { chunks.push(chunk); have += chunk.length; }
  }
  return parseJson(Buffer.concat(chunks).toString('utf8'));
}
