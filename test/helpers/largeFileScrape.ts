// Child of test/largeFiles.test.ts: scrapes a directory twice through one registry (the
// second scrape goes through what the scrape cache kept), and prints the exposition's totals
// per sample name, what was skipped, how long each scrape took and the peak RSS before and
// after, so the test can hold the scrape's memory against the files' size.
// Run as: node --import tsx largeFileScrape.ts <dir>
import { MultiprocessRegistry, setProblemReporter } from '../../packages/prom-multiproc/src/index.js';
import { parseExposition } from './stressExposition.js';

const dir = process.argv[2]!;
const warnings: string[] = [];
setProblemReporter((problem) => warnings.push(problem.message));

const peakRssBytes = (): number => process.resourceUsage().maxRSS * 1024;
const rssBeforeBytes = peakRssBytes();
const registry = new MultiprocessRegistry({ dir });
const scraped: { ms: number; body: string; skipped: string[] }[] = [];
for (let i = 0; i < 2; i++) {
  const started = performance.now();
  const body = await registry.metrics();
  const ms = performance.now() - started;
  scraped.push({ ms, body, skipped: (registry.lastCollection?.skipped ?? []).map(({ file, reason }) => `${file}: ${reason}`) });
}
// Taken before the bodies are parsed here, which is this test's cost, not the scrape's.
const rssPeakBytes = peakRssBytes();
registry.close();
const scrapes = scraped.map(({ ms, body, skipped }) => {
  const totals: Record<string, number> = {};
  const series: Record<string, number> = {};
  for (const family of parseExposition(body, 'text')) {
    for (const sample of family.samples) {
      totals[sample.name] = (totals[sample.name] ?? 0) + sample.value;
      series[sample.name] = (series[sample.name] ?? 0) + 1;
    }
  }
  return { ms, skipped, totals, series };
});
console.log(JSON.stringify({ rssBeforeBytes, rssPeakBytes, scrapes, warnings }));
