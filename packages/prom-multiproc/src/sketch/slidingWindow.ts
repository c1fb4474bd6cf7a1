// prom-client's sliding window for summary quantiles, over mergeable sketches.
//
// prom-client (lib/timeWindowQuantiles.js): with both maxAgeSeconds and ageBuckets set, a ring
// of ageBuckets digests rotates every maxAgeSeconds / ageBuckets, counted from when the series
// was created; rotation is lazy (on observe and on read) and happens once more than a whole
// rotation time has passed. Every observation goes into every digest of the ring, a rotation
// empties the digest it leaves, and reads use the current one, which therefore holds what was
// observed since it was last emptied: between (ageBuckets - 1) and ageBuckets rotation times.
// Without both options there is no window: quantiles cover everything since creation.
//
// Here each slot holds only what was observed during its own rotation time, and a read merges
// the slots of the ring; that is the same set of observations, and it lets another process
// decide what is in the window from the slots' start times alone. A slot that began at s is
// in the window at time t while t - s <= maxAgeSeconds (the rule the ring follows, derived
// from its rotation times), so a scrape drops the slots of a process that stopped rotating,
// a dead one included, once they are older than the window.
import { QuantileSketch, type SketchOptions } from './quantileSketch.js';

export interface WindowOptions {
  /** With ageBuckets: quantiles describe only the last maxAgeSeconds (prom-client's option). */
  maxAgeSeconds?: number;
  /** With maxAgeSeconds: how many slots the window rotates through (prom-client's option). */
  ageBuckets?: number;
  /** The clock, in milliseconds since the epoch; Date.now by default. */
  now?: () => number;
  sketch?: SketchOptions;
}

/** One slot of a window: what was observed from startMs on, for one rotation time. */
export interface WindowSlot {
  startMs: number;
  sketch: QuantileSketch;
}

/** Whether a slot that began at startMs is in a window of maxAgeMs (0: no window) at nowMs. */
export function slotInWindow(startMs: number, maxAgeMs: number, nowMs: number): boolean {
  return maxAgeMs === 0 || nowMs - startMs <= maxAgeMs;
}

/** Merges the slots still in the window into `into` (a new sketch by default). */
export function mergeWindowSlots(
  slots: readonly WindowSlot[],
  maxAgeMs: number,
  nowMs: number,
  into: QuantileSketch,
): QuantileSketch {
  for (const slot of slots) if (slotInWindow(slot.startMs, maxAgeMs, nowMs)) into.merge(slot.sketch);
  return into;
}

/** The window length in ms for prom-client's options: 0 (no window) unless both are set. */
export function windowLengthMs(maxAgeSeconds: number | undefined, ageBuckets: number | undefined): number {
  // prom-client rotates only when both are truthy.
  if (!maxAgeSeconds || !ageBuckets) return 0;
  if (typeof maxAgeSeconds !== 'number' || !(maxAgeSeconds > 0) || !Number.isFinite(maxAgeSeconds)) {
    throw new RangeError(`maxAgeSeconds must be a positive number of seconds, not ${String(maxAgeSeconds)}`);
  }
  if (!Number.isSafeInteger(ageBuckets) || ageBuckets < 1) {
    throw new RangeError(`ageBuckets must be a positive integer, not ${String(ageBuckets)}`);
  }
  return maxAgeSeconds * 1000;
}

export class SlidingWindow {
  /** The window length in ms; 0 when there is no window. */
  readonly maxAgeMs: number;
  private readonly rotationMs: number;
  private readonly now: () => number;
  private readonly sketchOptions: SketchOptions;
  /** The ring, and the slot observations go to now. */
  private readonly slots: WindowSlot[];
  private current = 0;
  private changed = true;

  constructor(options: WindowOptions = {}) {
    this.maxAgeMs = windowLengthMs(options.maxAgeSeconds, options.ageBuckets);
    const slotCount = this.maxAgeMs === 0 ? 1 : options.ageBuckets!;
    this.rotationMs = this.maxAgeMs === 0 ? Infinity : this.maxAgeMs / slotCount;
    this.now = options.now ?? Date.now;
    this.sketchOptions = options.sketch ?? {};
    const createdAt = this.now();
    this.slots = [];
    for (let i = 0; i < slotCount; i++) this.slots.push({ startMs: createdAt, sketch: new QuantileSketch(this.sketchOptions) });
  }

  get relativeAccuracy(): number {
    return this.slots[0]!.sketch.relativeAccuracy;
  }

  observe(value: number): void {
    this.rotate();
    this.slots[this.current]!.sketch.add(value);
    this.changed = true;
  }

  /** Everything observed in the window now, as one sketch. */
  merged(): QuantileSketch {
    const nowMs = this.rotate();
    return mergeWindowSlots(this.slots, this.maxAgeMs, nowMs, new QuantileSketch(this.sketchOptions));
  }

  /**
   * The non-empty slots of the ring now, oldest first, for writing out: the sketches are the
   * window's own (copy before changing them).
   */
  liveSlots(): WindowSlot[] {
    this.rotate();
    const live: WindowSlot[] = [];
    for (let i = 1; i <= this.slots.length; i++) {
      const slot = this.slots[(this.current + i) % this.slots.length]!;
      if (slot.sketch.count > 0) live.push(slot);
    }
    return live;
  }

  /** Whether anything changed since the last takeChanged() (observations, rotations that emptied a slot). */
  takeChanged(): boolean {
    this.rotate();
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  /** Empties every slot (prom-client's reset()); the rotation times go on. */
  reset(): void {
    for (const slot of this.slots) slot.sketch.clear();
    this.changed = true;
  }

  /** Rotates as prom-client does, and returns the time it rotated to. */
  private rotate(): number {
    // Without a window the time does not matter: no clock read on the hot path.
    if (this.maxAgeMs === 0) return 0;
    const nowMs = this.now();
    const currentStart = this.slots[this.current]!.startMs;
    const elapsed = nowMs - currentStart;
    // prom-client rotates while more than a whole rotation time has passed: at 2.5 rotation
    // times, twice; at exactly 2, once.
    if (!(elapsed > this.rotationMs)) return nowMs;
    const rotations = Math.ceil(elapsed / this.rotationMs) - 1;
    // Only the last ageBuckets rotations leave anything behind.
    const emptied = Math.min(rotations, this.slots.length);
    for (let i = rotations - emptied + 1; i <= rotations; i++) {
      this.current = (this.current + 1) % this.slots.length;
      const slot = this.slots[this.current]!;
      if (slot.sketch.count > 0) this.changed = true;
      slot.sketch.clear();
      slot.startMs = currentStart + i * this.rotationMs;
    }
    return nowMs;
  }
}
