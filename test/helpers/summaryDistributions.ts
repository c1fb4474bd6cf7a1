// Reproducible observation streams for test/summaryQuantilesPublic.test.ts: the shapes summary
// quantiles meet in practice, each drawn from a seeded generator so that a failure repeats.

export type Distribution = 'lognormal' | 'uniform' | 'bimodal' | 'pareto';

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream of `distribution` around `scale` (a typical value, e.g. a latency in seconds). */
export function sampler(distribution: Distribution, scale: number, seed: number): () => number {
  const uniform = seededUniform(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  switch (distribution) {
    // Request latencies: median `scale`, a long right tail.
    case 'lognormal':
      return () => scale * Math.exp(0.8 * normal());
    case 'uniform':
      return () => 2 * scale * uniform();
    // Cache hits (some answered in no measurable time, the rest fast) and misses 100 times slower.
    case 'bimodal':
      return () => {
        const u = uniform();
        return u < 0.1 ? 0 : u < 0.6 ? 0.02 * scale * (1 + u) : scale * (2 + u);
      };
    // Heavy tail (Pareto, shape 1.3): the rare request that takes a hundred times the usual.
    case 'pareto':
      return () => (0.5 * scale) / Math.pow(1 - uniform(), 1 / 1.3);
  }
}

/** `count` observations of one stream. */
export function draw(distribution: Distribution, scale: number, seed: number, count: number): number[] {
  const next = sampler(distribution, scale, seed);
  return Array.from({ length: count }, next);
}
