import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { QuantileSketch } from './quantileSketch.js';
import { SlidingWindow, mergeWindowSlots, windowLengthMs, type WindowSlot } from './slidingWindow.js';

// prom-client's own window, to compare with: it reads Date.now(), which the tests set.
const require = createRequire(import.meta.url);
interface Centroid { mean: number }
interface PromWindow {
  size(): number;
  push(value: number): void;
  ringBuffer: { toArray(): Centroid[] }[];
  currentBuffer: number;
}
const TimeWindowQuantiles = require('prom-client/lib/timeWindowQuantiles') as new (maxAgeSeconds?: number, ageBuckets?: number) => PromWindow;

function withFakeNow<T>(clock: { now: number }, run: () => T): T {
  const realNow = Date.now;
  Date.now = () => clock.now;
  try {
    return run();
  } finally {
    Date.now = realNow;
  }
}

/** What prom-client's window holds now: its values are distinct in these tests, so the centroids are the values. */
function promWindowValues(window: PromWindow): number[] {
  window.size(); // rotates
  return window.ringBuffer[window.currentBuffer]!.toArray().map((c) => c.mean).sort((a, b) => a - b);
}

/** Count, min and max: for distinct values, the same as the values prom-client's window holds. */
function describeSketch(sketch: QuantileSketch): [number, number, number] {
  return [sketch.count, sketch.min, sketch.max];
}

function describeValues(values: number[]): [number, number, number] {
  return values.length === 0 ? [0, NaN, NaN] : [values.length, values[0]!, values.at(-1)!];
}

function copySlots(slots: WindowSlot[]): WindowSlot[] {
  return slots.map((slot) => ({ startMs: slot.startMs, sketch: slot.sketch.copy() }));
}

// Whole-millisecond rotation times, so that steps land exactly on rotation boundaries.
const windowOptions = fc.constantFrom([1, 1], [1, 2], [1, 4], [2, 5], [3, 3], [10, 4], [10, 5]);
/** A step: an arbitrary wait, or a whole number of rotation times, just under or over it. */
const step = fc.record({
  advance: fc.oneof(
    fc.record({ ms: fc.nat({ max: 4000 }) }),
    fc.record({ rotations: fc.integer({ min: 0, max: 6 }), offsetMs: fc.constantFrom(-1, 0, 1) }),
  ),
  observe: fc.boolean(),
});

function advanceMs(advance: { ms: number } | { rotations: number; offsetMs: number }, rotationMs: number): number {
  return 'ms' in advance ? advance.ms : Math.max(0, advance.rotations * rotationMs + advance.offsetMs);
}

describe('SlidingWindow', () => {
  it('holds what prom-client\'s window holds, at every step (property)', () => {
    fc.assert(
      fc.property(
        windowOptions,
        fc.array(step, { maxLength: 60 }),
        ([maxAgeSeconds, ageBuckets], steps) => {
          const rotationMs = (maxAgeSeconds * 1000) / ageBuckets;
          const clock = { now: 1_700_000_000_000 };
          const prom = withFakeNow(clock, () => new TimeWindowQuantiles(maxAgeSeconds, ageBuckets));
          const ours = new SlidingWindow({ maxAgeSeconds, ageBuckets, now: () => clock.now });
          let next = 1;
          for (const [i, { advance, observe }] of steps.entries()) {
            clock.now += advanceMs(advance, rotationMs);
            if (observe) {
              withFakeNow(clock, () => prom.push(next));
              ours.observe(next++);
            }
            const expected = describeValues(withFakeNow(clock, () => promWindowValues(prom)));
            assert.deepEqual(describeSketch(ours.merged()), expected, `step ${i} at +${clock.now - 1_700_000_000_000} ms`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('lets a scraper age out the slots of a process that stopped rotating, as its ring would have (property)', () => {
    fc.assert(
      fc.property(
        windowOptions,
        fc.array(step, { maxLength: 40 }),
        fc.array(step.map((later) => later.advance), { minLength: 1, maxLength: 10 }),
        ([maxAgeSeconds, ageBuckets], steps, laterAdvances) => {
          const rotationMs = (maxAgeSeconds * 1000) / ageBuckets;
          const clock = { now: 1_700_000_000_000 };
          const ours = new SlidingWindow({ maxAgeSeconds, ageBuckets, now: () => clock.now });
          let next = 1;
          for (const { advance, observe } of steps) {
            clock.now += advanceMs(advance, rotationMs);
            if (observe) ours.observe(next++);
          }
          // What the process wrote last; it then dies (or idles) while the scraper reads on.
          const written = copySlots(ours.liveSlots());
          for (const advance of laterAdvances) {
            clock.now += advanceMs(advance, rotationMs);
            const scraped = mergeWindowSlots(written, ours.maxAgeMs, clock.now, new QuantileSketch());
            assert.deepEqual(describeSketch(scraped), describeSketch(ours.merged()));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rotates lazily after long idle times and at the exact boundaries prom-client uses', () => {
    const clock = { now: 0 };
    const window = new SlidingWindow({ maxAgeSeconds: 3, ageBuckets: 3, now: () => clock.now });
    window.observe(1);
    clock.now = 1000; // exactly one rotation time: no rotation yet
    window.observe(2);
    clock.now = 3000; // three rotation times: two rotations; the slot of 1 and 2 is still in
    assert.equal(window.merged().count, 2);
    clock.now = 3001; // the first slot is now older than the window
    assert.equal(window.merged().count, 0);
    window.observe(3);
    clock.now = 1_000_000_000; // an idle process: everything aged out in one step
    assert.equal(window.merged().count, 0);
    assert.deepEqual(window.liveSlots(), []);
  });

  it('has no window unless both maxAgeSeconds and ageBuckets are set, as in prom-client', () => {
    for (const options of [{}, { maxAgeSeconds: 1 }, { ageBuckets: 5 }, { maxAgeSeconds: 0, ageBuckets: 5 }]) {
      const clock = { now: 0 };
      const window = new SlidingWindow({ ...options, now: () => clock.now });
      window.observe(1);
      clock.now = 1e12;
      window.observe(2);
      assert.equal(window.merged().count, 2, JSON.stringify(options));
      assert.equal(window.maxAgeMs, 0);
      assert.equal(window.liveSlots().length, 1);
    }
  });

  it('refuses window options prom-client would loop or crash on', () => {
    assert.throws(() => windowLengthMs(-1, 5), /maxAgeSeconds must be a positive number/);
    assert.throws(() => windowLengthMs(Infinity, 5), /maxAgeSeconds/);
    assert.throws(() => windowLengthMs(60, 1.5), /ageBuckets must be a positive integer/);
    assert.throws(() => windowLengthMs(60, -2), /ageBuckets/);
    assert.equal(windowLengthMs(600, 5), 600_000);
  });

  it('reset() empties the window; takeChanged() tells when there is something new to write', () => {
    const clock = { now: 0 };
    const window = new SlidingWindow({ maxAgeSeconds: 10, ageBuckets: 2, now: () => clock.now });
    assert.equal(window.takeChanged(), true); // a new series is written once
    assert.equal(window.takeChanged(), false);
    window.observe(5);
    assert.equal(window.takeChanged(), true);
    assert.equal(window.takeChanged(), false);
    clock.now = 5001; // a rotation past an empty slot changes nothing
    assert.equal(window.takeChanged(), false);
    clock.now = 10_001; // the slot holding 5 is emptied
    assert.equal(window.takeChanged(), true);
    window.observe(6);
    window.reset();
    assert.equal(window.merged().count, 0);
    assert.equal(window.takeChanged(), true);
  });
});
