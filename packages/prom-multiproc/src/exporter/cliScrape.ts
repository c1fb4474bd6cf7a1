// The `scrape` command's work, one scrape of the directory printed to stdout, and the plain
// command lines cli.ts runs without the argument parser.

/** Prints the merged exposition of `dir`; only the reading side's modules loaded, nothing kept for a next scrape. */
export async function printScrape(dir: string, openMetrics: boolean): Promise<void> {
  const [{ scrapeOnce }, { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE }] = await Promise.all([
    import('../scrape/scrapeOnce.js'),
    import('../scrape/exposition.js'),
  ]);
  process.stdout.write(await scrapeOnce(dir, openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE));
}

export interface PlainScrape {
  dir: string;
  openMetrics: boolean;
}

/** `scrape` with --dir given once (as `--dir <path>` or `--dir=<path>`) and at most --openmetrics besides; undefined for anything else. */
export function plainScrape(args: readonly string[]): PlainScrape | undefined {
  if (args[0] !== 'scrape') return undefined;
  let dir: string | undefined;
  let openMetrics = false;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--openmetrics' && !openMetrics) openMetrics = true;
    else if (arg === '--dir' && dir === undefined && i + 1 < args.length) dir = args[++i]!;
    else if (arg.startsWith('--dir=') && dir === undefined) dir = arg.slice('--dir='.length);
    else return undefined;
  }
  // No directory (the environment's), an empty one or one that reads as an option: the parser's messages.
  if (dir === undefined || dir === '' || dir.startsWith('-')) return undefined;
  return { dir, openMetrics };
}
