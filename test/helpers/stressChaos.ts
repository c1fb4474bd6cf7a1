// The kill-and-restart loop of test/chaos.test.ts and `tools/soak.ts --kill`. A slot runs
// writers one after another: each is killed with SIGKILL at a random moment (or, in the last
// round, runs to its end), restarted under the slot's identity half of the time (a worker
// slot: the new process continues from the file) and under its own pid otherwise.
//
// After each death the files are read directly and compared with what the writer had said on
// its synchronous stdout: every event of a turn it reported written is there (the durability
// point), none beyond the batch it had begun (nothing counted twice). The per-identity results
// make a ledger whose sum the merged scrape must equal exactly.
//
// With `refill`, a dead writer's files are folded while its slot is refilled under its
// identity, as a process manager that restarts a worker and compacts on its exit does: the
// compaction starts at a random moment of the successor's start-up (natural timing, no hook),
// so the successor opens its store before, during or after the fold. Whatever the order, the
// successor must continue from the files or start from nothing, exactly as the compaction's
// result says. With `stall`, now and then that compaction is done by a child compactor whose
// event loop blocks after it has read (helpers/stressStalledCompactor.ts), told also of the
// dead identities no writer uses, so that it surely holds one and writers of them refilled
// meanwhile race it, while the other slots go on writing and compacting.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { compactDirectory, markProcessDead, type CompactionResult } from '../../packages/prom-multiproc/src/index.js';
import { compiledHelper } from './stressBuild.js';
import { fileSeriesTotal, startWriter, wallClockMs, type Writer } from './stressRun.js';
import { UNIT } from './stressWorkload.js';

/** The counter-like series each event adds to (one, or half of one for units), and their files. */
// Each series is checked on its own: a SIGKILL in the middle of a write can leave one series of
// a file with the turn's value and the next without it (each value is its own write, as each of
// Python's is), so totals of different series need not agree, but each is exact.
export const TRACKED = [
  { key: 'counter', file: 'counter', sample: 'stress_events_total', merged: 'stress_events_total{', perEvent: 1 },
  { key: 'units', file: 'counter', sample: 'stress_units_total', merged: 'stress_units_total{', perEvent: UNIT },
  // Buckets are stored per bound, not cumulative: their sum is the number of observations.
  { key: 'histogram', file: 'histogram', sample: 'stress_latency_seconds_bucket', merged: 'stress_latency_seconds_count{', perEvent: 1 },
  { key: 'summary', file: 'summary', sample: 'stress_payload_bytes_count', merged: 'stress_payload_bytes_count{', perEvent: 1 },
] as const;

export type Totals = Record<(typeof TRACKED)[number]['key'], number>;

export interface ChaosFigures {
  kills: number;
  killedBeforeReady: number;
  /** Kills after a batch had begun and whose turn turned out to be written (its events in the counter file). */
  killedMidTurn: number;
  reusedIdentities: number;
  incarnations: number;
  /** Identities folded into the archive by compaction (with `compact`). */
  folded: number;
  /** Per-file totals compared with the writers' own account (three per death), and how many were wrong (each also in `problems`). */
  totalsChecked: number;
  wrongTotals: number;
  /** Successors started under an identity while a compaction of it ran, up to their store's opening (with `refill`). */
  refills: number;
  /** ... of which opened their store (took the identity's lock) while that compaction ran. */
  refillsRacedOpen: number;
  /** ... of which started from nothing, the old files being folded; the others continued from them. */
  refillsAfterFold: number;
  /** Compactions that threw (each also in `problems`). */
  compactionErrors: number;
  /** Compactions done by a compactor that stalled after reading (with `stall`), and how each ended. */
  stalls: number;
  stallsInterrupted: number;
  stallsFolded: number;
  /** Refills (as above) of an identity a stalled compactor was folding. */
  stallsRefilled: number;
}

/** A compaction now and then done by a child whose event loop blocks for `stallMs` after reading. */
export interface StallPlan {
  stallMs: number;
  firstAfterMs: number;
  /** From the end of one stall to the next. */
  everyMs: number;
  max: number;
}

export interface ChaosOptions {
  /**
   * Fold dead writers' files into the archive, as a process manager with compaction would:
   * half of them (three quarters with `refill`), at random, so restarts under a folded
   * identity and under a kept one both occur.
   */
  compact?: boolean;
  /** Fold while the slot is refilled under the dead writer's identity (see above). */
  refill?: boolean;
  stall?: StallPlan;
}

/** A dead writer's files, to be folded. */
interface Fold {
  identity: string;
  /** What its files held after its death: moved from the ledger to the archive if folded. */
  left: Totals;
  context: string;
}

/** The compaction of one identity (a stalled compactor folds several: its `group`). */
interface Compaction extends Fold {
  /** Wall-clock ms (wallClockMs); startedAt is Infinity until it starts. */
  startedAt: number;
  endedAt: number;
  stalled: boolean;
  outcome: Promise<CompactionResult | undefined>;
  settled: boolean;
  /** The other identities of the same compaction, settled with it. */
  group: Compaction[];
}

const BATCHES = [1, 7, 50, 400];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const zero = (): Totals => ({ counter: 0, units: 0, histogram: 0, summary: 0 });

function pick<T>(choices: readonly T[]): T {
  return choices[Math.floor(Math.random() * choices.length)]!;
}

export function fileTotals(dir: string, identity: string): Totals {
  const totals = {} as Totals;
  for (const { key, file, sample } of TRACKED) totals[key] = fileSeriesTotal(path.join(dir, `${file}_${identity}.db`), sample);
  return totals;
}

export class ChaosRun {
  /** What each identity's files must hold, by the writers' own account. */
  readonly ledger = new Map<string, Totals>();
  readonly problems: string[] = [];
  readonly figures: ChaosFigures = {
    kills: 0, killedBeforeReady: 0, killedMidTurn: 0, reusedIdentities: 0, incarnations: 0, folded: 0, totalsChecked: 0, wrongTotals: 0,
    refills: 0, refillsRacedOpen: 0, refillsAfterFold: 0, compactionErrors: 0, stalls: 0, stallsInterrupted: 0, stallsFolded: 0, stallsRefilled: 0,
  };
  /** What compaction folded into the archive: out of the ledger, still in the merge. */
  private readonly archived: Totals = zero();
  /** Writers alive now, for a caller that must kill them on failure. */
  readonly live = new Set<Writer>();
  /** Stalled compactors alive now, likewise. */
  readonly compactors = new Set<{ kill(signal: NodeJS.Signals): boolean }>();
  /** Compactions not yet accounted for, by identity: a writer of it is judged only after. */
  private readonly compactions = new Map<string, Compaction>();
  /** Identities with a live writer, or a dead one not yet accounted for: no stalled compactor is told they are dead. */
  private readonly inUse = new Map<string, number>();
  /** A successor's start-up until its store opens, ms (a running mean): compactions start at random within about that. */
  private startUpMs = 150;
  private stalling = false;
  private nextStallAt: number;

  constructor(
    private readonly dir: string,
    private readonly finalEvents: number,
    private readonly options: ChaosOptions = {},
  ) {
    this.nextStallAt = Date.now() + (options.stall?.firstAfterMs ?? 0);
  }

  /** The sums the merged scrape must show. */
  expected(): Totals {
    const expected: Totals = { ...this.archived };
    for (const totals of this.ledger.values()) for (const { key } of TRACKED) expected[key] += totals[key];
    return expected;
  }

  killAll(): void {
    for (const writer of this.live) writer.child.kill('SIGKILL');
    for (const compactor of this.compactors) compactor.kill('SIGKILL');
  }

  /** Kill rounds while `again()` says so, then one round that runs to its end. */
  async runSlot(slot: number, again: (round: number) => boolean): Promise<void> {
    let handover: Fold | undefined;
    for (let round = 0; ; round++) {
      const final = !again(round);
      handover = await this.runRound(slot, round, final, handover);
      if (final) return;
    }
  }

  /**
   * `notBefore`: a compaction of the writer's identity. A successor that died before the
   * compaction held its identity would have its own writes folded too, and no one could say
   * how many (the compaction may delete its files before they are read), so it lives until then.
   */
  private async killAtRandom(writer: Writer, notBefore?: Promise<unknown>): Promise<boolean> {
    // A quarter of the kills land anywhere from spawn on (often during start-up, or while the
    // files are being created); the rest while it records.
    if (Math.random() < 0.25) {
      await Promise.race([sleep(Math.random() * 1500), writer.ended]);
    } else {
      await Promise.race([writer.ready, writer.ended]);
      await sleep(Math.random() * 300);
    }
    if (notBefore !== undefined) await Promise.race([notBefore, writer.ended]);
    const wasReady = await Promise.race([writer.ready.then(() => true), sleep(0).then(() => false)]);
    writer.child.kill('SIGKILL');
    return wasReady;
  }

  /** One writer's life and death; returns the dead writer's files when they are to be folded while the slot is refilled. */
  private async runRound(slot: number, round: number, final: boolean, fold: Fold | undefined): Promise<Fold | undefined> {
    // A slot refilled while its dead writer is folded takes that writer's identity; with
    // `refill` the slot's identity is taken more often, so that more deaths make a trial.
    const reuse = fold?.identity === `slot${slot}` || Math.random() < (this.options.refill ? 0.75 : 0.5);
    if (final) {
      // The last writer runs to its end, maybe before a compaction holds its identity (see killAtRandom).
      if (fold !== undefined) await this.settle(this.startCompaction(fold, 0));
      fold = undefined;
      if (reuse) await this.settleCompactionOf(`slot${slot}`);
    }
    const batch = pick(BATCHES);
    const writer = startWriter(this.dir, {
      events: final ? this.finalEvents : 1e12,
      batch,
      pauseMs: pick([0, 1, 2]),
      ...(reuse ? { identity: `slot${slot}` } : {}),
    });
    this.live.add(writer);
    this.use(writer.identity, +1);
    this.figures.incarnations++;
    // Mostly before the successor opens its store, some of it while or after it does.
    const handedOver = fold === undefined ? undefined : this.startCompaction(fold, Math.random() * 1.25 * this.startUpMs);
    // The handed-over one, or a stalled compactor's (or, rarely, another slot's, for a recycled pid).
    const racing = this.compactions.get(writer.identity);
    const wasReady = final ? true : await this.killAtRandom(writer, racing?.outcome);
    const ending = await writer.ended;
    this.live.delete(writer);
    this.noteStartUp(writer);
    if (handedOver !== undefined) await this.settle(handedOver);
    if (racing !== undefined) this.countRefill(writer, racing, await this.settle(racing));
    await this.settleCompactionOf(writer.identity);
    const base = this.ledger.get(writer.identity) ?? zero();
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
    for (const { key, perEvent } of TRACKED) {
      const added = (found[key] - base[key]) / perEvent;
      this.figures.totalsChecked++;
      // A kill between "started" and the end of that turn's write leaves the earlier total or the new one.
      const wrong = added < writer.flushed
        ? `lost events: ${added} on disk, ${writer.flushed} reported written`
        : added > Math.max(writer.started, writer.flushed) ? `has ${added} events, more than the ${writer.started} recorded` : undefined;
      if (wrong === undefined) continue;
      this.figures.wrongTotals++;
      this.problems.push(`${context}: ${key} ${wrong}`);
    }
    if (!final && found.counter - base.counter === writer.started && writer.started > writer.flushed) this.figures.killedMidTurn++;
    this.ledger.set(writer.identity, found);
    this.use(writer.identity, -1);
    if (!this.options.compact || final || Math.random() >= (this.options.refill ? 0.75 : 0.5)) return undefined;
    const dead: Fold = { identity: writer.identity, left: found, context };
    if (this.options.refill) return dead;
    // Folded before the next writer starts: this identity has no live writer now.
    await this.settle(this.startCompaction(dead, 0));
    if (fileTotals(this.dir, writer.identity).counter !== 0 && !this.ledger.has(writer.identity)) {
      this.problems.push(`${context}: files of ${writer.identity} left after it was folded`);
    }
    return undefined;
  }

  private use(identity: string, change: number): void {
    const count = (this.inUse.get(identity) ?? 0) + change;
    if (count === 0) this.inUse.delete(identity);
    else this.inUse.set(identity, count);
  }

  private noteStartUp(writer: Writer): void {
    if (writer.openingAt === undefined) return;
    this.startUpMs = 0.9 * this.startUpMs + 0.1 * (writer.openingAt - writer.spawnedAt);
  }

  /** Starts folding `fold.identity` after `delayMs`, here or (when a stall is due) in a stalling child. */
  private startCompaction(fold: Fold, delayMs: number): Compaction {
    const compaction = this.track(fold);
    compaction.outcome = sleep(delayMs).then(async () => {
      compaction.startedAt = wallClockMs();
      try {
        if (this.stallDue()) return await this.compactStalled(compaction);
        return await compactDirectory(this.dir, { dead: [fold.identity], detectDeadPids: false });
      } catch (error) {
        // Counted as folding nothing: if it had folded, the totals checked later show it.
        this.figures.compactionErrors++;
        this.problems.push(`${fold.context}: the compaction of ${fold.identity} threw ${(error as Error).stack ?? String(error)}`);
        return undefined;
      } finally {
        compaction.endedAt = wallClockMs();
      }
    });
    return compaction;
  }

  private track(fold: Fold): Compaction {
    const compaction: Compaction = {
      ...fold, startedAt: Infinity, endedAt: Infinity, stalled: false, outcome: undefined as never, settled: false, group: [],
    };
    this.compactions.set(fold.identity, compaction);
    return compaction;
  }

  /** Dead identities no writer uses now and no compaction is folding: a stalled compactor is told of them too, so it surely holds one. */
  private idleFolds(): Fold[] {
    return [...this.ledger]
      .filter(([identity]) => !this.inUse.has(identity) && !this.compactions.has(identity))
      .map(([identity, left]) => ({ identity, left: { ...left }, context: `idle ${identity}` }));
  }

  /** Once its compaction has ended: what it folded moves from the ledger to the archive. */
  private async settle(compaction: Compaction): Promise<CompactionResult | undefined> {
    const result = await compaction.outcome;
    if (compaction.settled) return result;
    compaction.settled = true;
    if (this.compactions.get(compaction.identity) === compaction) this.compactions.delete(compaction.identity);
    if (result?.folded.includes(compaction.identity)) {
      for (const { key } of TRACKED) this.archived[key] += compaction.left[key];
      this.ledger.delete(compaction.identity);
      this.figures.folded++;
    }
    for (const member of compaction.group) await this.settle(member);
    return result;
  }

  /** A writer reusing an identity (a slot's, or a recycled pid) that another slot's compaction is folding is judged after it. */
  private async settleCompactionOf(identity: string): Promise<void> {
    const pending = this.compactions.get(identity);
    if (pending !== undefined) await this.settle(pending);
  }

  /** A successor of the folded identity counts as a trial if its start-up, up to its store's opening, overlapped the compaction. */
  private countRefill(writer: Writer, compaction: Compaction, result: CompactionResult | undefined): void {
    if (writer.readyAt === undefined || writer.openingAt === undefined) return; // killed before it took the identity
    if (writer.spawnedAt >= compaction.endedAt || compaction.startedAt >= writer.readyAt) return;
    this.figures.refills++;
    if (writer.openingAt < compaction.endedAt) this.figures.refillsRacedOpen++;
    if (result?.folded.includes(compaction.identity)) this.figures.refillsAfterFold++;
    if (compaction.stalled) this.figures.stallsRefilled++;
  }

  private stallDue(): boolean {
    const plan = this.options.stall;
    if (plan === undefined || this.stalling || this.figures.stalls >= plan.max || Date.now() < this.nextStallAt) return false;
    this.stalling = true;
    return true;
  }

  /**
   * Folds in a child compactor that blocks after reading, while the other compactions and
   * writers go on. It must exit 0, having given up (`interrupted`) or with its fold intact
   * (which the ledger checks). A successor that took its identity first leaves it nothing to
   * hold, so nothing to stall at: the stall is then tried again at the next compaction.
   */
  private async compactStalled(compaction: Compaction): Promise<CompactionResult | undefined> {
    const stallMs = this.options.stall!.stallMs;
    // Writers of these identities that start from now on race the stalled compactor, as the successor does.
    const others = this.idleFolds().map((fold) => this.track(fold));
    const identities = [compaction.identity, ...others.map((other) => other.identity)];
    const child = spawn(process.execPath, [compiledHelper('stressStalledCompactor'), this.dir, String(stallMs), ...identities], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const outcome = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (...ending) => resolve(ending)));
    for (const other of others) {
      other.startedAt = compaction.startedAt;
      other.outcome = outcome.then(() => compaction.outcome);
      compaction.group.push(other);
    }
    this.compactors.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code, signal] = await outcome;
    this.compactors.delete(child);
    this.stalling = false;
    for (const other of others) other.endedAt = wallClockMs();
    const stalled = stdout.startsWith('stalled\n');
    if (stalled) {
      for (const member of [compaction, ...others]) member.stalled = true;
      this.figures.stalls++;
      this.nextStallAt = Date.now() + this.options.stall!.everyMs;
    }
    const context = `${compaction.context}: the compactor stalled for ${stallMs} ms`;
    if (code !== 0) {
      this.problems.push(`${context} ended with ${JSON.stringify({ code, signal })}: ${stderr}`);
      return undefined;
    }
    const result = JSON.parse(stdout.slice(stdout.indexOf('{'))) as CompactionResult;
    if (stalled && result.interrupted !== undefined) this.figures.stallsInterrupted++;
    else if (stalled && result.folded.length > 0) this.figures.stallsFolded++;
    return result;
  }
}
