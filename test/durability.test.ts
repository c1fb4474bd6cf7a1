// The durability point, tested with real processes: a value is written to the process's file
// at most WRITE_INTERVAL_MS after it was recorded (at the end of its event-loop turn when the
// process wrote nothing in that interval before), and from then on survives SIGKILL. A normal
// exit, process.exit(), an uncaught exception or rejection, and SIGTERM/SIGINT write what is
// pending; only a process killed by SIGKILL (or one whose turn never ends) loses the rest.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory, type MetricFamily } from '../packages/prom-multiproc/src/index.js';
import {
  PENDING_IN_BLOCKED_TURN, RECORDED_WHILE_ENDING, ROUNDS, STEADY_LOG_VARIABLE, type ChildMessage, type Scenario,
} from './helpers/durabilityProtocol.js';
import { WRITE_INTERVAL_MS } from '../packages/prom-multiproc/src/storage/fileStore.js';
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

function start(dir: string, scenario: Scenario, options: { count?: number; identity?: string; steadyLog?: string } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, PROM_MULTIPROC_DIR: dir };
  if (options.steadyLog !== undefined) env[STEADY_LOG_VARIABLE] = options.steadyLog;
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

async function waitForLogLines(log: string, lines: number): Promise<void> {
  const deadline = Date.now() + MESSAGE_TIMEOUT_MS;
  for (;;) {
    let count = 0;
    try {
      for (const char of readFileSync(log, 'utf8')) if (char === '\n') count++;
    } catch {
      // not created yet
    }
    if (count >= lines) return;
    if (Date.now() > deadline) throw new Error(`the steady child logged ${count} of ${lines} events in ${MESSAGE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A 'steady' child (one event per turn, logged), sent `signal` at a random moment of its first `withinMs` after 200 events. */
async function steadyRunSignalled(signal: NodeJS.Signals, withinMs: number): Promise<{ dir: string; log: string; run: Run }> {
  const dir = tempDir();
  const log = path.join(dir, 'steady.log');
  const run = start(dir, 'steady', { count: 10_000_000, steadyLog: log });
  await waitForLogLines(log, 200);
  await new Promise((resolve) => setTimeout(resolve, Math.random() * withinMs));
  run.child.kill(signal);
  return { dir, log, run };
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

describe(`a recorded value survives SIGKILL at most ${WRITE_INTERVAL_MS} ms after it was recorded`, { concurrency: true, timeout: 120_000 }, () => {
  it('keeps all of one turn, reported once it was written', async () => {
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

  it('keeps, at a SIGKILL at a random moment, every event recorded more than the interval before, and invents none', async () => {
    // Natural timing: one event per turn, as fast as the loop turns, killed whenever the timer
    // says. The child's own log says what it had recorded and when. Its last line was written
    // after that turn's timers ran, and those ran at a loop time no earlier than the line
    // before, so every event logged WRITE_INTERVAL_MS (+1 ms of clock rounding) before that
    // line must be in the files: a bound in the child's own time, whatever the machine's load.
    for (let trial = 0; trial < 6; trial++) {
      const { dir, log, run } = await steadyRunSignalled('SIGKILL', 300);
      assert.equal((await ending(run)).signal, 'SIGKILL');
      // A line cut short by the kill is dropped.
      const logged = readFileSync(log, 'utf8').split('\n').map((line) => line.split(' ').map(Number) as [number, number])
        .filter(([total, at]) => Number.isInteger(total) && total > 0 && at > 1e12);
      const [lastTotal] = logged.at(-1)!;
      const [, beforeLastAt] = logged.at(-2)!;
      const mustHave = logged.filter(([, at]) => at <= beforeLastAt - WRITE_INTERVAL_MS - 1).at(-1)?.[0] ?? 0;
      const recorded = await readRecorded(dir, run.child.pid!);
      const context = `trial ${trial}: ${logged.length} events logged, the last ${lastTotal}, ${mustHave} of them over ${WRITE_INTERVAL_MS} ms before`;
      assert.ok(mustHave > 0, `${context}: the trial proved nothing`);
      // Each file on its own: a kill may fall between the writes of two files.
      for (const [what, value] of [['events', recorded.events], ['observations', recorded.observations], ['level', recorded.level]] as const) {
        assert.ok(value >= mustHave, `${context}; the files hold ${what} ${value}, fewer`);
        assert.ok(value <= lastTotal, `${context}; the files hold ${what} ${value}, more than were recorded`);
      }
    }
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

describe('a terminating signal writes what is pending, and ends the process as it would have ended', { concurrency: true, timeout: 120_000 }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} without a handler of the application's: everything written, ended by ${signal}`, async () => {
      // The signal arrives while a turn is busy with unwritten events; it is handled when the
      // turn ends, writes them, then ends the process by the same signal (same exit status).
      const dir = tempDir();
      const run = start(dir, 'busy-then-idle', { count: 5 });
      const blocking = await nextMessage(run, 'blocking');
      run.child.kill(signal);
      assert.deepEqual(await ending(run), { code: null, signal });
      assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(blocking.flushed + blocking.pending));
    });
  }

  it('SIGTERM to an application with its own handler: written, and the application keeps running', async () => {
    const dir = tempDir();
    const run = start(dir, 'handles-sigterm', { count: 12 });
    await nextMessage(run, 'flushed');
    run.child.kill('SIGTERM');
    assert.equal((await nextMessage(run, 'still-running')).total, 12);
    run.child.kill('SIGKILL');
    assert.equal((await ending(run)).signal, 'SIGKILL');
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(12));
  });

  it('SIGTERM to an application whose own once-listener shuts down gracefully: its shutdown runs to the end', async () => {
    const dir = tempDir();
    const run = start(dir, 'graceful-once', { count: 9 });
    await nextMessage(run, 'flushed');
    const done = nextMessage(run, 'graceful');
    run.child.kill('SIGTERM');
    assert.equal((await done).phase, 'started');
    assert.equal((await nextMessage(run, 'graceful')).phase, 'done');
    assert.deepEqual(await ending(run), { code: 0, signal: null });
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(9));
  });

  it('SIGTERM to an application whose handler records and raises the signal again at once: what it recorded is written', async () => {
    const dir = tempDir();
    const run = start(dir, 'reraise-in-handler', { count: 6 });
    await nextMessage(run, 'flushed');
    run.child.kill('SIGTERM');
    assert.deepEqual(await ending(run), { code: null, signal: 'SIGTERM' });
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(6 + RECORDED_WHILE_ENDING));
  });

  it('SIGTERM after compaction loaded its lock library (which listens to signals too): the process still ends by it', async () => {
    const dir = tempDir();
    const run = start(dir, 'after-compaction', { count: 4 });
    await nextMessage(run, 'flushed');
    run.child.kill('SIGTERM');
    assert.deepEqual(await ending(run), { code: null, signal: 'SIGTERM' });
  });

  it('a wall clock stepped back does not hold writes back', async () => {
    const dir = tempDir();
    const run = start(dir, 'clock-step', { count: 30 });
    assert.equal((await nextMessage(run, 'flushed')).total, 30);
    run.child.kill('SIGKILL');
    await ending(run);
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(30));
  });

  it('SIGTERM at a random moment of steady recording: the files hold exactly what was recorded', async () => {
    // A signal is handled between turns, so the child's log is whole and its last total exact.
    for (let trial = 0; trial < 4; trial++) {
      const { dir, log, run } = await steadyRunSignalled('SIGTERM', 200);
      assert.deepEqual(await ending(run), { code: null, signal: 'SIGTERM' });
      const lastTotal = Number(readFileSync(log, 'utf8').trimEnd().split('\n').at(-1)!.split(' ')[0]);
      assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(lastTotal), `trial ${trial}`);
    }
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

  it('when an exit listener registered after the first metric records more', async () => {
    const dir = tempDir();
    const run = start(dir, 'late-exit-listener', { count: 321 });
    assert.deepEqual(await ending(run), { code: 0, signal: null }, run.stderr());
    assert.deepEqual(await readRecorded(dir, run.child.pid!), expectedAfter(321 + RECORDED_WHILE_ENDING));
  });
});
