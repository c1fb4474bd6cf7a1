// What a FileStore does with a value recorded after close(): it cannot be written, and says so.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { setProblemReporter } from '../common/report.js';
import { readEntries } from '../format/format.js';
import { readFileSync } from 'node:fs';
import { FileStore } from './fileStore.js';

describe('FileStore after close()', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'file-store-'));
  after(() => {
    setProblemReporter(undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports, once, a value recorded after close, naming the file; the file keeps what was written', () => {
    const reports: string[] = [];
    setProblemReporter((error) => reports.push(error.message));
    const store = new FileStore({ dir, identity: 'closed-store' });
    const cell = store.cell('counter', '["c","c_total",[],[]]');
    cell.value += 5;
    cell.owner.onDirty(cell);
    store.close();
    for (let i = 0; i < 3; i++) {
      cell.value += 7;
      if (!cell.dirty) cell.owner.onDirty(cell);
    }
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(reports[0]!, /recorded after the metrics store .* was closed/);
    assert.ok(reports[0]!.includes(path.join(dir, 'counter_closed-store.db')), reports[0]);
    const entries = readEntries(readFileSync(path.join(dir, 'counter_closed-store.db')));
    assert.deepEqual(entries.map((entry) => entry.value), [5]);
  });
});
