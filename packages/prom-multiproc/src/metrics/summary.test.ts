// A summary's merged quantiles are matched to its percentiles by value: the process serving the
// scrape may list other percentiles, or the same in another order, than those that wrote them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry, register } from '../scrape/promRegistry.js';
import { MultiprocessRegistry } from '../scrape/registry.js';
import { flushQuantileFiles } from '../storage/sketchFile.js';
import { FileStore } from '../storage/fileStore.js';
import { Summary } from './summary.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pm-summary-'));
const stores: FileStore[] = [];
after(() => {
  for (const store of stores) store.close();
  rmSync(dir, { recursive: true, force: true });
});

function quantileLines(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const match of text.matchAll(/^latency_seconds\{quantile="([^"]+)",route="\/a"\} (\S+)$/gm)) found.set(match[1]!, Number(match[2]));
  return found;
}

describe('Summary quantiles across processes with different percentiles', () => {
  it('shows each of its percentiles with the value computed for that percentile, and leaves out those no writer computes', async () => {
    const writerStore = new FileStore({ dir, identity: 'writer' });
    const scraperStore = new FileStore({ dir, identity: 'scraper' });
    stores.push(writerStore, scraperStore);
    const writer = new Summary({ name: 'latency_seconds', help: 'h', labelNames: ['route'], percentiles: [0.01, 0.5, 0.99], store: writerStore, registers: [] });
    for (let value = 1; value <= 100; value++) writer.observe({ route: '/a' }, value);
    writerStore.flush();
    flushQuantileFiles(dir);

    const registry = new Registry();
    new Summary({ name: 'latency_seconds', help: 'h', labelNames: ['route'], percentiles: [0.99, 0.01, 0.75], store: scraperStore, registers: [registry] });
    const quantiles = quantileLines(await registry.metrics());
    assert.deepEqual([...quantiles.keys()], ['0.99', '0.01'], 'the scraper order, without 0.75, which nobody computed');
    // Within the sketch's 1% of the exact values at those ranks (99.5 and 1.5 by the midpoint rule).
    assert.ok(Math.abs(quantiles.get('0.99')! - 99.5) <= 0.01 * 99.5 + 1e-9, `0.99: ${quantiles.get('0.99')}`);
    assert.ok(Math.abs(quantiles.get('0.01')! - 1.5) <= 0.01 * 1.5 + 1e-9, `0.01: ${quantiles.get('0.01')}`);
  });

  it('shows the quantiles in scrapes of the whole directory: MultiprocessRegistry, and the global register in a process without the summary', async () => {
    const store = new FileStore({ dir, identity: 'wholewriter' });
    stores.push(store);
    const writer = new Summary({ name: 'whole_seconds', help: 'h', labelNames: ['route'], percentiles: [0.5, 0.9], store, registers: [] });
    for (let value = 1; value <= 100; value++) writer.observe({ route: '/w' }, value);
    store.flush();
    flushQuantileFiles(dir);

    const lines = (text: string) => text.split('\n').filter((line) => line.startsWith('whole_seconds{'));
    const whole = lines(await new MultiprocessRegistry({ dir }).metrics());
    process.env.PROM_MULTIPROC_DIR = dir;
    try {
      assert.deepEqual(lines(await register.metrics()), whole, 'the global register serves the family the same way');
    } finally {
      delete process.env.PROM_MULTIPROC_DIR;
    }
    assert.equal(whole.length, 2, whole.join('\n'));
    const median = Number(/^whole_seconds\{route="\/w",quantile="0.5"\} (\S+)$/m.exec(whole.join('\n'))?.[1]);
    assert.ok(Math.abs(median - 50.5) <= 0.01 * 50.5, `median ${median}`);
  });
});
