// A mergeable quantile sketch (the DDSketch scheme): observations are counted in buckets whose
// bounds grow geometrically, so any quantile can be read back within a fixed relative error,
// and two sketches merge by adding their bucket counts, which is exact. That is what lets every
// process keep its own sketch and a scrape combine them.
//
// Buckets. With gamma = (1 + alpha) / (1 - alpha), a value of magnitude m > 0 is counted in
// bucket i = ceil(log_gamma(m)), which holds the magnitudes in (gamma^(i-1), gamma^i]; the
// bucket is read back as 2 * gamma^i / (gamma + 1), which is within alpha relative error of
// every magnitude in it. Positive and negative values have a bucket set each (negatives by
// magnitude); zero has its own exact count, and so do magnitudes below 2^-1022 (subnormal
// doubles, too imprecise for a relative bound to mean anything). NaN and infinities are
// rejected, as prom-client rejects them. The exact minimum and maximum are kept too: every
// answer is clamped into [min, max], which only moves it closer to the truth, and makes the
// 0 and 1 quantiles exact.
//
// Which value a quantile is. prom-client reads quantiles from a t-digest that keeps one
// centroid per distinct value until it compresses; for n distinct observations sorted
// x[0] <= ... <= x[n-1] that is the "midpoint" definition, which this sketch uses for any n:
//   h = clamp(q * n - 0.5, 0, n - 1),   quantile(q) = x[floor(h)] + (h - floor(h)) * (x[ceil(h)] - x[floor(h)])
// (prom-client's t-digest differs for repeated values and once it has compressed, where it
// is itself approximate.) The sketch finds x[floor(h)] and x[ceil(h)] by rank in its buckets
// and interpolates between the two bucket values.
//
// The bound. Each value found by rank is within alpha relative error of the exact x[rank] of
// the observations the sketch holds (merged sketches: of the union of their observations),
// whatever their order and however they were split between sketches. So quantile(q) is within
// alpha * |exact quantile(q)| whenever x[floor(h)] and x[ceil(h)] have the same sign (always
// when no observation is negative, as with durations and sizes); across a sign change it is
// within alpha * max(|x[floor(h)]|, |x[ceil(h)]|). Floating-point rounding adds less than
// 1e-12 relative.
//
// Bounded size. Each sign keeps at most maxBuckets buckets (default 2048, which at alpha 0.01
// spans magnitudes over a ratio of about 6e17, e.g. 1 ns to 600 million s). When the counted
// magnitudes spread wider, the buckets of the smallest magnitudes are collapsed into the
// lowest bucket kept, and stay collapsed (merging carries the collapse over). The bound then
// holds for every quantile whose exact value has a magnitude above accuracyFloor(); one below
// it is read back with the same sign and a magnitude between its own and about
// accuracyFloor(). The large-magnitude tail, which is what latency quantiles are about, is
// never collapsed.
import { ByteReader, ByteWriter, SketchFormatError } from './bytes.js';

export { SketchFormatError };

export const DEFAULT_RELATIVE_ACCURACY = 0.01;
export const DEFAULT_MAX_BUCKETS = 2048;
/** maxBuckets is encoded in 16 bits. */
const MAX_MAX_BUCKETS = 0xffff;
/** 2^-1022: magnitudes below it are counted with zero. */
const MIN_NORMAL = 2.2250738585072014e-308;
const FORMAT_VERSION = 1;
const COLLAPSED_FLAG = 1;

export interface SketchOptions {
  /** The relative error bound alpha, 0 < alpha < 1; 0.01 by default (1%). */
  relativeAccuracy?: number;
  /** Buckets kept per sign before the smallest magnitudes collapse; 2048 by default. */
  maxBuckets?: number;
}

/** The map between magnitudes and bucket indices for one alpha. */
class LogMapping {
  readonly gamma: number;
  private readonly lnGamma: number;
  private readonly inverseLnGamma: number;
  /** 2 / (gamma + 1): bucket i reads back as gamma^i times this. */
  private readonly readFactor: number;
  /** The indices a finite normal magnitude can have (a decoded index outside them is damage). */
  readonly lowestIndex: number;
  readonly highestIndex: number;

  constructor(readonly alpha: number) {
    this.gamma = (1 + alpha) / (1 - alpha);
    this.lnGamma = Math.log(this.gamma);
    this.inverseLnGamma = 1 / this.lnGamma;
    this.readFactor = 2 / (this.gamma + 1);
    this.lowestIndex = this.index(MIN_NORMAL);
    this.highestIndex = this.index(Number.MAX_VALUE);
  }

  index(magnitude: number): number {
    return Math.ceil(Math.log(magnitude) * this.inverseLnGamma);
  }

  /** May overflow to Infinity or underflow to 0 at the extremes; the caller clamps to [min, max]. */
  value(index: number): number {
    return Math.exp(index * this.lnGamma) * this.readFactor;
  }

  /** The upper bound of bucket `index`: gamma^index. */
  upperBound(index: number): number {
    return Math.exp(index * this.lnGamma);
  }
}

const mappings = new Map<number, LogMapping>();

function mappingFor(alpha: number): LogMapping {
  let mapping = mappings.get(alpha);
  if (mapping === undefined) {
    // Damaged encodings bring arbitrary alphas: keep the cache small.
    if (mappings.size >= 16) mappings.clear();
    mapping = new LogMapping(alpha);
    mappings.set(alpha, mapping);
  }
  return mapping;
}

function checkAccuracy(alpha: number): void {
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) {
    throw new RangeError(`relativeAccuracy must be a number between 0 and 1 (exclusive), not ${String(alpha)}`);
  }
}

function checkMaxBuckets(maxBuckets: number): void {
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1 || maxBuckets > MAX_MAX_BUCKETS) {
    throw new RangeError(`maxBuckets must be an integer from 1 to ${MAX_MAX_BUCKETS}, not ${String(maxBuckets)}`);
  }
}

/**
 * The bucket counts of one sign, in a dense array over the counted index range. Counts below
 * `collapsedAt` (once set) are kept in bucket `collapsedAt`.
 */
class BucketStore {
  private bins = new Float64Array(0);
  /** The index bins[0] counts. */
  private base = 0;
  /** Every non-zero bin lies in [lowest, highest]; meaningless while total is 0. */
  lowest = 0;
  highest = -1;
  total = 0;
  collapsedAt: number | undefined;

  constructor(private readonly maxBuckets: number) {}

  count(index: number): number {
    return index < this.base || index >= this.base + this.bins.length ? 0 : this.bins[index - this.base]!;
  }

  add(index: number, count: number): void {
    if (this.collapsedAt !== undefined && index < this.collapsedAt) index = this.collapsedAt;
    if (this.total === 0) {
      this.cover(index, index);
      this.lowest = this.highest = index;
    } else if (index < this.lowest || index > this.highest) {
      index = this.widen(index);
    }
    this.bins[index - this.base]! += count;
    this.total += count;
  }

  /** Takes `index` into the range, collapsing the lowest buckets past maxBuckets; returns where it counts. */
  private widen(index: number): number {
    const highest = Math.max(index, this.highest);
    const keepFrom = highest - this.maxBuckets + 1;
    if (Math.min(index, this.lowest) < keepFrom) {
      this.collapseBelow(keepFrom);
      index = Math.max(index, keepFrom);
    }
    const lowest = Math.min(index, this.lowest);
    this.cover(lowest, highest);
    this.lowest = lowest;
    this.highest = highest;
    return index;
  }

  /** Moves every count below `at` into bucket `at`, for good. */
  collapseBelow(at: number): void {
    if (this.collapsedAt !== undefined && this.collapsedAt >= at) return;
    this.collapsedAt = at;
    if (this.total === 0 || this.lowest >= at) return;
    let folded = 0;
    const end = Math.min(this.highest, at - 1);
    for (let i = this.lowest; i <= end; i++) {
      folded += this.bins[i - this.base]!;
      this.bins[i - this.base] = 0;
    }
    const highest = Math.max(this.highest, at);
    this.cover(at, highest);
    this.bins[at - this.base]! += folded;
    this.lowest = at;
    this.highest = highest;
  }

  /**
   * Makes the bins cover [lo, hi], with room to grow either way. The caller guarantees that
   * every non-zero bin is inside [lo, hi].
   */
  private cover(lo: number, hi: number): void {
    if (lo >= this.base && hi < this.base + this.bins.length) return;
    const span = hi - lo + 1;
    const length = span + Math.min(Math.max(span, 32), this.maxBuckets);
    const base = lo - Math.floor((length - span) / 2);
    const bins = new Float64Array(length);
    if (this.total > 0) {
      const from = Math.max(this.lowest, base);
      const to = Math.min(this.highest, base + length - 1);
      for (let i = from; i <= to; i++) bins[i - base] = this.bins[i - this.base]!;
    }
    this.bins = bins;
    this.base = base;
  }

  mergeFrom(other: BucketStore): void {
    if (other.collapsedAt !== undefined) this.collapseBelow(other.collapsedAt);
    if (other.total === 0) return;
    for (let i = other.lowest; i <= other.highest; i++) {
      const count = other.bins[i - other.base]!;
      if (count > 0) this.add(i, count);
    }
  }

  /** The index holding rank `rank` (0-based) counting from the lowest index up. */
  indexAtRank(rank: number): number {
    let seen = 0;
    for (let i = this.lowest; i < this.highest; i++) {
      seen += this.bins[i - this.base]!;
      if (seen > rank) return i;
    }
    return this.highest;
  }

  /** The index holding rank `rank` counting from the highest index down. */
  indexAtRankFromTop(rank: number): number {
    let seen = 0;
    for (let i = this.highest; i > this.lowest; i--) {
      seen += this.bins[i - this.base]!;
      if (seen > rank) return i;
    }
    return this.lowest;
  }

  /** The non-zero range, [first, last], or undefined when empty. */
  countedRange(): [number, number] | undefined {
    if (this.total === 0) return undefined;
    let first = this.lowest;
    while (this.bins[first - this.base] === 0) first++;
    let last = this.highest;
    while (this.bins[last - this.base] === 0) last--;
    return [first, last];
  }

  clear(): void {
    this.bins = new Float64Array(0);
    this.base = 0;
    this.lowest = 0;
    this.highest = -1;
    this.total = 0;
    this.collapsedAt = undefined;
  }
}

/** Where a value is counted: its sign, and its bucket index for non-zero signs. */
interface BucketPlace {
  sign: -1 | 0 | 1;
  index: number;
}

export class QuantileSketch {
  readonly relativeAccuracy: number;
  readonly maxBuckets: number;
  private readonly mapping: LogMapping;
  private readonly positive: BucketStore;
  private readonly negative: BucketStore;
  private zeroCount = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;

  constructor(options: SketchOptions = {}) {
    this.relativeAccuracy = options.relativeAccuracy ?? DEFAULT_RELATIVE_ACCURACY;
    this.maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    checkAccuracy(this.relativeAccuracy);
    checkMaxBuckets(this.maxBuckets);
    this.mapping = mappingFor(this.relativeAccuracy);
    this.positive = new BucketStore(this.maxBuckets);
    this.negative = new BucketStore(this.maxBuckets);
  }

  /** How many observations the sketch holds. */
  get count(): number {
    return this.negative.total + this.zeroCount + this.positive.total;
  }

  /** The smallest observation (NaN when empty). */
  get min(): number {
    return this.count === 0 ? NaN : this.minValue;
  }

  /** The largest observation (NaN when empty). */
  get max(): number {
    return this.count === 0 ? NaN : this.maxValue;
  }

  /** Counts `value` `count` times. Throws a RangeError for NaN or an infinity. */
  add(value: number, count = 1): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`a quantile sketch counts finite numbers only, not ${String(value)}`);
    }
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(`an observation count is a positive integer, not ${String(count)}`);
    }
    if (value >= MIN_NORMAL) this.positive.add(this.mapping.index(value), count);
    else if (value <= -MIN_NORMAL) this.negative.add(this.mapping.index(-value), count);
    else this.zeroCount += count;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  /** Adds every observation of `other` (same relativeAccuracy; throws a RangeError otherwise). */
  merge(other: QuantileSketch): void {
    if (other.relativeAccuracy !== this.relativeAccuracy) {
      throw new RangeError(
        `cannot merge a sketch of relative accuracy ${other.relativeAccuracy} into one of ${this.relativeAccuracy}: their buckets differ`,
      );
    }
    if (other === this) other = this.copy();
    this.positive.mergeFrom(other.positive);
    this.negative.mergeFrom(other.negative);
    this.zeroCount += other.zeroCount;
    if (other.minValue < this.minValue) this.minValue = other.minValue;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
  }

  copy(): QuantileSketch {
    const copy = new QuantileSketch({ relativeAccuracy: this.relativeAccuracy, maxBuckets: this.maxBuckets });
    copy.merge(this);
    return copy;
  }

  clear(): void {
    this.positive.clear();
    this.negative.clear();
    this.zeroCount = 0;
    this.minValue = Infinity;
    this.maxValue = -Infinity;
  }

  /**
   * The q-quantile (0 <= q <= 1) by the midpoint definition in this module's header, within
   * the bound stated there; NaN when the sketch is empty.
   */
  quantile(q: number): number {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new RangeError(`a quantile is a number from 0 to 1, not ${String(q)}`);
    const n = this.count;
    if (n === 0) return NaN;
    const h = Math.min(Math.max(q * n - 0.5, 0), n - 1);
    const lower = Math.floor(h);
    const fraction = h - lower;
    const a = this.valueAtRank(lower);
    if (fraction === 0) return a;
    return interpolate(a, this.valueAtRank(lower + 1), fraction);
  }

  /**
   * The magnitude at or below which the relative bound may not hold because buckets
   * collapsed (the larger of the two signs'); 0 when nothing collapsed.
   */
  accuracyFloor(): number {
    let floor = 0;
    for (const store of [this.positive, this.negative]) {
      if (store.collapsedAt !== undefined) floor = Math.max(floor, this.mapping.upperBound(store.collapsedAt));
    }
    return floor;
  }

  /** The estimate of the `rank`-th smallest observation (0-based), clamped into [min, max]. */
  private valueAtRank(rank: number): number {
    if (rank === 0) return this.minValue;
    if (rank === this.count - 1) return this.maxValue;
    let value: number;
    if (rank < this.negative.total) {
      // The most negative values, the highest magnitudes, come first.
      value = -this.mapping.value(this.negative.indexAtRankFromTop(rank));
    } else if (rank < this.negative.total + this.zeroCount) {
      value = 0;
    } else {
      value = this.mapping.value(this.positive.indexAtRank(rank - this.negative.total - this.zeroCount));
    }
    return Math.min(Math.max(value, this.minValue), this.maxValue);
  }

  /**
   * The encoding (little-endian):
   *   u8 version (1), f64 relativeAccuracy, u16 maxBuckets, varint zero count,
   *   the negative then the positive buckets, each as
   *     varint count B of non-empty buckets, u8 flags (1: collapsed),
   *     [zigzag varint collapsedAt, if collapsed],
   *     [if B > 0: zigzag varint first index, its varint count, then B - 1 times the varint
   *      step (>= 1) to the next non-empty index and its varint count (>= 1)],
   *   f64 min and f64 max (only when the count is not 0),
   *   u32 CRC-32 of the bytes of this encoding before it.
   */
  encode(): Buffer {
    const out = new ByteWriter();
    this.encodeInto(out);
    return out.finish();
  }

  encodeInto(out: ByteWriter): void {
    const start = out.mark();
    out.u8(FORMAT_VERSION);
    out.f64(this.relativeAccuracy);
    out.u16(this.maxBuckets);
    out.varint(this.zeroCount);
    for (const store of [this.negative, this.positive]) {
      const range = store.countedRange();
      let buckets = 0;
      if (range !== undefined) for (let i = range[0]; i <= range[1]; i++) if (store.count(i) > 0) buckets++;
      out.varint(buckets);
      out.u8(store.collapsedAt === undefined ? 0 : COLLAPSED_FLAG);
      if (store.collapsedAt !== undefined) out.zigzag(store.collapsedAt);
      if (range === undefined) continue;
      // Only the non-empty buckets, each as the step from the previous one and its count:
      // observations spread over many decades leave long runs of empty buckets.
      out.zigzag(range[0]);
      let previous = range[0];
      for (let i = range[0]; i <= range[1]; i++) {
        const count = store.count(i);
        if (count === 0) continue;
        if (i !== range[0]) out.varint(i - previous);
        out.varint(count);
        previous = i;
      }
    }
    if (this.count > 0) {
      out.f64(this.minValue);
      out.f64(this.maxValue);
    }
    out.checksum(start);
  }

  /** Reads an encoding back; throws a SketchFormatError naming what is wrong with damaged bytes. */
  static decode(bytes: Uint8Array): QuantileSketch {
    const reader = new ByteReader(bytes, 'quantile sketch');
    const sketch = QuantileSketch.decodeFrom(reader);
    reader.end();
    return sketch;
  }

  /** Reads one encoding from `reader`, which is left after it. */
  static decodeFrom(reader: ByteReader): QuantileSketch {
    const start = reader.position;
    const version = reader.u8('version');
    if (version !== FORMAT_VERSION) reader.fail(`version ${version} at offset ${start}, this library reads version ${FORMAT_VERSION}`);
    const relativeAccuracy = reader.f64('relative accuracy');
    if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) reader.fail(`relative accuracy ${relativeAccuracy} is not between 0 and 1`);
    const maxBuckets = reader.u16('bucket limit');
    if (maxBuckets < 1) reader.fail('bucket limit is 0');
    const sketch = new QuantileSketch({ relativeAccuracy, maxBuckets });
    const mapping = sketch.mapping;
    sketch.zeroCount = reader.varint('zero count');
    for (const [store, sign] of [[sketch.negative, 'negative'], [sketch.positive, 'positive']] as const) {
      const buckets = reader.varint(`${sign} non-empty bucket count`);
      if (buckets > maxBuckets) reader.fail(`${buckets} ${sign} buckets, more than the limit of ${maxBuckets}`);
      const flags = reader.u8(`${sign} flags`);
      if ((flags & ~COLLAPSED_FLAG) !== 0) reader.fail(`unknown ${sign} flags 0x${flags.toString(16)}`);
      if ((flags & COLLAPSED_FLAG) !== 0) {
        const collapsedAt = reader.zigzag(`${sign} collapse index`);
        checkIndex(reader, mapping, collapsedAt, `${sign} collapse index`);
        store.collapseBelow(collapsedAt);
      }
      if (buckets === 0) continue;
      let index = reader.zigzag(`${sign} first index`);
      checkIndex(reader, mapping, index, `${sign} first index`);
      const first = index;
      if (store.collapsedAt !== undefined && first < store.collapsedAt) {
        reader.fail(`${sign} buckets start at ${first}, below their collapse index ${store.collapsedAt}`);
      }
      for (let i = 0; i < buckets; i++) {
        if (i > 0) {
          const step = reader.varint(`${sign} step to bucket ${i + 1} of ${buckets}`);
          if (step === 0) reader.fail(`${sign} bucket ${i + 1} of ${buckets} repeats index ${index}`);
          index += step;
          checkIndex(reader, mapping, index, `${sign} index of bucket ${i + 1} of ${buckets}`);
          if (index - first >= maxBuckets) reader.fail(`${sign} buckets span ${index - first + 1} indices, more than the limit of ${maxBuckets}`);
        }
        const count = reader.varint(`${sign} count of bucket ${i + 1} of ${buckets}`);
        if (count === 0) reader.fail(`${sign} bucket ${i + 1} of ${buckets} (index ${index}) is empty`);
        store.add(index, count);
      }
    }
    const total = sketch.count;
    if (!Number.isSafeInteger(total)) reader.fail(`the counts add up to ${total}, past 2^53-1`);
    if (total > 0) {
      const minValue = reader.f64('minimum');
      const maxValue = reader.f64('maximum');
      if (!Number.isFinite(minValue) || !Number.isFinite(maxValue) || minValue > maxValue) {
        reader.fail(`minimum ${minValue} and maximum ${maxValue} are not finite and in order`);
      }
      sketch.minValue = minValue;
      sketch.maxValue = maxValue;
      if (!samePlace(sketch.placeOf(minValue), sketch.firstPlace()) || !samePlace(sketch.placeOf(maxValue), sketch.lastPlace())) {
        reader.fail(`minimum ${minValue} or maximum ${maxValue} is not in the first or last counted bucket`);
      }
    }
    reader.checksum(start);
    return sketch;
  }

  /** The bucket a value would be counted in now (collapse included). */
  private placeOf(value: number): BucketPlace {
    if (value >= MIN_NORMAL) return { sign: 1, index: Math.max(this.mapping.index(value), this.positive.collapsedAt ?? -Infinity) };
    if (value <= -MIN_NORMAL) return { sign: -1, index: Math.max(this.mapping.index(-value), this.negative.collapsedAt ?? -Infinity) };
    return { sign: 0, index: 0 };
  }

  private firstPlace(): BucketPlace | undefined {
    const negative = this.negative.countedRange();
    if (negative !== undefined) return { sign: -1, index: negative[1] };
    if (this.zeroCount > 0) return { sign: 0, index: 0 };
    const positive = this.positive.countedRange();
    return positive === undefined ? undefined : { sign: 1, index: positive[0] };
  }

  private lastPlace(): BucketPlace | undefined {
    const positive = this.positive.countedRange();
    if (positive !== undefined) return { sign: 1, index: positive[1] };
    if (this.zeroCount > 0) return { sign: 0, index: 0 };
    const negative = this.negative.countedRange();
    return negative === undefined ? undefined : { sign: -1, index: negative[0] };
  }
}

/** a + fraction * (b - a), without overflowing when a and b are huge and of opposite signs. */
export function interpolate(a: number, b: number, fraction: number): number {
  if (a === b) return a;
  return (a >= 0) === (b >= 0) ? a + fraction * (b - a) : (1 - fraction) * a + fraction * b;
}

function samePlace(a: BucketPlace, b: BucketPlace | undefined): boolean {
  return b !== undefined && a.sign === b.sign && a.index === b.index;
}

function checkIndex(reader: ByteReader, mapping: LogMapping, index: number, field: string): void {
  if (index < mapping.lowestIndex || index > mapping.highestIndex) {
    reader.fail(`${field} ${index} is outside ${mapping.lowestIndex}..${mapping.highestIndex}, the range of finite magnitudes`);
  }
}
