// Histogram bucket bounds, as prom-client's linearBuckets and exponentialBuckets make them:
// the same checks and messages, and the same floating-point values (exponential bounds are
// multiplied step by step, not computed as start * factor ** i, whose last digits differ).

/** `count` bounds: start, start + width, start + 2 * width, ... */
export function linearBuckets(start: number, width: number, count: number): number[] {
  if (count < 1) throw new Error('Linear buckets needs a positive count');
  // new Array throws prom-client's RangeError for a count that is not a whole number.
  const bounds = new Array<number>(count);
  for (let i = 0; i < count; i++) bounds[i] = start + i * width;
  return bounds;
}

/** `count` bounds: start, start * factor, start * factor * factor, ... */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (start <= 0) throw new Error('Exponential buckets needs a positive start');
  if (count < 1) throw new Error('Exponential buckets needs a positive count');
  if (factor <= 1) throw new Error('Exponential buckets needs a factor greater than 1');
  const bounds = new Array<number>(count);
  let bound = start;
  for (let i = 0; i < count; i++) {
    bounds[i] = bound;
    bound *= factor;
  }
  return bounds;
}
