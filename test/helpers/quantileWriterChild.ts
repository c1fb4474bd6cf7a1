// A process observing one distribution into summary quantiles, for test/summaryQuantiles.test.ts.
// It holds its identity's lock, as the FileStore of a real process does, and writes through
// SummaryQuantiles to its side file. Every observation is also appended, as raw float64s, to
// <rawDir>/<identity>.f64 before the parent is told of it, so the test can compute the exact
// quantiles of everything observed.
//
// argv: dir rawDir identity distribution writeIntervalMs
// Messages in: { type: 'observe', count } | { type: 'stream', ms } | { type: 'end' }
// Messages out: { type: 'ready' } | { type: 'observed', total } | { type: 'streamed', total }
import { appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { acquireIdentityLock } from '../../packages/prom-multiproc/src/directory/identityLock.js';
import { SummaryQuantiles } from '../../packages/prom-multiproc/src/storage/summaryQuantiles.js';
import { quantileFileWriter } from '../../packages/prom-multiproc/src/storage/sketchFile.js';
import {
  OWN_PERCENTILES, WINDOW, ownKey, sharedKey, windowedKey, type ChildMessage, type Distribution, type ParentMessage,
} from './quantileProtocol.js';

const [dir, rawDir, identity, distribution, intervalText] = process.argv.slice(2) as [string, string, string, Distribution, string];

acquireIdentityLock(dir, identity);
const target = { dir, identity, writeIntervalMs: Number(intervalText) };
const shared = new SummaryQuantiles(target, sharedKey());
const own = new SummaryQuantiles(target, ownKey(identity), { percentiles: OWN_PERCENTILES });
const windowed = new SummaryQuantiles(target, windowedKey(), WINDOW);

// mulberry32, seeded by the identity: each child its own reproducible stream.
let seed = [...identity].reduce((hash, c) => Math.imul(hash ^ c.charCodeAt(0), 0x9e3779b1), 0x811c9dc5) >>> 0;
function uniform(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function normal(): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const draw: Record<Distribution, () => number> = {
  // Request latencies: log-normal around 50 ms, a long tail.
  latency: () => Math.exp(-3 + normal()),
  uniform: () => 5 * uniform(),
  // Signed values (temperature deltas, balances): about half negative.
  signed: () => 10 * normal(),
  // Cache hits (zero or a millisecond) and misses of seconds.
  bimodal: () => {
    const u = uniform();
    return u < 0.1 ? 0 : u < 0.6 ? 0.001 * (1 + u) : 2 + u;
  },
};

let total = 0;
function observe(count: number): void {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = draw[distribution]();
  appendFileSync(path.join(rawDir, `${identity}.f64`), Buffer.from(values.buffer));
  for (const value of values) {
    shared.observe(value);
    own.observe(value);
    windowed.observe(value);
  }
  total += count;
}

function send(message: ChildMessage): void {
  process.send!(message);
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'observe') {
    observe(message.count);
    send({ type: 'observed', total });
  } else if (message.type === 'stream') {
    // Rewrites the file as often as it may while the parent reads it.
    const until = Date.now() + message.ms;
    const step = (): void => {
      observe(10);
      if (Date.now() < until) setImmediate(step);
      else {
        quantileFileWriter(target).flush();
        send({ type: 'streamed', total });
      }
    };
    step();
  } else if (message.type === 'end') {
    // Nothing else keeps the process alive: it ends by itself, writing on 'exit'.
    process.disconnect();
  }
});
send({ type: 'ready' });
