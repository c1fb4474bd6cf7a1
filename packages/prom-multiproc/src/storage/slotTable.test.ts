import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotTable, hashString } from './slotTable.js';

describe('SlotTable', () => {
  it('finds every slot by its hash and the caller\'s check, through growth', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `key ${i}`);
    const table = new SlotTable();
    keys.forEach((key, i) => assert.equal(table.add(hashString(key)), i));
    keys.forEach((key, i) => assert.equal(table.find(hashString(key), (slot) => keys[slot] === key), i));
    assert.equal(table.find(hashString('absent'), (slot) => keys[slot] === 'absent'), -1);
  });

  it('keeps keys whose hashes collide apart: the check decides', () => {
    const table = new SlotTable();
    const keys = ['a', 'b', 'c'];
    for (const _ of keys) table.add(7);
    keys.forEach((key, i) => assert.equal(table.find(7, (slot) => keys[slot] === key), i));
    assert.equal(table.find(7, () => false), -1);
  });

  it('starts again from slot 0 once cleared', () => {
    const table = new SlotTable();
    table.add(1);
    table.add(2);
    table.clear();
    assert.equal(table.find(1, () => true), -1);
    assert.equal(table.add(2), 0);
    assert.equal(table.find(2, (slot) => slot === 0), 0);
  });
});
