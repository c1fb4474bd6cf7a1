// A worker for test/durability.test.ts: records metrics into PROM_MULTIPROC_DIR through the
// default store, tells the parent over IPC what is on disk by now, and then ends the way the
// scenario says. DURABILITY_IDENTITY, when set, is the process identity (configure()).
// Usage (forked with an IPC channel): node --import tsx durabilityChild.ts <scenario> [count]
import { closeSync, openSync, writeSync } from 'node:fs';
import { Counter, Gauge, Histogram, compactDirectory, configure } from '../../packages/prom-multiproc/src/index.js';
import { afterWritten } from './afterWritten.js';
import {
  BUCKETS, PENDING_IN_BLOCKED_TURN, RECORDED_WHILE_ENDING, ROUNDS, SCENARIOS, STEADY_LOG_VARIABLE, type ChildMessage, type Scenario,
} from './durabilityProtocol.js';

const [scenario, countText = '100'] = process.argv.slice(2);
// Registered before any metric exists, as a service's shutdown code usually is: a once-listener
// removes itself before later listeners run.
if (scenario === 'graceful-once') {
  process.once('SIGTERM', () => {
    send({ type: 'graceful', phase: 'started' });
    setTimeout(() => {
      send({ type: 'graceful', phase: 'done' });
      process.exit(0);
    }, 200);
  });
}
if (scenario === 'reraise-in-handler') {
  // What signal-exit and many shutdown hooks do: record, then end the process by the same signal
  // in the same synchronous run, with no listener left to catch it.
  process.once('SIGTERM', () => {
    record(RECORDED_WHILE_ENDING);
    process.kill(process.pid, 'SIGTERM');
  });
}
const count = Number(countText);
if (process.env.DURABILITY_IDENTITY !== undefined) configure({ identity: process.env.DURABILITY_IDENTITY });

const events = new Counter({ name: 'durability_events_total', help: 'Events recorded.' });
const latency = new Histogram({ name: 'durability_latency_seconds', help: 'One observation per event.', buckets: BUCKETS });
// Mode all: a restarted process's series is the same series, so only continuing from the value
// in the file (not a second entry for the same key) gives the total.
const level = new Gauge({ name: 'durability_level', help: 'Raised once per event.', multiprocessMode: 'all' });

let total = 0;

/** `n` events: the counter, the histogram's count and the gauge all go up by n; observations alternate. */
function record(n: number): void {
  for (let i = 0; i < n; i++) {
    events.inc();
    latency.observe((total + i) % 2 === 0 ? 0.5 : 0.75);
    level.inc();
  }
  total += n;
}

function send(message: ChildMessage): void {
  process.send!(message);
}

function busyFor(ms: number): void {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline);
}

function stayAlive(): void {
  // Until the parent kills the process (or gives up on it and kills it anyway).
  setInterval(() => {}, 1000);
}

function recordRound(round: number): void {
  record(round + 1);
  afterWritten(() => {
    send({ type: 'flushed', total });
    if (round + 1 < ROUNDS) setTimeout(() => recordRound(round + 1), 1);
  });
}

switch (scenario as Scenario) {
  case 'stay-alive':
  // These two have their SIGTERM listener, registered above before any metric.
  case 'graceful-once':
  case 'reraise-in-handler':
    record(count);
    afterWritten(() => send({ type: 'flushed', total }));
    stayAlive();
    break;
  case 'rounds':
    recordRound(0);
    stayAlive();
    break;
  case 'block-turn':
    record(count);
    afterWritten(() => {
      const flushed = total;
      record(PENDING_IN_BLOCKED_TURN);
      send({ type: 'blocking', flushed, pending: PENDING_IN_BLOCKED_TURN });
      // This turn never ends, so its values are never written; the parent sends SIGKILL.
      busyFor(30_000);
      process.exit(99);
    });
    break;
  case 'busy-then-idle':
    // The parent signals while the turn is busy: the signal is handled once it ends.
    record(count);
    afterWritten(() => {
      const flushed = total;
      record(PENDING_IN_BLOCKED_TURN);
      send({ type: 'blocking', flushed, pending: PENDING_IN_BLOCKED_TURN });
      busyFor(1500);
    });
    stayAlive();
    break;
  case 'handles-sigterm':
    // The application's own SIGTERM handler keeps the process running: the library must not end it.
    process.on('SIGTERM', () => setTimeout(() => send({ type: 'still-running', total }), 300));
    record(count);
    afterWritten(() => send({ type: 'flushed', total }));
    stayAlive();
    break;
  case 'late-exit-listener':
    // Registered after the first metric, so it runs after the library's own 'exit' listener.
    record(count);
    process.on('exit', () => record(RECORDED_WHILE_ENDING));
    break;
  case 'after-compaction':
    // Compaction loads a lock library that listens to signals itself (signal-exit): both must
    // still let SIGTERM end the process.
    record(count);
    void compactDirectory(process.env.PROM_MULTIPROC_DIR!).then(() => afterWritten(() => send({ type: 'flushed', total })));
    stayAlive();
    break;
  case 'clock-step': {
    // The wall clock steps a minute back (NTP, a resumed VM): writes must still follow within
    // the interval, which is kept on a monotonic clock.
    record(1);
    afterWritten(() => {
      const wallClock = Date.now;
      Date.now = () => wallClock() - 60_000;
      let left = count - 1;
      const tick = setInterval(() => {
        record(1);
        if (--left > 0) return;
        clearInterval(tick);
        afterWritten(() => send({ type: 'flushed', total }));
      }, 20);
    });
    stayAlive();
    break;
  }
  case 'steady': {
    // One event per turn, as a server with one request at a time, each logged with its time
    // (synchronously, so the log is complete up to the moment of a SIGKILL).
    const log = openSync(process.env[STEADY_LOG_VARIABLE]!, 'a');
    const next = (): void => {
      record(1);
      writeSync(log, `${total} ${Date.now()}\n`);
      if (total < count) setImmediate(next);
      else closeSync(log);
    };
    setImmediate(next);
    stayAlive();
    break;
  }
  case 'drain':
    // Nothing keeps the event loop alive: the process ends when this turn's write is done.
    record(count);
    break;
  case 'process-exit':
    record(count);
    process.exit(3);
    break;
  case 'throw':
    setTimeout(() => {
      record(count);
      throw new Error('uncaught right after recording');
    }, 0);
    break;
  case 'reject':
    setTimeout(() => {
      record(count);
      void Promise.reject(new Error('unhandled right after recording'));
    }, 0);
    break;
  default:
    throw new Error(`unknown scenario ${scenario}; one of ${SCENARIOS.join(', ')}`);
}
