/**
 * Spare container directories (src/container/spare-dirs.ts) on a real temp dir: a create gets a
 * complete directory whether a spare was there or not, the spares are topped up to their number
 * and no more, and a new daemon sweeps an earlier one's spares away.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpareContainerDirs } from '../../src/container/spare-dirs.js';

const root = mkdtempSync(join(tmpdir(), 'berth-spares-'));
after(() => rmSync(root, { recursive: true, force: true }));

const spares = () => readdirSync(root).filter((n) => n.startsWith('.spare-')).sort();
const complete = (dir: string) => {
  for (const d of ['upper', 'work', 'rootfs']) assert.ok(statSync(join(dir, d)).isDirectory(), `${d} in ${dir}`);
  assert.equal(readdirSync(join(dir, 'upper')).length, 0, 'an empty read/write layer');
  assert.equal(readFileSync(join(dir, 'container.log'), 'utf8'), '');
};
const settled = async () => { for (let i = 0; i < 200 && spares().length < 2; i++) await new Promise((r) => setTimeout(r, 5)); };

test('takes a spare when there is one, makes the directory when not, and keeps two spares', async () => {
  const log: string[] = [];
  const dirs = new SpareContainerDirs(root, (m) => log.push(m));
  dirs.take(join(root, 'first'));   // no spare yet
  complete(join(root, 'first'));
  await settled();
  const before = spares();
  assert.equal(before.length, 2);
  dirs.take(join(root, 'second'));
  complete(join(root, 'second'));
  assert.equal(spares().length, 1, 'one of the spares became the container\'s directory');
  assert.ok(before.some((s) => !existsSync(join(root, s))));
  await settled();
  await dirs.refill();
  assert.equal(spares().length, 2, 'topped up to two, not more');
  for (const s of spares()) complete(join(root, s));
  assert.deepEqual(log, []);
});

test('a new daemon sweeps the spares an earlier one left', () => {
  mkdirSync(join(root, '.spare-left'), { recursive: true });
  new SpareContainerDirs(root, () => undefined).sweep();
  assert.deepEqual(spares(), []);
  assert.ok(existsSync(join(root, 'first')), 'containers\' directories stay');
});
