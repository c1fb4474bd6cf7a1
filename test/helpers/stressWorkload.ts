// The workload of the stress, chaos and soak runs, and what it must leave in the merge.
// Event i of a writer increments every counter-like metric once, with values that are exact
// in binary floating point, so the merged totals can be compared with ===, whatever the
// order in which the processes' values are summed.

export const KINDS = ['read', 'write', 'delete'] as const;
export const ROUTES = ['/a', '/b'] as const;
/** Observations cycle through these; each bucket of BUCKETS gets exactly one of every four. */
export const OBSERVATIONS = [0.25, 0.75, 2, 8] as const;
export const BUCKETS = [0.5, 1, 4];
/** The bounds as the le label shows them (Python's float repr). */
const BUCKET_LABELS = ['0.5', '1.0', '4.0'];
export const UNIT = 0.5;

export const NAMES = {
  events: 'stress_events',
  units: 'stress_units',
  latency: 'stress_latency_seconds',
  payload: 'stress_payload_bytes',
  progressSum: 'stress_progress_sum',
  progressMax: 'stress_progress_max',
  progressMin: 'stress_progress_min',
  progressLatest: 'stress_progress_latest',
  progressAll: 'stress_progress',
  level: 'stress_level',
} as const;

/** Series whose merged value may never go down from one scrape to the next. */
export function isMonotonic(seriesKey: string): boolean {
  return /^(stress_events_total|stress_units_total|stress_latency_seconds_(bucket|count|sum)|stress_payload_bytes_(count|sum))\{/.test(seriesKey);
}

/** How many of the events 0 .. n-1 fall on index r modulo m. */
function countOf(n: number, r: number, m: number): number {
  return n <= r ? 0 : Math.floor((n - 1 - r) / m) + 1;
}

/**
 * The merged series (keys as stressExposition's seriesKey, text format names) after writers
 * that recorded `events[w]` events each, all still counted (their files present).
 */
export function expectedTotals(events: number[]): Map<string, number> {
  const totals = new Map<string, number>();
  const add = (key: string, value: number) => totals.set(key, (totals.get(key) ?? 0) + value);
  for (const n of events) {
    KINDS.forEach((kind, k) => add(`stress_events_total{kind="${kind}"}`, countOf(n, k, KINDS.length)));
    add('stress_units_total{}', n * UNIT);
    ROUTES.forEach((route, r) => {
      // Event i observes OBSERVATIONS[i % 4] on route ROUTES[i % 2]: routes see alternate observations.
      let sum = 0;
      let count = 0;
      const perBound = BUCKETS.map(() => 0);
      OBSERVATIONS.forEach((value, o) => {
        if (o % ROUTES.length !== r) return;
        const times = countOf(n, o, OBSERVATIONS.length);
        sum += value * times;
        count += times;
        BUCKETS.forEach((bound, b) => {
          if (value <= bound) perBound[b]! += times;
        });
      });
      BUCKETS.forEach((_bound, b) => add(`stress_latency_seconds_bucket{le="${BUCKET_LABELS[b]}",route="${route}"}`, perBound[b]!));
      add(`stress_latency_seconds_bucket{le="+Inf",route="${route}"}`, count);
      add(`stress_latency_seconds_count{route="${route}"}`, count);
      add(`stress_latency_seconds_sum{route="${route}"}`, sum);
    });
    add('stress_payload_bytes_count{}', n);
    // Event i observes (i % 4) + 1 bytes.
    add('stress_payload_bytes_sum{}', [0, 1, 2, 3].reduce((sum, r) => sum + (r + 1) * countOf(n, r, 4), 0));
  }
  return totals;
}
