// Issue "nothing lost under load": 8 writer processes record 100,000 events each (counters,
// a histogram, a summary, gauges in six modes) while this process scrapes the directory every
// ~10 ms. Every scrape parses, no counter-like series ever goes down, and once the writers
// have exited the merged totals are exact. STRESS_WRITERS / STRESS_EVENTS change the size;
// tools/soak.ts runs the same workload for as long as asked.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { markProcessDead } from '../packages/prom-multiproc/src/index.js';
import { compiledWriter } from './helpers/stressBuild.js';
import { Scraper, startWriter, type Writer } from './helpers/stressRun.js';
import { expectedTotals, NAMES } from './helpers/stressWorkload.js';

const WRITERS = Number(process.env.STRESS_WRITERS ?? 8);
const EVENTS = Number(process.env.STRESS_EVENTS ?? 100_000);
// 400 turns per writer with a pause between them, so the writes are spread over seconds of
// scraping rather than done before the first scrape.
const BATCH = Math.max(1, Math.ceil(EVENTS / 400));
const PAUSE_MS = 2;
const SCRAPE_INTERVAL_MS = 10;

const dirs: string[] = [];
const writers: Writer[] = [];
after(() => {
  for (const writer of writers) writer.child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe(`stress: ${WRITERS} writers × ${EVENTS} events, scraped every ${SCRAPE_INTERVAL_MS} ms`, { timeout: 120_000 }, () => {
  it('every scrape parses, nothing goes down, and the final totals are exact', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-stress-'));
    dirs.push(dir);
    compiledWriter(); // before the scraper starts: it blocks for a second or two
    const scraper = new Scraper(dir, SCRAPE_INTERVAL_MS);
    scraper.start();
    const begun = performance.now();
    for (let w = 0; w < WRITERS; w++) writers.push(startWriter(dir, { events: EVENTS, batch: BATCH, pauseMs: PAUSE_MS }));
    const endings = await Promise.all(writers.map((writer) => writer.ended));
    const writingMs = performance.now() - begun;
    const stats = await scraper.stop();

    endings.forEach((ending, w) => assert.deepEqual(ending, { code: 0, signal: null }, writers[w]!.stderr()));
    for (const writer of writers) assert.equal(writer.flushed, EVENTS, `writer ${writer.identity} reported ${writer.flushed} events`);
    assert.deepEqual(stats.failures, [], `${stats.failures.length} of ${stats.scrapes} scrapes failed`);
    // Enough scrapes overlapped the writing for the test to mean something.
    assert.ok(stats.scrapes >= 20, `only ${stats.scrapes} scrapes in ${Math.round(writingMs)} ms`);

    const final = await scraper.scrapeOnce();
    assert.deepEqual(stats.failures, []);
    for (const [key, value] of expectedTotals(writers.map(() => EVENTS))) {
      assert.equal(final.get(key), value, key);
    }
    const total = WRITERS * EVENTS;
    assert.equal(final.get(`${NAMES.progressSum}{}`), total);
    assert.equal(final.get(`${NAMES.progressMax}{}`), EVENTS);
    assert.equal(final.get(`${NAMES.progressMin}{}`), EVENTS);
    assert.equal(final.get(`${NAMES.progressLatest}{}`), EVENTS);
    assert.equal(final.get(`${NAMES.level}{}`), total);
    for (const writer of writers) assert.equal(final.get(`${NAMES.progressAll}{pid="${writer.identity}"}`), EVENTS);
    // Nine metrics files and the summary's quantiles side file.
    assert.equal(readdirSync(dir).length, WRITERS * 10, 'ten files per writer, nothing else');

    // The writers are gone: their live gauges leave the merge, their counts stay.
    for (const writer of writers) markProcessDead(writer.identity, dir);
    const afterDeath = await scraper.scrapeOnce();
    assert.equal(afterDeath.get(`${NAMES.level}{}`), undefined);
    assert.equal(afterDeath.get('stress_units_total{}'), total / 2);

    t.diagnostic(
      `${WRITERS} writers × ${EVENTS} events in ${Math.round(writingMs)} ms; ${stats.scrapes} scrapes ` +
        `(${stats.text} text, ${stats.openMetrics} OpenMetrics), slowest ${Math.round(stats.slowestMs)} ms, none failed`,
    );
  });
});
