// Issue "nothing lost under crashes": writer processes are killed with SIGKILL at random
// moments (during start-up, between turns, in the middle of a turn's write) and restarted,
// some under the identity of the one that died (a worker slot: the new process continues from
// its file), some under a new one (their pid), while this process scrapes every ~10 ms and a
// process manager's markProcessDead removes the dead ones' live gauges and, for half of them,
// compaction folds their files into the archive. The checks after each kill are in
// helpers/stressChaos.ts. CHAOS_SLOTS and CHAOS_KILLS change the size;
// `tools/soak.ts --kill [--compact]` runs it for as long as asked.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compiledWriter } from './helpers/stressBuild.js';
import { ChaosRun, TRACKED } from './helpers/stressChaos.js';
import { Scraper } from './helpers/stressRun.js';

const SLOTS = Number(process.env.CHAOS_SLOTS ?? 6);
const KILLS_PER_SLOT = Number(process.env.CHAOS_KILLS ?? 5);
const FINAL_EVENTS = 3000;
const SCRAPE_INTERVAL_MS = 10;

const dirs: string[] = [];
const runs: ChaosRun[] = [];
after(() => {
  for (const run of runs) for (const writer of run.live) writer.child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe(`chaos: ${SLOTS} writer slots, ${KILLS_PER_SLOT} SIGKILLs each, scraped every ${SCRAPE_INTERVAL_MS} ms`, { timeout: 180_000 }, () => {
  it('no scrape fails, nothing written is lost, nothing is counted twice', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-chaos-'));
    dirs.push(dir);
    compiledWriter(); // before the scraper starts: it blocks for a second or two
    const scraper = new Scraper(dir, SCRAPE_INTERVAL_MS);
    const run = new ChaosRun(dir, FINAL_EVENTS, true);
    runs.push(run);
    scraper.start();
    await Promise.all(Array.from({ length: SLOTS }, (_, slot) => run.runSlot(slot, (round) => round < KILLS_PER_SLOT)));
    const stats = await scraper.stop();
    const final = await scraper.scrapeOnce();

    assert.deepEqual(run.problems, []);
    assert.deepEqual(stats.failures.map((failure) => `scrape ${failure.scrape}: ${failure.message}`), []);
    const expected = run.expected();
    const merged = (prefix: string) => [...final].filter(([key]) => key.startsWith(prefix)).reduce((sum, [, value]) => sum + value, 0);
    for (const { file, merged: prefix } of TRACKED) assert.equal(merged(prefix), expected[file], `merged ${prefix} = the sum of the ledgers`);
    assert.equal(final.get('stress_units_total{}'), expected.counter / 2);
    // Every process is dead and marked so: no live gauge is left.
    assert.equal(final.get('stress_level{}'), undefined);
    assert.equal(run.figures.kills, SLOTS * KILLS_PER_SLOT);

    const { figures } = run;
    t.diagnostic(
      `${figures.kills} SIGKILLs (${figures.killedBeforeReady} before the writer was ready, ${figures.killedMidTurn} mid-turn with the turn written), ` +
        `${figures.reusedIdentities} restarts under a dead process's identity, ${figures.folded} identities folded by compaction, ${expected.counter} events on disk; ` +
        `${stats.scrapes} scrapes, slowest ${Math.round(stats.slowestMs)} ms, none failed`,
    );
  });
});
