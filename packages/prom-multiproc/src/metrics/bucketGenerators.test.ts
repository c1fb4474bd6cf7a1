// Bucket generators, side by side with prom-client's: same bounds to the last bit, same errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as promClient from 'prom-client';
import { exponentialBuckets, linearBuckets } from './bucketGenerators.js';

/** What a call gives: its bounds, or the class and message of what it throws. */
function outcome(make: () => number[]): { bounds: number[] } | { error: string } {
  try {
    return { bounds: make() };
  } catch (error) {
    return { error: `${(error as Error).constructor.name}: ${(error as Error).message}` };
  }
}

// Small counts keep the arrays small; the edges (0, 1, negative, fractions) are where checks differ.
const count = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.double({ min: -2, max: 8, noNaN: false }));
const anyNumber = fc.oneof(fc.double(), fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(0, 1, -1, 0.1, 1.5, 2, 10));

describe('linearBuckets', () => {
  it('gives the bounds of the documented example', () => {
    assert.deepEqual(linearBuckets(0, 10, 5), [0, 10, 20, 30, 40]);
  });

  it('rejects a count below 1 in prom-client\'s words', () => {
    assert.throws(() => linearBuckets(0, 1, 0), { message: 'Linear buckets needs a positive count' });
    assert.throws(() => linearBuckets(0, 1, -2), { message: 'Linear buckets needs a positive count' });
  });

  it('matches prom-client for any start, width and count', () => {
    fc.assert(fc.property(anyNumber, anyNumber, count, (start, width, n) => {
      assert.deepEqual(outcome(() => linearBuckets(start, width, n)), outcome(() => promClient.linearBuckets(start, width, n)));
    }), { numRuns: 2000 });
  });
});

describe('exponentialBuckets', () => {
  it('gives the bounds of the documented example', () => {
    assert.deepEqual(exponentialBuckets(1, 2, 5), [1, 2, 4, 8, 16]);
  });

  it('multiplies step by step, as prom-client does, not by powers', () => {
    const bounds = exponentialBuckets(0.1, 1.1, 30);
    assert.deepEqual(bounds, promClient.exponentialBuckets(0.1, 1.1, 30));
    // Powers would round differently somewhere along the way: this is what the step-by-step product guards.
    assert.notDeepEqual(bounds, Array.from({ length: 30 }, (_, i) => 0.1 * 1.1 ** i));
  });

  it('checks start, then count, then factor, in prom-client\'s words', () => {
    assert.throws(() => exponentialBuckets(0, 0, 0), { message: 'Exponential buckets needs a positive start' });
    assert.throws(() => exponentialBuckets(1, 0, 0), { message: 'Exponential buckets needs a positive count' });
    assert.throws(() => exponentialBuckets(1, 1, 3), { message: 'Exponential buckets needs a factor greater than 1' });
  });

  it('matches prom-client for any start, factor and count', () => {
    fc.assert(fc.property(anyNumber, anyNumber, count, (start, factor, n) => {
      assert.deepEqual(outcome(() => exponentialBuckets(start, factor, n)), outcome(() => promClient.exponentialBuckets(start, factor, n)));
    }), { numRuns: 2000 });
  });
});
