#!/usr/bin/env node
// The prom-multiproc command. A plain `scrape --dir <path> [--openmetrics]`, what a cron job or
// a textfile collector runs, is recognized here and run without loading the argument parser and
// the other commands (a good part of a one-shot scrape's time); any other command line, help
// and errors included, goes to cliProgram.ts, which would run that one the same way.
import { createRequire } from 'node:module';
import { commandOutcome } from './cliOutcome.js';
import { plainScrape, printScrape } from './cliScrape.js';

// Through the package's own name (its "exports" lists package.json), so the same line works
// from src/ under tsx and from the compiled dist/esm/.
function packageVersion(): string {
  return (createRequire(import.meta.url)('prom-multiproc/package.json') as { version: string }).version;
}

const plain = plainScrape(process.argv.slice(2));
// exitCode rather than exit(), so that output still being piped to stdout is not cut off.
process.exitCode = plain === undefined
  ? await (await import('./cliProgram.js')).main(process.argv, packageVersion())
  : await commandOutcome(() => printScrape(plain.dir, plain.openMetrics));
