// The kill-and-restart loop of test/chaos.test.ts and `tools/soak.ts --kill`. A slot runs
// writers one after another: each is killed with SIGKILL at a random moment (or, in the last
// round, runs to its end), restarted under the dead one's identity half of the time (a worker
// slot: the new process continues from the file) and under its own pid otherwise.
//
// After each death the files are read directly and compared with what the writer had said on
// its synchronous stdout: every event of a turn it reported written is there (the durability
// point), none beyond the batch it had begun (nothing counted twice). The per-identity results
// make a ledger whose sum the merged scrape must equal exactly.
import * as path from 'node:path';
import { compactDirectory, markProcessDead } from '../../packages/prom-multiproc/src/index.js';
import { fileSeriesTotal, startWriter, type Writer } from './stressRun.js';

/** The three counter-like series each event adds one to, each in its own file. */
export const TRACKED = [
  { file: 'counter', sample: 'stress_events_total', merged: 'stress_events_total{' },
  // Buckets are stored per bound, not cumulative: their sum is the number of observations.
  { file: 'histogram', sample: 'stress_latency_seconds_bucket', merged: 'stress_latency_seconds_count{' },
  { file: 'summary', sample: 'stress_payload_bytes_count', merged: 'stress_payload_bytes_count{' },
] as const;

export type Totals = Record<(typeof TRACKED)[number]['file'], number>;

export interface ChaosFigures {
  kills: number;
  killedBeforeReady: number;
  /** Kills after a batch had begun and whose turn turned out to be written: the writes of a turn are not torn. */
  killedMidTurn: number;
  reusedIdentities: number;
  incarnations: number;
  /** Identities folded into the archive by compaction (with `compact`). */
  folded: number;
}

const BATCHES = [1, 7, 50, 400];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pick<T>(choices: readonly T[]): T {
  return choices[Math.floor(Math.random() * choices.length)]!;
}

export function fileTotals(dir: string, identity: string): Totals {
  const totals = {} as Totals;
  for (const { file, sample } of TRACKED) totals[file] = fileSeriesTotal(path.join(dir, `${file}_${identity}.db`), sample);
  return totals;
}

export class ChaosRun {
  /** What each identity's files must hold, by the writers' own account. */
  readonly ledger = new Map<string, Totals>();
  readonly problems: string[] = [];
  readonly figures: ChaosFigures = { kills: 0, killedBeforeReady: 0, killedMidTurn: 0, reusedIdentities: 0, incarnations: 0, folded: 0 };
  /** What compaction folded into the archive: out of the ledger, still in the merge. */
  private readonly archived: Totals = { counter: 0, histogram: 0, summary: 0 };
  /** Writers alive now, for a caller that must kill them on failure. */
  readonly live = new Set<Writer>();

  constructor(
    private readonly dir: string,
    private readonly finalEvents: number,
    /**
     * Fold dead writers' files into the archive, as a process manager with compaction would:
     * half of them, at random, so restarts under a folded identity and under a kept one both occur.
     */
    private readonly compact = false,
  ) {}

  /** The sums the merged scrape must show. */
  expected(): Totals {
    const expected: Totals = { ...this.archived };
    for (const totals of this.ledger.values()) for (const { file } of TRACKED) expected[file] += totals[file];
    return expected;
  }

  /** Kill rounds while `again()` says so, then one round that runs to its end. */
  async runSlot(slot: number, again: (round: number) => boolean): Promise<void> {
    for (let round = 0; ; round++) {
      const final = !again(round);
      await this.runRound(slot, round, final);
      if (final) return;
    }
  }

  private async killAtRandom(writer: Writer): Promise<boolean> {
    // A quarter of the kills land anywhere from spawn on (often during start-up, or while the
    // files are being created); the rest while it records.
    if (Math.random() < 0.25) {
      await Promise.race([sleep(Math.random() * 1500), writer.ended]);
    } else {
      await Promise.race([writer.ready, writer.ended]);
      await sleep(Math.random() * 300);
    }
    const wasReady = await Promise.race([writer.ready.then(() => true), sleep(0).then(() => false)]);
    writer.child.kill('SIGKILL');
    return wasReady;
  }

  private async runRound(slot: number, round: number, final: boolean): Promise<void> {
    const reuse = Math.random() < 0.5;
    const batch = pick(BATCHES);
    const writer = startWriter(this.dir, {
      events: final ? this.finalEvents : 1e12,
      batch,
      pauseMs: pick([0, 1, 2]),
      ...(reuse ? { identity: `slot${slot}` } : {}),
    });
    this.live.add(writer);
    this.figures.incarnations++;
    const wasReady = final ? true : await this.killAtRandom(writer);
    const ending = await writer.ended;
    this.live.delete(writer);
    const base = this.ledger.get(writer.identity) ?? { counter: 0, histogram: 0, summary: 0 };
    if (reuse && this.ledger.has(writer.identity)) this.figures.reusedIdentities++;
    const context = `slot ${slot} round ${round} (${writer.identity}, batch ${batch})`;
    if (final) {
      if (ending.code !== 0) this.problems.push(`${context}: exited with ${JSON.stringify(ending)}: ${writer.stderr()}`);
    } else {
      if (ending.signal !== 'SIGKILL') this.problems.push(`${context}: ended with ${JSON.stringify(ending)}: ${writer.stderr()}`);
      this.figures.kills++;
      if (!wasReady) this.figures.killedBeforeReady++;
    }
    // What a process manager does when a worker dies.
    markProcessDead(writer.identity, this.dir);
    const found = fileTotals(this.dir, writer.identity);
    for (const { file } of TRACKED) {
      const added = found[file] - base[file];
      // A kill between "started" and the end of that turn's write leaves the earlier total or the new one.
      if (added < writer.flushed) this.problems.push(`${context}: ${file} lost events: ${added} on disk, ${writer.flushed} reported written`);
      if (added > Math.max(writer.started, writer.flushed)) this.problems.push(`${context}: ${file} has ${added} events, more than the ${writer.started} recorded`);
    }
    if (!final && found.counter - base.counter === writer.started && writer.started > writer.flushed) this.figures.killedMidTurn++;
    this.ledger.set(writer.identity, found);
    if (this.compact && !final && Math.random() < 0.5) {
      // The slot runs one writer at a time, so this identity has no live writer now.
      const { folded } = await compactDirectory(this.dir, { dead: [writer.identity], detectDeadPids: false });
      if (folded.includes(writer.identity)) {
        for (const { file } of TRACKED) this.archived[file] += found[file];
        this.ledger.delete(writer.identity);
        this.figures.folded++;
        const left = fileTotals(this.dir, writer.identity);
        if (left.counter !== 0) this.problems.push(`${context}: files of ${writer.identity} left after it was folded`);
      }
    }
  }
}
