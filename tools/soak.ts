// The long run of test/stress.test.ts and test/chaos.test.ts, for manual runs before a
// release: writers record the stress workload for as long as asked while the directory is
// scraped every ~10 ms, and every scrape is checked (parses, nothing counter-like goes down).
//
//   node --import tsx tools/soak.ts --writers 8 --seconds 600          writers run throughout, then stop
//   node --import tsx tools/soak.ts --writers 6 --seconds 600 --kill   writers SIGKILLed and restarted
//   ... --kill --compact                                               and each dead one's files folded into the archive
//   ... --kill --compact --refill                                      folded while its slot is refilled under its identity
//   ... --kill --compact --refill --stall-every 30 [--stall-ms 12000]  and every 30 s a compactor that stalls after reading
//   node --import tsx tools/soak.ts --writers 8 --events 100000        each writer records N events, once
//
// At the end the merged totals must equal what the writers wrote, exactly. Progress every 10 s
// on stderr, a summary on stdout; exit code 1 if anything failed.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compiledWriter } from '../test/helpers/stressBuild.js';
import { ChaosRun, TRACKED } from '../test/helpers/stressChaos.js';
import { setProblemReporter } from '../packages/prom-multiproc/src/index.js';
import { Scraper, startWriter, type ScraperStats, type Writer } from '../test/helpers/stressRun.js';
import { expectedTotals } from '../test/helpers/stressWorkload.js';

const { values: args } = parseArgs({
  options: {
    writers: { type: 'string', default: '8' },
    seconds: { type: 'string' },
    events: { type: 'string' },
    kill: { type: 'boolean', default: false },
    compact: { type: 'boolean', default: false },
    refill: { type: 'boolean', default: false },
    'stall-every': { type: 'string' },
    'stall-ms': { type: 'string', default: '12000' },
    'scrape-ms': { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
  },
});
const writers = Number(args.writers);
const seconds = args.seconds === undefined ? undefined : Number(args.seconds);
const events = args.events === undefined ? undefined : Number(args.events);
const stall = args['stall-every'] === undefined
  ? undefined
  : { stallMs: Number(args['stall-ms']), firstAfterMs: 5000, everyMs: Number(args['stall-every']) * 1000, max: Infinity };
if ((seconds === undefined) === (events === undefined)) {
  process.stderr.write('soak: give --seconds S (run for S seconds) or --events N (each writer records N events)\n');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-soak-'));
compiledWriter();
const scraper = new Scraper(dir, Number(args['scrape-ms']));
const begun = Date.now();
const deadline = seconds === undefined ? Infinity : begun + seconds * 1000;
const failures: string[] = [];
let written = 0;
// This process's compactions report identities left to a live successor, or a lost lock: counted, not printed.
const warnings = new Map<string, number>();
setProblemReporter((problem) => {
  const kind = problem.message.replace(/^(compaction \S+ \S+ \S+).*/, '$1').replace(/\/\S+/g, 'DIR');
  warnings.set(kind, (warnings.get(kind) ?? 0) + 1);
});

function progress(stats: ScraperStats, extra: string): void {
  const elapsed = Math.round((Date.now() - begun) / 1000);
  process.stderr.write(`soak: ${elapsed} s, ${stats.scrapes} scrapes (slowest ${Math.round(stats.slowestMs)} ms, ${stats.failures.length} failed), ${extra}\n`);
}

async function steady(): Promise<Map<string, number>> {
  // Each writer records until it is stopped (SIGTERM, taken between two batches) or has its events.
  const running: Writer[] = Array.from({ length: writers }, () => startWriter(dir, { events: events ?? 1e12, batch: 250, pauseMs: 2 }));
  const timer = setInterval(() => progress(scraper.stats, `${running.reduce((sum, writer) => sum + writer.flushed, 0)} events on disk`), 10_000);
  if (seconds !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    for (const writer of running) writer.child.kill('SIGTERM');
  }
  const endings = await Promise.all(running.map((writer) => writer.ended));
  clearInterval(timer);
  endings.forEach((ending, i) => {
    if (ending.code !== 0) failures.push(`writer ${running[i]!.identity} ended with ${JSON.stringify(ending)}: ${running[i]!.stderr()}`);
  });
  written = running.reduce((sum, writer) => sum + writer.flushed, 0);
  return expectedTotals(running.map((writer) => writer.flushed));
}

async function chaos(): Promise<ChaosRun> {
  const run = new ChaosRun(dir, 3000, { compact: args.compact, refill: args.refill, stall });
  const timer = setInterval(() => {
    const { kills, refills, stalls } = run.figures;
    progress(scraper.stats, `${kills} kills, ${refills} refills during a fold, ${stalls} stalls, ${run.ledger.size} identities, ${run.problems.length} problems`);
  }, 10_000);
  const rounds = events === undefined ? () => Date.now() < deadline : (round: number) => round < Math.max(1, Math.round(events / 3000));
  await Promise.all(Array.from({ length: writers }, (_, slot) => run.runSlot(slot, rounds)));
  clearInterval(timer);
  failures.push(...run.problems);
  written = run.expected().counter;
  return run;
}

scraper.start();
let summary: string;
try {
  if (args.kill) {
    const run = await chaos();
    const stats = await scraper.stop();
    const final = await scraper.scrapeOnce();
    const expected = run.expected();
    let wrongMerged = 0;
    for (const { file, merged } of TRACKED) {
      const got = [...final].filter(([key]) => key.startsWith(merged)).reduce((sum, [, value]) => sum + value, 0);
      if (got === expected[file]) continue;
      wrongMerged++;
      failures.push(`merged ${merged} is ${got}, the writers' ledger says ${expected[file]}`);
    }
    const { figures } = run;
    summary = `${figures.incarnations} writers, ${figures.kills} SIGKILLs (${figures.killedBeforeReady} before ready, ${figures.killedMidTurn} mid-turn), ` +
      (args.compact ? `${figures.folded} identities folded by compaction, ` : '') +
      (args.refill ? `${figures.refills} refills during a compaction of their identity (${figures.refillsRacedOpen} opened their store during it, ${figures.refillsAfterFold} after the fold), ` : '') +
      (stall ? `${figures.stalls} compactors stalled ${stall.stallMs} ms after reading (${figures.stallsInterrupted} gave up, ${figures.stallsFolded} folded; ${figures.stallsRefilled} refills of an identity one held), ` : '') +
      (figures.compactionErrors > 0 ? `${figures.compactionErrors} compactions threw, ` : '') +
      `${figures.reusedIdentities} restarts under a dead identity, ${run.ledger.size} identities, ${written} events on disk, ` +
      `${figures.totalsChecked + TRACKED.length} totals checked, ${figures.wrongTotals + wrongMerged} wrong; ${stats.scrapes} scrapes (slowest ${Math.round(stats.slowestMs)} ms)` +
      (warnings.size > 0 ? `; warnings: ${[...warnings].map(([kind, count]) => `${count} × ${kind}`).join(', ')}` : '');
  } else {
    const expected = await steady();
    const stats = await scraper.stop();
    const final = await scraper.scrapeOnce();
    for (const [key, value] of expected) {
      if (final.get(key) !== value) failures.push(`final ${key} is ${final.get(key)}, expected ${value}`);
    }
    summary = `${writers} writers, ${written} events; ${stats.scrapes} scrapes (slowest ${Math.round(stats.slowestMs)} ms)`;
  }
  failures.push(...scraper.stats.failures.map((failure) => `scrape ${failure.scrape}: ${failure.message}`));
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}

const files = args.keep ? ` (directory kept: ${dir}, ${readdirSync(dir).length} files)` : '';
const flags = [args.kill && '--kill', args.compact && '--compact', args.refill && '--refill', stall && `--stall-every ${args['stall-every']} --stall-ms ${stall.stallMs}`];
process.stdout.write(`soak ${flags.filter(Boolean).map((flag) => `${flag} `).join('')}${Math.round((Date.now() - begun) / 1000)} s: ${summary}; ${failures.length === 0 ? 'nothing failed' : `${failures.length} FAILURES`}${files}\n`);
for (const failure of failures.slice(0, 20)) process.stdout.write(`  ${failure}\n`);
process.exitCode = failures.length === 0 ? 0 : 1;
