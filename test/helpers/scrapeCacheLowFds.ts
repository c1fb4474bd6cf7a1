// Child of test/scrapeCache.test.ts, started under a low descriptor limit (ulimit -n): scrapes
// a directory three times through one ScrapeCache that would keep more files open than the
// limit allows, and prints what each scrape skipped and the merged total.
// Run as: node --import tsx scrapeCacheLowFds.ts <dir>
import { collectDirectory, ScrapeCache } from '../../packages/prom-multiproc/src/index.js';

const dir = process.argv[2]!;
const cache = new ScrapeCache({ maxKeptFiles: 4096 });
const scrapes: { skipped: string[]; total: number }[] = [];
for (let i = 0; i < 3; i++) {
  const { families, skipped } = await collectDirectory(dir, { cache });
  const total = families.flatMap((family) => family.samples).reduce((sum, sample) => sum + sample.value, 0);
  scrapes.push({ skipped: skipped.map((s) => s.reason), total });
}
console.log(JSON.stringify(scrapes));
