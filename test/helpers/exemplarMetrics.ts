// The metrics test/exemplars.test.ts and its writers (exemplarWriter.ts) share: a counter and a
// histogram with exemplars, registered in an OpenMetrics registry, as an application defines them.
import { Counter, Histogram, type Registry } from '../../packages/prom-multiproc/src/index.js';

export const LATENCY_BUCKETS = [0.1, 0.5, 1];

export function exemplarMetrics(registry: Registry) {
  return {
    jobs: new Counter({ name: 'test_jobs_total', help: 'Jobs done.', labelNames: ['queue'], enableExemplars: true, registers: [registry] }),
    latency: new Histogram({
      name: 'test_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: LATENCY_BUCKETS, enableExemplars: true, registers: [registry],
    }),
  };
}
