import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { FrameDemuxer, demuxStream, encodeFrame, jsonLines } from '../../src/client/index.js';

test('frames split at every byte boundary come out whole and in order', () => {
  const wire = Buffer.concat([encodeFrame(1, 'hello\n'), encodeFrame(2, 'oops\n'), encodeFrame(1, ''), encodeFrame(1, 'x'.repeat(70000))]);
  for (const step of [1, 3, 7, 8, 9, 4096, wire.length]) {
    const d = new FrameDemuxer();
    const got: [number, string][] = [];
    for (let i = 0; i < wire.length; i += step) for (const f of d.push(wire.subarray(i, i + step))) got.push([f.stream, f.payload.toString()]);
    assert.deepEqual(got.map(([s, p]) => [s, p.length]), [[1, 6], [2, 5], [1, 0], [1, 70000]], `step ${step}`);
    assert.equal(got[0][1], 'hello\n');
    assert.equal(d.buffered, 0);
  }
});

test('an incomplete frame waits for more bytes', () => {
  const d = new FrameDemuxer();
  const f = encodeFrame(2, 'abc');
  assert.deepEqual(d.push(f.subarray(0, 9)), []);
  assert.equal(d.buffered, 9);
  const out = d.push(f.subarray(9));
  assert.equal(out.length, 1);
  assert.equal(out[0].payload.toString(), 'abc');
});

test('demuxStream routes stdout and stderr, and a system-error frame rejects', async () => {
  const src = new PassThrough(); const out = new PassThrough(); const err = new PassThrough();
  const chunksOut: Buffer[] = []; const chunksErr: Buffer[] = [];
  out.on('data', (d: Buffer) => chunksOut.push(d)); err.on('data', (d: Buffer) => chunksErr.push(d));
  const done = demuxStream(src, { stdout: out, stderr: err });
  src.end(Buffer.concat([encodeFrame(1, 'o1'), encodeFrame(2, 'e1'), encodeFrame(1, 'o2')]));
  await done;
  assert.equal(Buffer.concat(chunksOut).toString(), 'o1o2');
  assert.equal(Buffer.concat(chunksErr).toString(), 'e1');
  const src2 = new PassThrough();
  const p = demuxStream(src2, { stdout: new PassThrough(), stderr: new PassThrough() });
  src2.end(encodeFrame(3, 'boom'));
  await assert.rejects(p, /boom/);
});

test('JSON message streams: split lines and concatenated objects', async () => {
  async function* chunks(): AsyncGenerator<Buffer> {
    yield Buffer.from('{"status":"a"}\n{"sta');
    yield Buffer.from('tus":"b"}\r\n\n{"stream":"c"}{"id":"d"}');
  }
  const got: unknown[] = [];
  for await (const m of jsonLines(chunks())) got.push(m);
  assert.deepEqual(got, [{ status: 'a' }, { status: 'b' }, { stream: 'c' }, { id: 'd' }]);
});
