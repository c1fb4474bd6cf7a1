// An application process for test/summaryQuantilesPublic.test.ts, using only the package's public
// entry: it creates a Summary from its configuration, takes PROM_MULTIPROC_DIR and
// PROM_MULTIPROC_IDENTITY from its environment as any process would, and on the parent's word
// observes one distribution per route. Its raw observations go to the parent on stdout, so the
// parent can compute the exact quantiles of what every process observed.
//
// argv: one ChildSpec as JSON. stdin: one line ("go") starts the observations, so that several
// children observe at about the same time (their windows start together). stdout: JSON lines,
// { type: 'ready' } then { type: 'observed', ... }. Afterwards the process ends by itself
// (process 'exit' writes its quantile side file), or with `hold` waits to be killed.
import { Summary } from '../../packages/prom-multiproc/src/index.js';
import { draw, type Distribution } from './summaryDistributions.js';

export interface ChildSpec {
  summary: { name: string; help: string; percentiles: number[]; maxAgeSeconds?: number; ageBuckets?: number };
  distribution: Distribution;
  seed: number;
  routes: { route: string; count: number; scale: number }[];
  /** Stay alive after observing, until killed (no 'exit', so only the timed writes count). */
  hold: boolean;
}

export type ChildLine =
  | { type: 'ready' }
  | {
      type: 'observed';
      /** Date.now() before the first observation: no window slot of this process starts earlier. */
      startedAt: number;
      /** Date.now() after the last observation: no window slot of this process starts later. */
      observedAt: number;
      observations: Record<string, number[]>;
    };

const spec = JSON.parse(process.argv[2]!) as ChildSpec;
const summary = new Summary({ ...spec.summary, labelNames: ['route'] });

function say(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

process.stdin.once('data', () => {
  process.stdin.destroy();
  const startedAt = Date.now();
  const observations: Record<string, number[]> = {};
  spec.routes.forEach(({ route, count, scale }, i) => {
    const values = draw(spec.distribution, scale, spec.seed * 31 + i, count);
    for (const value of values) summary.observe({ route }, value);
    observations[route] = values;
  });
  say({ type: 'observed', startedAt, observedAt: Date.now(), observations });
  // Nothing else keeps the process alive: it ends, and 'exit' writes the side file.
  if (spec.hold) setInterval(() => {}, 60_000);
});
say({ type: 'ready' });
