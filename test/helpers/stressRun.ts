// The moving parts shared by test/stress.test.ts, test/chaos.test.ts and tools/soak.ts:
// writer processes (stressWriter.ts) whose progress lines are collected, and a scraper that
// merges the directory every few milliseconds and checks each scrape as it goes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { MultiprocessRegistry } from '../../packages/prom-multiproc/src/index.js';
import { readEntries } from '../../packages/prom-multiproc/src/format/format.js';
import { parseEntryKey } from '../../packages/prom-multiproc/src/format/pythonJson.js';
import { compiledWriter } from './stressBuild.js';
import { parseExposition, seriesValues, type ExpositionFormat } from './stressExposition.js';
import { isMonotonic } from './stressWorkload.js';


export interface WriterOptions {
  events: number;
  batch: number;
  pauseMs: number;
  /** A chosen identity (a slot name, reused after a restart); by default the pid. */
  identity?: string;
}

export interface Writer {
  child: ChildProcess;
  /** The identity its files are named by. */
  identity: string;
  /** Events known to be on disk: the last `flushed` (or `done`) line. */
  flushed: number;
  /** Events of the last batch the writer began to record (its `started` line). */
  started: number;
  finished: boolean;
  /** Wall-clock ms (wallClockMs): when it was spawned, began to open its store, and had it open. */
  spawnedAt: number;
  openingAt?: number;
  readyAt?: number;
  /** Resolves when the writer has created its metrics and begins recording. */
  ready: Promise<void>;
  /** Resolves when the process has ended and its stdout is read to the end. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function startWriter(dir: string, options: WriterOptions): Writer {
  const args = [String(options.events), String(options.batch), String(options.pauseMs), ...(options.identity === undefined ? [] : [options.identity])];
  const env: NodeJS.ProcessEnv = { ...process.env, PROM_MULTIPROC_DIR: dir };
  delete env.PROMETHEUS_MULTIPROC_DIR;
  delete env.PROM_MULTIPROC_IDENTITY;
  const child = spawn(process.execPath, [compiledWriter(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const writer: Writer = {
    child,
    identity: options.identity ?? String(child.pid),
    flushed: 0,
    started: 0,
    finished: false,
    spawnedAt: wallClockMs(),
    ready: undefined as never,
    ended: undefined as never,
    stderr: () => stderr,
  };
  const lines = createInterface({ input: child.stdout! });
  let markReady: () => void = () => {};
  writer.ready = new Promise((resolve) => (markReady = resolve));
  lines.on('line', (line) => {
    const [word, first, second] = line.split(' ');
    if (word === 'opening') writer.openingAt = Number(first);
    else if (word === 'ready') {
      writer.readyAt = Number(first);
      markReady();
    }
    else if (word === 'started') writer.started = Number(second);
    else if (word === 'flushed') writer.flushed = Number(first);
    else if (word === 'done') {
      writer.flushed = Number(first);
      writer.finished = true;
    }
  });
  const linesClosed = new Promise<void>((resolve) => lines.once('close', resolve));
  writer.ended = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      void linesClosed.then(() => resolve({ code, signal }));
    });
  });
  return writer;
}

/** Milliseconds since the epoch, sub-millisecond, on the clock every process of this host shares. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The sum of one series over a single file, read straight from its bytes (ground truth). */
export function fileSeriesTotal(file: string, sampleName: string): number {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  if (bytes.length === 0) return 0;
  let total = 0;
  for (const entry of readEntries(bytes)) {
    if (parseEntryKey(entry.key).sampleName === sampleName) total += entry.value;
  }
  return total;
}

export function counterFile(dir: string, identity: string): string {
  return path.join(dir, `counter_${identity}.db`);
}

export interface ScrapeFailure {
  scrape: number;
  message: string;
}

export interface ScraperStats {
  scrapes: number;
  /** Scrapes per format. */
  text: number;
  openMetrics: number;
  /** The longest scrape (collect + render + parse), ms. */
  slowestMs: number;
  /** Files skipped, by reason, over every scrape. */
  skipped: Map<string, number>;
  failures: ScrapeFailure[];
}

/**
 * Scrapes `dir` every `intervalMs` (alternating the text format and OpenMetrics) until
 * stopped. A scrape fails when it throws, does not parse, or shows a counter-like series
 * below its value in an earlier scrape. Skipped files are counted; `allowSkip` decides which
 * reasons are failures.
 */
export class Scraper {
  readonly stats: ScraperStats = { scrapes: 0, text: 0, openMetrics: 0, slowestMs: 0, skipped: new Map(), failures: [] };
  private readonly highest = new Map<string, number>();
  private readonly registries: Record<ExpositionFormat, MultiprocessRegistry>;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(
    dir: string,
    private readonly intervalMs: number,
    private readonly allowSkip: (file: string, reason: string) => boolean = () => false,
  ) {
    this.registries = {
      text: new MultiprocessRegistry({ dir }),
      openmetrics: new MultiprocessRegistry({ dir, contentType: Registry.OPENMETRICS_CONTENT_TYPE }),
    };
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<ScraperStats> {
    this.stopping = true;
    await this.loop;
    return this.stats;
  }

  /** One scrape, checked; returns the series it saw. */
  async scrapeOnce(): Promise<Map<string, number>> {
    const number = ++this.stats.scrapes;
    const format: ExpositionFormat = number % 2 === 0 ? 'openmetrics' : 'text';
    if (format === 'text') this.stats.text++;
    else this.stats.openMetrics++;
    const begun = performance.now();
    const registry = this.registries[format];
    const body = await registry.metrics();
    const series = seriesValues(parseExposition(body, format));
    this.stats.slowestMs = Math.max(this.stats.slowestMs, performance.now() - begun);
    for (const { file, reason } of registry.lastCollection?.skipped ?? []) {
      const short = reason.replace(/\d+/g, 'N');
      this.stats.skipped.set(short, (this.stats.skipped.get(short) ?? 0) + 1);
      if (!this.allowSkip(file, reason)) this.fail(number, `skipped ${file}: ${reason}`);
    }
    for (const [key, value] of series) {
      if (!isMonotonic(key)) continue;
      const highest = this.highest.get(key) ?? 0;
      if (value < highest) this.fail(number, `${key} went down from ${highest} to ${value} (${format})`);
      else this.highest.set(key, value);
    }
    return series;
  }

  private fail(scrape: number, message: string): void {
    if (this.stats.failures.length < 20) this.stats.failures.push({ scrape, message });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const begun = performance.now();
      try {
        await this.scrapeOnce();
      } catch (error) {
        this.fail(this.stats.scrapes, `scrape threw: ${(error as Error).stack ?? String(error)}`);
      }
      const rest = this.intervalMs - (performance.now() - begun);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, rest)));
    }
  }
}
