import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Registry, Summary } from 'prom-client';
import { QuantileSketch, SketchFormatError, interpolate } from './quantileSketch.js';

const ALPHA = 0.01;
// Rounding in log/exp may put a value on a bucket bound into its neighbour; and magnitudes
// below 2^-1022 are counted as zero.
const ROUNDING = 1e-9;
const MIN_NORMAL = 2.2250738585072014e-308;
const QUANTILES = [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

/** The midpoint definition the sketch approximates, computed exactly from sorted observations. */
function exactQuantile(sorted: readonly number[], q: number): { value: number; lower: number; upper: number } {
  const n = sorted.length;
  const h = Math.min(Math.max(q * n - 0.5, 0), n - 1);
  const lowerRank = Math.floor(h);
  const fraction = h - lowerRank;
  const lower = sorted[lowerRank]!;
  const upper = fraction === 0 ? lower : sorted[lowerRank + 1]!;
  return { value: interpolate(lower, upper, fraction), lower, upper };
}

/** The bound stated in quantileSketch.ts, for the exact quantile and the two observations it lies between. */
function assertWithinBound(estimate: number, exact: { value: number; lower: number; upper: number }, alpha: number, what: string): void {
  const sameSign = exact.lower * exact.upper >= 0;
  const scale = sameSign ? Math.abs(exact.value) : Math.max(Math.abs(exact.lower), Math.abs(exact.upper));
  const allowed = alpha * scale * (1 + ROUNDING) + MIN_NORMAL;
  assert.ok(
    Math.abs(estimate - exact.value) <= allowed,
    `${what}: estimate ${estimate}, exact ${exact.value} (between ${exact.lower} and ${exact.upper}), error ${Math.abs(estimate - exact.value)} > ${allowed}`,
  );
}

/** Whether the bound covers an observation: counted as zero, or above the collapsed magnitudes. */
function covered(value: number, floor: number): boolean {
  return Math.abs(value) < MIN_NORMAL || Math.abs(value) > floor;
}

/** Checks quantile(q) against the bound where it holds (see accuracyFloor), and its sign elsewhere. */
function checkQuantile(sketch: QuantileSketch, ordered: readonly number[], q: number, alpha: number): void {
  const exact = exactQuantile(ordered, q);
  const estimate = sketch.quantile(q);
  const floor = sketch.accuracyFloor();
  if (covered(exact.lower, floor) && covered(exact.upper, floor)) {
    assertWithinBound(estimate, exact, alpha, `q=${q}`);
  } else {
    assert.ok(Math.abs(estimate) <= Math.max(floor, Math.abs(exact.lower), Math.abs(exact.upper)) * (1 + alpha + ROUNDING), `q=${q}: ${estimate} beyond the floor ${floor}`);
  }
}

function sketchOf(values: readonly number[], options?: ConstructorParameters<typeof QuantileSketch>[0]): QuantileSketch {
  const sketch = new QuantileSketch(options);
  for (const value of values) sketch.add(value);
  return sketch;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * Spreads of data a summary meets: durations over many decades, signed values, ties, zeros;
 * at 1% these never need more than the default 2048 buckets, so the bound holds everywhere.
 */
const ordinary = fc.oneof(
  fc.double({ min: -25, max: 10, noNaN: true }).map((exponent) => Math.exp(exponent)),
  // fast-check likes the tiniest doubles; keep this spread within 1e-11..1e6 (1940 buckets).
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((value) => Math.abs(value) >= 1e-11),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(0, -0),
);
/** Extremes too: the largest doubles, the smallest normal one, subnormals (counted as zero). */
const observation = fc.oneof(
  { arbitrary: ordinary, weight: 4 },
  { arbitrary: fc.constantFrom(1e-320, Number.MAX_VALUE, -Number.MAX_VALUE, MIN_NORMAL, -MIN_NORMAL), weight: 1 },
);
const observations = fc.array(observation, { minLength: 1, maxLength: 400 });
const quantile = fc.double({ min: 0, max: 1, noNaN: true });

describe('QuantileSketch', () => {
  it('uses prom-client\'s quantile definition: equal to prom-client\'s Summary on distinct observations', async () => {
    // prom-client's t-digest keeps every value exactly while it has fewer than about 200.
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: -1000, max: 100_000 }), { minLength: 1, maxLength: 150 }), async (values) => {
        const percentiles = [0.01, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999];
        const summary = new Summary({ name: 'definition', help: 'h', percentiles, registers: [new Registry()] });
        for (const value of values) summary.observe(value);
        const reported = (await summary.get()).values.filter((sample) => sample.labels.quantile !== undefined);
        const ordered = sorted(values);
        for (const [i, q] of percentiles.entries()) {
          const exact = exactQuantile(ordered, q).value;
          // prom-client shows a quantile of 0 as 0 too; compare with a rounding slack only.
          assert.ok(Math.abs(reported[i]!.value - exact) <= 1e-9 * Math.max(1, Math.abs(exact)), `q=${q}: prom-client ${reported[i]!.value}, definition ${exact}`);
          assertWithinBound(sketchOf(values).quantile(q), exactQuantile(ordered, q), ALPHA, `q=${q}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('answers every quantile within alpha of the exact one (property)', () => {
    fc.assert(
      fc.property(fc.array(ordinary, { minLength: 1, maxLength: 400 }), fc.array(quantile, { maxLength: 5 }), (values, extra) => {
        const sketch = sketchOf(values);
        assert.equal(sketch.accuracyFloor(), 0);
        const ordered = sorted(values);
        for (const q of [...QUANTILES, ...extra]) assertWithinBound(sketch.quantile(q), exactQuantile(ordered, q), ALPHA, `q=${q}`);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the bound at other accuracies and with extremes, wherever nothing collapsed (property)', () => {
    fc.assert(
      fc.property(observations, fc.array(quantile, { maxLength: 5 }), fc.constantFrom(0.001, 0.01, 0.05), (values, extra, alpha) => {
        const sketch = sketchOf(values, { relativeAccuracy: alpha });
        const ordered = sorted(values);
        assert.equal(sketch.count, values.length);
        for (const q of [...QUANTILES, ...extra]) checkQuantile(sketch, ordered, q, alpha);
      }),
      { numRuns: 300 },
    );
  });

  it('a merge of several sketches is the sketch of the union: same answers, within the bound of the union', () => {
    fc.assert(
      fc.property(fc.array(observations, { minLength: 2, maxLength: 6 }), fc.boolean(), (parts, throughBytes) => {
        const union = parts.flat();
        const merged = new QuantileSketch();
        for (const part of parts) {
          const sketch = sketchOf(part);
          merged.merge(throughBytes ? QuantileSketch.decode(sketch.encode()) : sketch);
        }
        const whole = sketchOf(union);
        const ordered = sorted(union);
        assert.equal(merged.count, union.length);
        for (const q of QUANTILES) {
          assert.equal(merged.quantile(q), whole.quantile(q), `q=${q}: merged and single sketches differ`);
          checkQuantile(merged, ordered, q, ALPHA);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('collapses the smallest magnitudes past maxBuckets and keeps the bound above accuracyFloor()', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -40, max: 40, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.boolean(), { minLength: 300, maxLength: 300 }),
        fc.integer({ min: 1, max: 4 }),
        (exponents, negatives, parts) => {
          const values = exponents.map((exponent, i) => (negatives[i] ? -1 : 1) * Math.exp(exponent));
          const options = { maxBuckets: 64 };
          const merged = new QuantileSketch(options);
          const size = Math.ceil(values.length / parts);
          for (let i = 0; i < values.length; i += size) merged.merge(sketchOf(values.slice(i, i + size), options));
          const whole = sketchOf(values, options);
          const floor = whole.accuracyFloor();
          assert.equal(merged.accuracyFloor(), floor);
          const ordered = sorted(values);
          for (let rank = 0; rank < ordered.length; rank++) {
            const q = (rank + 0.5) / ordered.length;
            for (const sketch of [whole, merged]) checkQuantile(sketch, ordered, q, ALPHA);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads a collapsed value back with its sign and a magnitude between its own and the floor', () => {
    const sketch = sketchOf([-1e15, -1, -1, 0, 1, 1, 1e15], { maxBuckets: 64 });
    const floor = sketch.accuracyFloor();
    assert.ok(floor > 1 && floor < 1e15, `floor ${floor}`);
    for (const [q, sign] of [[1.5 / 7, -1], [5.5 / 7, 1]] as const) {
      const estimate = sketch.quantile(q);
      assert.equal(Math.sign(estimate), sign);
      assert.ok(Math.abs(estimate) >= 1 && Math.abs(estimate) <= floor, `q=${q}: ${estimate}`);
    }
    assert.equal(sketch.quantile(0.5), 0);
    assert.equal(sketch.quantile(0), -1e15);
    assert.equal(sketch.quantile(1), 1e15);
  });

  it('never collapses with the default limit over 1 ns to 10^8 s at 1%', () => {
    const sketch = sketchOf([1e-9, 1e8, 3, -1e-9, -1e8]);
    assert.equal(sketch.accuracyFloor(), 0);
  });

  it('is exact at the extremes, for a single value, and for constant data', () => {
    const single = sketchOf([0.123]);
    for (const q of QUANTILES) assert.equal(single.quantile(q), 0.123);
    const constant = sketchOf(Array.from({ length: 1000 }, () => 42.5));
    for (const q of QUANTILES) assert.equal(constant.quantile(q), 42.5);
    const spread = sketchOf([-7, 3, 1e-5, 12345.678]);
    assert.equal(spread.quantile(0), -7);
    assert.equal(spread.quantile(1), 12345.678);
    const huge = sketchOf([Number.MAX_VALUE, -Number.MAX_VALUE]);
    assert.equal(huge.quantile(1), Number.MAX_VALUE);
    assert.equal(huge.quantile(0), -Number.MAX_VALUE);
  });

  it('an empty sketch has no quantiles (NaN) and no extremes', () => {
    const empty = new QuantileSketch();
    assert.equal(empty.count, 0);
    assert.ok(Number.isNaN(empty.quantile(0.5)));
    assert.ok(Number.isNaN(empty.min) && Number.isNaN(empty.max));
    const cleared = sketchOf([1, 2, 3]);
    cleared.clear();
    assert.equal(cleared.count, 0);
    assert.ok(Number.isNaN(cleared.quantile(0.99)));
    assert.deepEqual(QuantileSketch.decode(cleared.encode()).count, 0);
  });

  it('rejects what it cannot count or answer, as prom-client rejects non-finite observations', () => {
    const sketch = new QuantileSketch();
    for (const bad of [NaN, Infinity, -Infinity, '1' as unknown as number]) assert.throws(() => sketch.add(bad), RangeError);
    assert.throws(() => sketch.add(1, 0), RangeError);
    assert.throws(() => sketch.add(1, 1.5), RangeError);
    for (const bad of [-0.1, 1.01, NaN]) assert.throws(() => sketch.quantile(bad), RangeError);
    assert.throws(() => new QuantileSketch({ relativeAccuracy: 0 }), RangeError);
    assert.throws(() => new QuantileSketch({ relativeAccuracy: 1 }), RangeError);
    assert.throws(() => new QuantileSketch({ maxBuckets: 0 }), RangeError);
    assert.throws(() => new QuantileSketch({ maxBuckets: 70_000 }), RangeError);
    assert.throws(() => sketch.merge(new QuantileSketch({ relativeAccuracy: 0.02 })), /relative accuracy 0.02/);
    assert.equal(sketch.count, 0);
  });

  it('merges with itself as with a copy', () => {
    const sketch = sketchOf([1, 2, 3, 4]);
    sketch.merge(sketch);
    assert.equal(sketch.count, 8);
    assert.equal(sketch.quantile(0.5), sketchOf([1, 1, 2, 2, 3, 3, 4, 4]).quantile(0.5));
  });

  it('encodes and decodes to the same sketch, byte for byte (property)', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 300 }), fc.integer({ min: 8, max: 3000 }), (values, maxBuckets) => {
        const sketch = sketchOf(values, { maxBuckets });
        const bytes = sketch.encode();
        const decoded = QuantileSketch.decode(bytes);
        assert.equal(decoded.count, sketch.count);
        assert.equal(decoded.maxBuckets, maxBuckets);
        assert.equal(decoded.accuracyFloor(), sketch.accuracyFloor());
        assert.deepEqual(decoded.encode(), bytes);
        if (values.length > 0) for (const q of QUANTILES) assert.equal(decoded.quantile(q), sketch.quantile(q));
      }),
      { numRuns: 200 },
    );
  });

  it('is compact: ten thousand latencies over six decades take under 2 KiB, a few spread ones some bytes each', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 1e-3 * Math.pow(1e6, ((i * 7919) % 10_000) / 10_000));
    assert.ok(sketchOf(values).encode().length < 2048);
    assert.ok(sketchOf([1e-9, 1e-3, 1, 1e3, 1e9]).encode().length < 80);
  });

  describe('damaged encodings throw a SketchFormatError naming the problem, never a sketch', () => {
    const bytes = sketchOf([-3, -0.5, 0, 0, 1e-6, 0.25, 7, 7, 7, 1e9]).encode();

    it('every truncation', () => {
      for (let length = 0; length < bytes.length; length++) {
        assert.throws(() => QuantileSketch.decode(bytes.subarray(0, length)), (error: unknown) => {
          assert.ok(error instanceof SketchFormatError, `length ${length}: ${String(error)}`);
          assert.match(error.message, /^quantile sketch: (truncated|checksum mismatch)/);
          return true;
        });
      }
    });

    it('every flipped bit', () => {
      for (let byte = 0; byte < bytes.length; byte++) {
        for (let bit = 0; bit < 8; bit++) {
          const damaged = Buffer.from(bytes);
          damaged[byte]! ^= 1 << bit;
          assert.throws(() => QuantileSketch.decode(damaged), SketchFormatError, `byte ${byte} bit ${bit} went unnoticed`);
        }
      }
    });

    it('trailing bytes, another version, and random garbage', () => {
      assert.throws(() => QuantileSketch.decode(Buffer.concat([bytes, Buffer.from([0])])), /1 unexpected bytes after the end/);
      const otherVersion = Buffer.from(bytes);
      otherVersion[0] = 2;
      assert.throws(() => QuantileSketch.decode(otherVersion), /version 2 at offset 0, this library reads version 1/);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
          try {
            QuantileSketch.decode(garbage);
          } catch (error) {
            assert.ok(error instanceof SketchFormatError, String(error));
            return;
          }
          assert.fail('garbage decoded');
        }),
      );
    });
  });
});
