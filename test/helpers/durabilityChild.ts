// A worker for test/durability.test.ts: records metrics into PROM_MULTIPROC_DIR through the
// default store, tells the parent over IPC what is on disk by now, and then ends the way the
// scenario says. DURABILITY_IDENTITY, when set, is the process identity (configure()).
// Usage (forked with an IPC channel): node --import tsx durabilityChild.ts <scenario> [count]
import { Counter, Gauge, Histogram, configure } from '../../packages/prom-multiproc/src/index.js';
import { BUCKETS, PENDING_IN_BLOCKED_TURN, ROUNDS, SCENARIOS, type ChildMessage, type Scenario } from './durabilityProtocol.js';

const [scenario, countText = '100'] = process.argv.slice(2);
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

// The durability point: values are written at the end of the event-loop turn that recorded
// them. A setImmediate queued after recording runs after that write, so what it reports is
// already in the files.
function afterThisTurn(then: () => void): void {
  setImmediate(then);
}

function stayAlive(): void {
  // Until the parent kills the process (or gives up on it and kills it anyway).
  setInterval(() => {}, 1000);
}

function recordRound(round: number): void {
  record(round + 1);
  afterThisTurn(() => {
    send({ type: 'flushed', total });
    if (round + 1 < ROUNDS) setTimeout(() => recordRound(round + 1), 1);
  });
}

switch (scenario as Scenario) {
  case 'stay-alive':
    record(count);
    afterThisTurn(() => send({ type: 'flushed', total }));
    stayAlive();
    break;
  case 'rounds':
    recordRound(0);
    stayAlive();
    break;
  case 'block-turn':
    record(count);
    afterThisTurn(() => {
      const flushed = total;
      record(PENDING_IN_BLOCKED_TURN);
      send({ type: 'blocking', flushed, pending: PENDING_IN_BLOCKED_TURN });
      // This turn never ends, so its values are never written; the parent sends a signal.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline);
      process.exit(99);
    });
    break;
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
