/**
 * GET /containers/{id}/attach/ws, dockerd's attach over a WebSocket (what web consoles use):
 * output never multiplexed, binary frames from API 1.28 (text before), typed input to stdin, the
 * logs so far on request, stdout/stderr chosen from 1.42; a plain request is refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { importBusybox, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';

describe('attach over a WebSocket', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  async function session(version: string, id: string, query: string) {
    const ws = new WebSocket(`ws+unix://${d.socket}:/${version}/containers/${id}/attach/ws?${query}`, { origin: 'http://localhost' });
    const frames: { text: string; binary: boolean }[] = [];
    ws.on('message', (data: Buffer, binary: boolean) => frames.push({ text: data.toString(), binary }));
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return { ws, frames, closed, text: () => frames.map((f) => f.text).join('') };
  }

  test('typed input reaches the process; its output comes back unframed in binary frames', async () => {
    const id = d.docker(['create', '-i', 'busybox', 'sh', '-c', 'echo before; read line; echo "got $line"; echo to-stderr >&2']).stdout.trim();
    const s = await session('v1.45', id, 'stream=1&stdin=1&stdout=1&stderr=1');
    assert.equal(d.docker(['start', id]).status, 0);
    await waitFor(() => s.text().includes('before\n'), `first output: ${s.text()}`);
    s.ws.send('typed\n');
    await s.closed;
    assert.equal(s.text(), 'before\ngot typed\nto-stderr\n');
    assert.ok(s.frames.every((f) => f.binary));
    assert.equal(d.docker(['wait', id]).stdout.trim(), '0');
    assert.equal(d.docker(['rm', id]).status, 0);
  });

  test('logs=1 replays what was written; stdout alone leaves stderr out (1.42+); text frames before 1.28', async () => {
    const id = d.docker(['run', '-d', 'busybox', 'sh', '-c', 'echo out; echo err >&2; sleep 60']).stdout.trim();
    await waitFor(() => d.docker(['logs', id]).stderr === 'err\n', 'logs written');
    const only = await session('v1.45', id, 'logs=1&stream=0&stdout=1');
    await only.closed;
    assert.equal(only.text(), 'out\n');
    const old = await session('v1.27', id, 'logs=1&stream=0');
    await old.closed;
    assert.deepEqual(old.text().split('\n').sort(), ['', 'err', 'out'], 'before 1.42 every stream is attached');
    assert.ok(old.frames.every((f) => !f.binary));
    assert.equal(d.docker(['rm', '-f', id]).status, 0);
  });

  test('a request that is not a WebSocket handshake is a 400; a missing container a 404', async () => {
    const id = d.docker(['create', 'busybox', 'true']).stdout.trim();
    const plain = await d.api('GET', `/containers/${id}/attach/ws?stream=1`);
    assert.equal(plain.status, 400);
    assert.match(plain.json.message, /not using the websocket protocol/);
    const missing = await d.api('GET', '/containers/nope/attach/ws?stream=1');
    assert.equal(missing.status, 404);
    assert.equal(d.docker(['rm', id]).status, 0);
  });
});
