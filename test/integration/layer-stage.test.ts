// Staged layers: unpacked apart (in parallel, on worker threads), committed in order; what is kept for save and push.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chainIdOf } from '../../src/layer/index.js';
import { collect, gzip, makeTar, scratch, sha256 } from './layer-helpers.js';

const tmpDirs = (root: string) => fs.readdirSync(root).filter((n) => n.startsWith('tmp-'));

/** Feeds `data` in uneven pieces, as a download would. */
async function feedAll(feed: { write(b: Buffer, owned?: boolean): Promise<void>; end(): void }, data: Buffer): Promise<void> {
  for (let off = 0, k = 1; off < data.length; off += k * 7919, k++) {
    const piece = Buffer.alloc(Math.min(k * 7919, data.length - off));   // its own ArrayBuffer: can be transferred
    data.copy(piece, 0, off, off + piece.length);
    await feed.write(piece, true);
  }
  feed.end();
}

test('layers staged at the same time (worker threads) commit in order into the right chain, with exact tars', async () => {
  const s = scratch();
  try {
    const base = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', data: 'base\n' }, { name: 'big', data: Buffer.alloc(3 << 20, 7) }]);
    const top = await makeTar([{ name: 'etc/os', data: 'top\n' }, { name: 'etc/.wh.gone', data: '' }, { name: 'app', data: 'x'.repeat(100_000) }]);
    const [a, b] = [s.store.staging(), s.store.staging()];
    const fa = s.store.stageOffThread(a, sha256(base));
    const fb = s.store.stageOffThread(b, sha256(top));
    // The upper layer finishes first: order only matters at commit.
    await feedAll(fb, gzip(top));
    await fb.done;
    await feedAll(fa, base);
    await fa.done;
    const [la, lb] = await s.store.commit(null, [a, b]);
    assert.equal(la!.chainId, chainIdOf([sha256(base)]));
    assert.equal(lb!.chainId, chainIdOf([sha256(base), sha256(top)]));
    assert.equal(lb!.parent, la!.chainId);
    assert.equal(fs.readFileSync(path.join(lb!.diffDir, 'etc/os'), 'utf8'), 'top\n');
    assert.ok((await collect(s.store.tar(la!.chainId))).equals(base));
    assert.ok((await collect(s.store.tar(lb!.chainId))).equals(top));
    assert.equal(s.store.tarSize(lb!.chainId), top.length);
    await s.store.discard(a);   // committed: nothing to do
    assert.deepEqual(tmpDirs(s.store.root), []);
    assert.ok(fs.existsSync(la!.diffDir));
  } finally { s.cleanup(); }
});

test('a staged layer whose content is not its DiffID, or that is aborted, is refused and leaves nothing behind', async () => {
  const s = scratch();
  try {
    const data = await makeTar([{ name: 'f', data: 'content' }]);
    const wrong = s.store.staging();
    const f1 = s.store.stageOffThread(wrong, sha256(Buffer.from('something else')));
    await feedAll(f1, data);
    await assert.rejects(f1.done, /does not match its diff ID/);
    await s.store.discard(wrong);

    const cut = s.store.staging();
    const f2 = s.store.stageOffThread(cut, sha256(data));
    await f2.write(data.subarray(0, 700));
    f2.abort();
    await assert.rejects(f2.done);
    await s.store.discard(cut);

    const bad = s.store.staging();
    const f3 = s.store.stageOffThread(bad);
    await f3.write(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4]));
    f3.end();
    await assert.rejects(f3.done, /zstd-compressed layers are not supported/);
    await s.store.discard(bad);

    assert.deepEqual(tmpDirs(s.store.root), []);
    assert.equal(s.store.list().length, 0);
  } finally { s.cleanup(); }
});

test('a kept blob is recorded with its layer, re-read as it was, and gives the exact tar when no tar-split can', async () => {
  const s = scratch();
  try {
    const tarBytes = await makeTar([{ name: 'a', data: 'alpha' }, { name: 'b', data: 'beta'.repeat(1000) }]);
    const blob = gzip(tarBytes);
    const st = s.store.staging();
    fs.writeFileSync(st.blobPath, blob);
    st.blob = { digest: sha256(blob), mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: blob.length };
    const feed = s.store.stageOffThread(st, sha256(tarBytes));
    await feedAll(feed, blob);
    await feed.done;
    const [layer] = await s.store.commit(null, [st]);
    const kept = s.store.blob(layer!.chainId);
    assert.equal(kept?.digest, sha256(blob));
    assert.ok(fs.readFileSync(kept!.path).equals(blob));
    // Without the tar-split (a layer from a version that kept none), the blob still gives back the exact tar.
    const layerDir = path.dirname(layer!.diffDir);
    fs.rmSync(path.join(layerDir, 'tar-split.gz'));
    assert.ok(s.store.reproducible(layer!.chainId));
    assert.ok((await collect(s.store.tar(layer!.chainId))).equals(tarBytes));
    // A layer committed a second time on the same parent is the same layer; the second staging is left to discard.
    const again = s.store.staging();
    const f2 = s.store.stageOffThread(again);
    await feedAll(f2, tarBytes);
    await f2.done;
    const [same] = await s.store.commit(null, [again]);
    assert.equal(same!.chainId, layer!.chainId);
    await s.store.discard(again);
    assert.deepEqual(tmpDirs(s.store.root), []);
  } finally { s.cleanup(); }
});
