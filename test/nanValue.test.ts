// NaN is a legal sample value; both formats spell it "NaN" (prom-client writes "Nan").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import { Registry } from 'prom-client';
import { FileStore, Gauge, MultiprocessRegistry } from '../packages/prom-multiproc/src/index.js';

it('renders a NaN value as NaN in text and OpenMetrics', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-nan-'));
  try {
    const store = new FileStore({ dir, identity: 'n1' });
    new Gauge({ name: 'ratio', help: 'A "ratio"', multiprocessMode: 'max', store, registers: [] }).set(NaN);
    store.close();
    const text = await new MultiprocessRegistry({ dir }).metrics();
    assert.match(text, /^ratio NaN$/m);
    const open = await new MultiprocessRegistry({ dir, contentType: Registry.OPENMETRICS_CONTENT_TYPE }).metrics();
    assert.match(open, /^ratio NaN$/m);
    assert.match(open, /^# HELP ratio A \\"ratio\\"$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
