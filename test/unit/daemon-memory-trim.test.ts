import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../native/malloc-trim.node', import.meta.url));

test('the malloc-trim module is built, loads into node and trims the C heap', () => {
  assert.ok(existsSync(MODULE), `${MODULE} missing: npm run build compiles it (gcc and Node's headers)`);
  const { trim } = createRequire(import.meta.url)(MODULE) as { trim: () => boolean };
  let garbage: Buffer[] = [];
  for (let i = 0; i < 2000; i++) garbage.push(Buffer.allocUnsafeSlow(32 * 1024).fill(i));
  garbage = [];
  assert.equal(typeof trim(), 'boolean');
  assert.equal(garbage.length, 0);
});
