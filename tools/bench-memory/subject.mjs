// One process of tools/bench-memory.ts: imports a client the way an application does, creates
// the workload's series (or none, for the import-only baseline), touches each once, waits for
// any write to happen, and prints its memory as JSON. Plain JavaScript, run by node itself
// with --expose-gc, so that no TypeScript loader's memory is counted.
//
//   node --expose-gc subject.mjs <library specifier or path> <import|series> <counter> <gauge> <histogram>
import { pathToFileURL } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { isAbsolute } from 'node:path';

const [library, phase, counterSeries, gaugeSeries, histogramSeries] = process.argv.slice(2);
const specifier = isAbsolute(library) ? pathToFileURL(library).href : library;
const { Counter, Gauge, Histogram } = await import(specifier);

// Two labels each, as a service labels them: a route and a status code (or an instance).
const STATUSES = ['200', '201', '204', '301', '400', '404', '500', '503'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];

function labelSets(count, second) {
  const sets = [];
  for (let i = 0; sets.length < count; i++) {
    for (const value of second) {
      if (sets.length === count) break;
      sets.push([`/api/v1/resource${i}/items`, value]);
    }
  }
  return sets;
}

if (phase === 'series') {
  // In the global registry, as an application's metrics are.
  const counter = new Counter({ name: 'http_requests_total', help: 'Requests served.', labelNames: ['route', 'status'] });
  const gauge = new Gauge({ name: 'queue_depth', help: 'Items waiting per route and status.', labelNames: ['route', 'status'] });
  const histogram = new Histogram({ name: 'http_request_duration_seconds', help: 'Request latency.', labelNames: ['route', 'method'] });
  for (const [route, status] of labelSets(Number(counterSeries), STATUSES)) counter.inc({ route, status });
  labelSets(Number(gaugeSeries), STATUSES).forEach(([route, status], i) => gauge.set({ route, status }, i));
  labelSets(Number(histogramSeries), METHODS).forEach(([route, method], i) => histogram.observe({ route, method }, (i % 40) / 100));
  // Any write the client schedules (a turn's end, a coalescing timer) happens in this time.
  await new Promise((resolve) => setTimeout(resolve, 250));
}

globalThis.gc();
globalThis.gc();
const memory = process.memoryUsage();
process.stdout.write(JSON.stringify({
  rss: memory.rss,
  heapUsed: memory.heapUsed,
  external: memory.external,
  arrayBuffers: memory.arrayBuffers,
  maxRss: process.resourceUsage().maxRSS * 1024,
  // V8 grows its young generation with what survives its collections, and keeps the pages:
  // a large share of the RSS difference between two clients can be here, not in heapUsed.
  newSpace: getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0,
}));
