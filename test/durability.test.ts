// The durability point, tested with real processes: a value is written to the process's file
// at the end of the event-loop turn that recorded it (one setImmediate per turn) and, for the
// turn in progress, on process 'exit'. From the end of its turn on, a value survives SIGKILL;
// a normal exit, process.exit() and an uncaught exception or rejection also write the turn in
// progress. Only a process killed by a signal in the middle of a turn loses that turn.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory, type MetricFamily } from '../packages/prom-multiproc/src/index.js';
import {
  PENDING_IN_BLOCKED_TURN, ROUNDS, type ChildMessage, type Scenario,
} from './helpers/durabilityProtocol.js';
import { identityOfLockFile } from '../packages/prom-multiproc/src/directory/identityLock.js';

/** The directory's entries without identity locks (a SIGKILLed or still running writer leaves its `.lock-<id>`). */
function metricsFilesIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => identityOfLockFile(name) === undefined).sort();
}

const CHILD = fileURLToPath(new URL('./helpers/durabilityChild.ts', import.meta.url));
// Generous: starting a tsx child takes 0.5 s on an idle machine and several seconds on a busy
// one. They only stop a hung child from hanging the suite.
const MESSAGE_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 20_000;

interface Ending {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Run {
  child: ChildProcess;
  /** Resolves when the child has exited and its stderr is read to the end. */
  ended: Promise<Ending>;
  stderr(): string;
}

const running = new Set<ChildProcess>();
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-durability-'));
  dirs.push(dir);
  return dir;
}

function start(dir: string, scenario: Scenario, options: { count?: number; identity?: string } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, PROM_MULTIPROC_DIR: dir };
  delete env.PROMETHEUS_MULTIPROC_DIR;
  delete env.DURABILITY_IDENTITY;
  if (options.identity !== undefined) env.DURABILITY_IDENTITY = options.identity;
  const child = fork(CHILD, [scenario, String(options.count ?? 100)], {
    execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'exit', not 'close': tsx's esbuild service inherits the child's stderr and may hold the
  // pipe open for a while after the child died. Its stderr then gets a moment to drain.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ended = new Promise<Ending>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      const drained = new Promise<void>((done) => setTimeout(done, 2000).unref());
      void Promise.race([closed, drained]).then(() => resolve({ code, signal }));
    });
  });
  return { child, ended, stderr: () => stderr };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function nextMessage<T extends ChildMessage['type']>(run: Run, type: T): Promise<Extract<ChildMessage, { type: T }>> {
  const message = new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
    const onMessage = (received: ChildMessage): void => {
      if (received.type !== type) return;
      run.child.off('message', onMessage);
      resolve(received as Extract<ChildMessage, { type: T }>);
    };
    run.child.on('message', onMessage);
    void run.ended.then((ending) => reject(new Error(`the child ended (${JSON.stringify(ending)}) before sending ${type}:\n${run.stderr()}`)));
  });
  return withTimeout(message, MESSAGE_TIMEOUT_MS, `a ${type} message from the child`);
}

function ending(run: Run): Promise<Ending> {
  return withTimeout(run.ended, EXIT_TIMEOUT_MS, 'the end of the child');
}

/** What the files hold, read the way a scrape reads them. */
interface Recorded {
  events: number;
  observations: number;
  /** Observations in the le="0.5" bucket: the ones exactly on that bound. */
  onFirstBound: number;
  observedSum: number;
  level: number;
}

function sampleValue(families: MetricFamily[], family: string, sample: string, labels: Record<string, string> = {}): number {
  const found = families
    .find((candidate) => candidate.name === family)
    ?.samples.find((candidate) => candidate.name === sample && JSON.stringify(candidate.labels) === JSON.stringify(labels));
  assert.ok(found, `no sample ${sample}${JSON.stringify(labels)} in the files`);
  return found.value;
}

async function readRecorded(dir: string, identity: string | number): Promise<Recorded> {
  const { families, skipped } = await collectDirectory(dir);
  assert.deepEqual(skipped, []);
  const levels = families.find((family) => family.name === 'durability_level')?.samples;
  assert.deepEqual(levels?.map((sample) => sample.labels), [{ pid: String(identity) }], 'one durability_level series, of this process');
  return {
    events: sampleValue(families, 'durability_events', 'durability_events_total'),
    observations: sampleValue(families, 'durability_latency_seconds', 'durability_latency_seconds_count'),
    onFirstBound: sampleValue(families, 'durability_latency_seconds', 'durability_latency_seconds_bucket', { le: '0.5' }),
    observedSum: sampleValue(families, 'durability_latency_seconds', 'durability_latency_seconds_sum'),
    level: sampleValue(families, 'durability_level', 'durability_level', { pid: String(identity) }),
  };
}

/** What processes that recorded these many events each (observations alternate 0.5, 0.75) leave behind. */
function expectedAfter(...eventsPerProcess: number[]): Recorded {
  const expected: Recorded = { events: 0, observations: 0, onFirstBound: 0, observedSum: 0, level: 0 };
  for (const events of eventsPerProcess) {
    const onBound = Math.ceil(events / 2);
    expected.events += events;
    expected.observations += events;
    expected.onFirstBound += onBound;
    expected.observedSum += 0.5 * onBound + 0.75 * (events - onBound);
    expected.level += events;
  }
  return expected;
}

function filesOf(identity: string | number): string[] {
  return [`counter_${identity}.db`, `gauge_all_${identity}.db`, `histogram_${identity}.db`];
}

after(() => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('a recorded value survives SIGKILL once its event-loop turn has ended', { concurrency: true, timeout: 120_000 }, () => {
  it('keeps all of one turn, reported after that turn', async () => {
    const dir = tempDir();
    const run = start(dir, 'stay-alive', { count: 1000 });
    assert.equal((await nextMessage(run, 'flushed')).total, 1000);
    run.child.kill('SIGKILL');
    assert.equal((await ending(run)).signal, 'SIGKILL');
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(1000));
    assert.deepEqual(metricsFilesIn(dir), filesOf(run.child.pid!));
  });

  it('keeps every round reported before a kill at a random point, and no partial round', async () => {
    // Round r records r + 1 events in one turn, so the files can only hold these totals.
    const roundTotals = new Set([0, ...Array.from({ length: ROUNDS }, (_, r) => ((r + 1) * (r + 2)) / 2)]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const killAfterReport = 2 + Math.floor(Math.random() * 12);
      const delayMs = Math.floor(Math.random() * 4);
      const context = `killed ${delayMs} ms after report ${killAfterReport}`;
      const dir = tempDir();
      const run = start(dir, 'rounds');
      let reports = 0;
      let lastReported = 0;
      const killed = new Promise<number>((resolve) => {
        run.child.on('message', (message: ChildMessage) => {
          if (message.type !== 'flushed') return;
          lastReported = message.total;
          if (++reports !== killAfterReport) return;
          setTimeout(() => {
            const reportedAtKill = lastReported;
            run.child.kill('SIGKILL');
            resolve(reportedAtKill);
          }, delayMs);
        });
      });
      const reportedAtKill = await withTimeout(killed, MESSAGE_TIMEOUT_MS, `report ${killAfterReport} from the child`);
      assert.equal((await ending(run)).signal, 'SIGKILL');
      const recorded = await readRecorded(dir, run.child.pid!);
      for (const [what, value] of [['events', recorded.events], ['observations', recorded.observations], ['level', recorded.level]] as const) {
        assert.ok(value >= reportedAtKill, `${context}: ${what} ${value} < ${reportedAtKill} reported before the kill`);
        assert.ok(roundTotals.has(value), `${context}: ${what} ${value} is not the total after a whole round`);
      }
    }
  });

  it('loses the values of a turn that never ended: SIGKILL', async () => {
    const dir = tempDir();
    const run = start(dir, 'block-turn', { count: 5 });
    const blocking = await nextMessage(run, 'blocking');
    assert.deepEqual(blocking, { type: 'blocking', flushed: 5, pending: PENDING_IN_BLOCKED_TURN });
    run.child.kill('SIGKILL');
    assert.equal((await ending(run)).signal, 'SIGKILL');
    // The durability point exactly: the earlier turn is there, the unfinished one is not.
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(5));
  });

  it('SIGTERM without a handler is the same as SIGKILL: earlier turns survive, the current one is lost', async () => {
    // Node installs no SIGTERM handler, so the default action ends the process on the spot:
    // no 'exit' event, no last write. Values from turns that ended are already in the file.
    // (A process that handles SIGTERM and then exits gets its last turn written on 'exit'.)
    const dir = tempDir();
    const run = start(dir, 'block-turn', { count: 5 });
    await nextMessage(run, 'blocking');
    run.child.kill('SIGTERM');
    assert.deepEqual(await ending(run), { code: null, signal: 'SIGTERM' });
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(5));
  });

  it('a restarted process with the same identity continues from the values in its file', async () => {
    const dir = tempDir();
    const identity = 'worker-7';
    const first = start(dir, 'stay-alive', { count: 40, identity });
    await nextMessage(first, 'flushed');
    first.child.kill('SIGKILL');
    await ending(first);
    const second = start(dir, 'drain', { count: 25, identity });
    assert.deepEqual(await ending(second), { code: 0, signal: null });
    assert.deepEqual(await readRecorded(dir, identity), expectedAfter(40, 25));
    assert.deepEqual(metricsFilesIn(dir), filesOf(identity));
  });
});

describe('values recorded in the last turn are written however the process ends', { concurrency: true, timeout: 120_000 }, () => {
  const endings: { scenario: Scenario; how: string; exit: Ending; stderr?: string }[] = [
    { scenario: 'drain', how: 'the event loop drains', exit: { code: 0, signal: null } },
    { scenario: 'process-exit', how: 'process.exit(3) is called in the recording turn', exit: { code: 3, signal: null } },
    { scenario: 'throw', how: 'an exception is thrown in the recording turn', exit: { code: 1, signal: null }, stderr: 'uncaught right after recording' },
    { scenario: 'reject', how: 'a rejection goes unhandled in the recording turn', exit: { code: 1, signal: null }, stderr: 'unhandled right after recording' },
  ];
  for (const { scenario, how, exit, stderr } of endings) {
    it(`when ${how}`, async () => {
      const dir = tempDir();
      const run = start(dir, scenario, { count: 321 });
      assert.deepEqual(await ending(run), exit, run.stderr());
      if (stderr !== undefined) assert.match(run.stderr(), new RegExp(stderr));
      assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(321));
      assert.deepEqual(metricsFilesIn(dir), filesOf(run.child.pid!));
    });
  }
});
