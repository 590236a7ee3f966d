/** The containers table's name and ID index: kept right through puts, renames and deletes, and rebuilt from the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { ContainerTable } from '../../src/container/container-table.js';
import type { ContainerRecord } from '../../src/container/index.js';

const record = (Id: string, Name: string) => ({ Id, Name, State: { Status: 'created' } }) as unknown as ContainerRecord;

test('names and IDs are indexed through put, rename, delete and a reopen of the database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ctable-'));
  try {
    const path = join(dir, 'berth.db');
    const db = openDatabase(path);
    const t = new ContainerTable(db);
    t.put('a1', record('a1', 'web'));
    t.put('b2', record('b2', 'db'));
    assert.equal(t.idOfName('web'), 'a1');
    assert.deepEqual(t.ids().sort(), ['a1', 'b2']);
    t.put('a1', record('a1', 'frontend'));   // a rename
    assert.equal(t.idOfName('web'), undefined, 'the old name is free again');
    assert.equal(t.idOfName('frontend'), 'a1');
    assert.equal(t.delete('b2'), true);
    assert.equal(t.idOfName('db'), undefined);
    assert.deepEqual(t.ids(), ['a1']);
    db.close();
    const again = new ContainerTable(openDatabase(path));
    assert.equal(again.idOfName('frontend'), 'a1', 'rebuilt from the stored records');
    assert.equal(again.get('a1')?.Name, 'frontend');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
