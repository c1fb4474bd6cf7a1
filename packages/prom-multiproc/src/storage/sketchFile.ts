// Writes a process's summary quantiles to its side file, quantiles_<identity>.pmq, in the
// shared directory (format: sketch/quantileFile.ts).
//
// Writes. The whole file is encoded anew, written under a temporary name
// (fileNames.temporaryNameOf) and renamed over the old one, so a reader sees the previous
// version or the new one, never a mix. That costs a rewrite of every series of the process,
// so it happens at most once per writeIntervalMs (1 s by default) after a change, from an
// unref'd timer that never keeps a process alive, and on process 'exit' (also after
// process.exit() and an uncaught exception).
//
// Durability. A process killed without 'exit' (SIGKILL, or a SIGTERM it does not handle)
// loses the quantile observations of its last writeIntervalMs at most. Its `_count` and `_sum`
// are written by the metrics files at the end of each event-loop turn and stay exact; so for
// that short time the quantiles describe slightly fewer observations than `_count` counts.
//
// Restarts. A process that takes over an identity (a restarted worker with the same
// NODE_APP_INSTANCE, a reused pid) adopts the series found in that identity's file and writes
// them on, as the metrics files carry their counts on: windowed ones until their slots age out,
// the others for good (records of one series without a window are merged into one, so the
// file does not grow with restarts). An unreadable file is reported and started anew.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { writerIdentityProblem } from '../format/fileNames.js';
import { forgetReport, reportOnce } from '../common/report.js';
import { SketchFormatError } from '../sketch/bytes.js';
import { decodeQuantileFile, encodeQuantileFile, type QuantileRecord } from '../sketch/quantileFile.js';
import { quantileFileNameOf } from '../sketch/quantileFileName.js';
import { slotInWindow } from '../sketch/slidingWindow.js';
import { replaceWhole } from './replaceWhole.js';

export const DEFAULT_WRITE_INTERVAL_MS = 1000;
// O_NOFOLLOW: a symlink planted in a shared directory must not redirect our reads.
const OPEN_FOR_READING = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

export interface QuantileFileWriterOptions {
  dir: string;
  /** The process identity, the same as its metrics files' (and its identity lock's). */
  identity: string;
  /** The shortest time between two writes; 1000 ms by default. */
  writeIntervalMs?: number;
  /** The clock for write times and for ageing adopted slots, ms since the epoch; Date.now by default. */
  now?: () => number;
}

/** One series, read each time the file is written. */
export interface QuantileSeriesSource {
  record(): QuantileRecord;
}

export class QuantileFileWriter {
  readonly path: string;
  readonly writeIntervalMs: number;
  private readonly now: () => number;
  private readonly series = new Map<string, QuantileSeriesSource>();
  /** Series found in the file when this process took the identity over. */
  private readonly adopted: Map<string, QuantileRecord[]>;
  private pending = false;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() of the last write attempt: the interval must not follow wall-clock steps. */
  private lastWriteAt = -Infinity;
  private closed = false;
  /** How many times the file was written (for diagnostics and tests). */
  writes = 0;

  constructor(options: QuantileFileWriterOptions) {
    const problem = writerIdentityProblem(options.identity);
    if (problem !== undefined) {
      throw new MultiprocessDirectoryError(`process identity "${options.identity}" cannot name a quantile file: ${problem}`, options.dir);
    }
    const interval = options.writeIntervalMs ?? DEFAULT_WRITE_INTERVAL_MS;
    if (!(interval >= 0 && Number.isFinite(interval))) throw new RangeError(`writeIntervalMs must be a finite number of ms, not ${String(interval)}`);
    this.writeIntervalMs = interval;
    this.path = path.join(path.resolve(options.dir), quantileFileNameOf(options.identity));
    this.now = options.now ?? Date.now;
    this.adopted = consolidate(this.readExisting());
    if (this.adopted.size > 0) this.changed();
  }

  /** Writes `source` as series `key` from now on (replacing any other source of that key). */
  register(key: string, source: QuantileSeriesSource): void {
    this.series.set(key, source);
    this.changed();
  }

  /** Stops writing series `key`, adopted records included (remove(), reset()). */
  unregister(key: string): void {
    this.series.delete(key);
    this.adopted.delete(key);
    this.changed();
  }

  /** Forgets the adopted records of `key` only (its own observations stay): a reset(). */
  dropAdopted(key: string): void {
    if (this.adopted.delete(key)) this.changed();
  }

  /** Something to write: schedules a write, no sooner than writeIntervalMs after the last. */
  changed(): void {
    this.pending = true;
    if (this.timer !== undefined || this.closed) return;
    const delay = Math.max(0, this.lastWriteAt + this.writeIntervalMs - performance.now());
    this.timer = setTimeout(this.onTimer, delay);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
  };

  /** Writes now if anything changed. A failure is reported (once) and retried after the interval. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.pending) return;
    this.pending = false;
    this.lastWriteAt = performance.now();
    try {
      replaceWhole(this.path, encodeQuantileFile({ writtenAtMs: this.now(), records: this.records() }));
      this.writes++;
      forgetReport(`quantile-write\u0000${this.path}`);
    } catch (error) {
      reportOnce(`quantile-write\u0000${this.path}`, new Error(
        `prom-multiproc could not write ${this.path}: ${(error as Error).message}. ` +
          'Summary quantiles of this process are kept in memory and written again later; check the directory (exists, writable).',
      ));
      if (!this.closed) this.changed();
    }
  }

  /** Writes what is pending and stops; the file stays for the scrape (the window ages it out). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (openWriters.get(this.path) === this) openWriters.delete(this.path);
  }

  private records(): QuantileRecord[] {
    const records: QuantileRecord[] = [];
    for (const source of this.series.values()) records.push(source.record());
    const nowMs = this.now();
    for (const [key, list] of this.adopted) {
      const kept: QuantileRecord[] = [];
      for (const record of list) {
        const slots = record.slots.filter((slot) => slotInWindow(slot.startMs, record.maxAgeMs, nowMs));
        if (slots.length > 0 || record.maxAgeMs === 0) kept.push({ ...record, slots });
      }
      if (kept.length === 0) this.adopted.delete(key);
      else this.adopted.set(key, kept);
      records.push(...kept);
    }
    return records;
  }

  private readExisting(): QuantileRecord[] {
    let bytes: Buffer;
    try {
      const fd = fs.openSync(this.path, OPEN_FOR_READING);
      try {
        bytes = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.reportUnreadable((error as Error).message);
      return [];
    }
    try {
      return decodeQuantileFile(bytes).records;
    } catch (error) {
      if (!(error instanceof SketchFormatError)) throw error;
      this.reportUnreadable(error.message);
      return [];
    }
  }

  private reportUnreadable(reason: string): void {
    reportOnce(`quantile-adopt\u0000${this.path}\u0000${reason}`, new Error(
      `prom-multiproc could not read ${this.path}, left by an earlier process of this identity (${reason}); ` +
        'this process writes it anew, without the quantiles it held.',
    ));
  }
}

/**
 * Records of one series without a window are merged into one (their observations never age
 * out, so otherwise every restart would add a record); windowed ones stay apart and age out.
 */
function consolidate(records: readonly QuantileRecord[]): Map<string, QuantileRecord[]> {
  const byKey = new Map<string, QuantileRecord[]>();
  for (const record of records) {
    let list = byKey.get(record.key);
    if (list === undefined) {
      list = [];
      byKey.set(record.key, list);
    }
    const accuracy = record.slots[0]?.sketch.relativeAccuracy;
    const into = record.maxAgeMs === 0 && accuracy !== undefined
      ? list.find((other) => other.maxAgeMs === 0 && other.slots[0]?.sketch.relativeAccuracy === accuracy)
      : undefined;
    if (into === undefined) {
      list.push(record);
      continue;
    }
    const target = into.slots[0]!;
    for (const slot of record.slots) target.sketch.merge(slot.sketch);
    target.startMs = Math.min(target.startMs, ...record.slots.map((slot) => slot.startMs));
  }
  return byKey;
}


const openWriters = new Map<string, QuantileFileWriter>();
let exitHookInstalled = false;

/**
 * The writer of `identity`'s quantile file in `dir`, shared by every summary of this process
 * (or thread) that writes there; created on first use with these options.
 */
export function quantileFileWriter(options: QuantileFileWriterOptions): QuantileFileWriter {
  const file = path.join(path.resolve(options.dir), quantileFileNameOf(options.identity));
  let writer = openWriters.get(file);
  if (writer === undefined) {
    writer = new QuantileFileWriter(options);
    openWriters.set(file, writer);
    installExitHook();
  }
  return writer;
}

// One 'exit' listener for every writer; its work must be synchronous, which a write is.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const writer of openWriters.values()) writer.flush();
  });
}

/** Writes what this process's quantile writers for `dir` hold now: a scrape served by this process sees its latest observations. */
export function flushQuantileFiles(dir: string): void {
  for (const writer of openWriters.values()) if (path.dirname(writer.path) === path.resolve(dir) || path.dirname(writer.path) === dir) writer.flush();
}
