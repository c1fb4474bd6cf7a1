// Issue "nothing lost under crashes": writer processes are killed with SIGKILL at random
// moments (during start-up, between turns, in the middle of a turn's write) and restarted,
// some under the identity of the one that died (a worker slot: the new process continues from
// its file), some under a new one (their pid), while this process scrapes every ~10 ms and a
// process manager's markProcessDead removes the dead ones' live gauges and, for three quarters
// of them, compaction folds their files into the archive while the slot is refilled (issue
// "every number exact": the successor starts at a random moment of the fold, natural timing).
// Once, that compaction is done by a compactor that stalls for 12 s after reading, past the
// directory lock's stale time, while the others compact and write on. The checks after each
// kill are in helpers/stressChaos.ts. CHAOS_SLOTS and CHAOS_KILLS change the size;
// `tools/soak.ts --kill --compact --refill --stall-every S` runs it for as long as asked.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compiledWriter } from './helpers/stressBuild.js';
import { ChaosRun, TRACKED } from './helpers/stressChaos.js';
import { Scraper } from './helpers/stressRun.js';
import { capturedWarnings } from './helpers/scratch.js';

const SLOTS = Number(process.env.CHAOS_SLOTS ?? 6);
const KILLS_PER_SLOT = Number(process.env.CHAOS_KILLS ?? 8);
const FINAL_EVENTS = 3000;
const SCRAPE_INTERVAL_MS = 10;
const STALL = { stallMs: 12_000, firstAfterMs: 1000, everyMs: Infinity, max: 1 };
// Refills whose start-up overlapped the compaction of their identity: about a third of the
// kills (16 to 27 of 48 in five runs); fewer than an eighth would mean the race hardly ran.
const MIN_REFILLS = Math.floor((SLOTS * KILLS_PER_SLOT) / 8);

// Compactions that leave a refilled identity to its live successor, or give up, say so: counted, not printed.
const warnings = capturedWarnings();
const dirs: string[] = [];
const runs: ChaosRun[] = [];
after(() => {
  for (const run of runs) run.killAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe(`chaos: ${SLOTS} writer slots, ${KILLS_PER_SLOT} SIGKILLs each, scraped every ${SCRAPE_INTERVAL_MS} ms`, { timeout: 180_000 }, () => {
  it('no scrape fails, nothing written is lost, nothing is counted twice', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-chaos-'));
    dirs.push(dir);
    compiledWriter(); // before the scraper starts: it blocks for a second or two
    const scraper = new Scraper(dir, SCRAPE_INTERVAL_MS);
    const run = new ChaosRun(dir, FINAL_EVENTS, { compact: true, refill: true, stall: STALL });
    runs.push(run);
    scraper.start();
    await Promise.all(Array.from({ length: SLOTS }, (_, slot) => run.runSlot(slot, (round) => round < KILLS_PER_SLOT)));
    const stats = await scraper.stop();
    const final = await scraper.scrapeOnce();

    const { figures } = run;
    t.diagnostic(
      `${figures.kills} SIGKILLs (${figures.killedBeforeReady} before the writer was ready, ${figures.killedMidTurn} mid-turn with the turn written), ` +
        `${figures.reusedIdentities} restarts under a dead process's identity, ${figures.folded} identities folded by compaction, ` +
        `${figures.refills} refills during a compaction of their identity (${figures.refillsRacedOpen} opened their store during it, ` +
        `${figures.refillsAfterFold} after the fold), ${figures.stalls} compactor stalled ${STALL.stallMs / 1000} s ` +
        `(${figures.stallsInterrupted ? 'gave up' : 'folded'}; ${figures.stallsRefilled} refills of an identity it held), ` +
        `${run.expected().counter} events on disk, ${figures.totalsChecked} file totals checked (${figures.wrongTotals} wrong); ` +
        `${stats.scrapes} scrapes, slowest ${Math.round(stats.slowestMs)} ms, ${stats.failures.length} failed; ${warnings.length} compaction warnings`,
    );
    assert.deepEqual(run.problems, []);
    assert.deepEqual(stats.failures.map((failure) => `scrape ${failure.scrape}: ${failure.message}`), []);
    const expected = run.expected();
    const merged = (prefix: string) => [...final].filter(([key]) => key.startsWith(prefix)).reduce((sum, [, value]) => sum + value, 0);
    for (const { key, merged: prefix } of TRACKED) assert.equal(merged(prefix), expected[key], `merged ${prefix} = the sum of the ledgers`);
    // Every process is dead and marked so: no live gauge is left.
    assert.equal(final.get('stress_level{}'), undefined);
    assert.equal(run.figures.kills, SLOTS * KILLS_PER_SLOT);
    assert.ok(figures.refills >= MIN_REFILLS, `only ${figures.refills} refills overlapped a compaction of their identity (at least ${MIN_REFILLS})`);
    assert.equal(figures.stalls, 1, 'one compaction stalled past the directory lock\'s stale time');
    assert.equal(figures.stallsInterrupted + figures.stallsFolded, 1, 'the stalled compactor gave up or folded');
  });
});
