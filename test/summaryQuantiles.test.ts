// Summary quantiles merged across real processes: four children observe different
// distributions into their own quantile side files in one directory, and the scrape side's
// merged quantiles must be within the sketch's stated bound (1%, see quantileSketch.ts) of the
// exact quantiles of everything the four observed, which they also write out raw. Also: what a
// SIGKILL loses, that a normal end writes everything without the write timer keeping the
// process alive, that a reader never sees a partly written file, and what clean and
// markProcessDead do with the side files.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanDirectory, markProcessDead } from '../packages/prom-multiproc/src/lifecycle/processes.js';
import { decodeQuantileFile } from '../packages/prom-multiproc/src/sketch/quantileFile.js';
import { quantileFileNameOf } from '../packages/prom-multiproc/src/sketch/quantileFileName.js';
import { interpolate } from '../packages/prom-multiproc/src/sketch/quantileSketch.js';
import { DEFAULT_PERCENTILES } from '../packages/prom-multiproc/src/storage/summaryQuantiles.js';
import { readDirectoryQuantiles } from '../packages/prom-multiproc/src/scrape/sketchFileReader.js';
import {
  OWN_PERCENTILES, ownKey, sharedKey, windowedKey, type ChildMessage, type Distribution, type ParentMessage,
} from './helpers/quantileProtocol.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { childTracker } from './helpers/trackedChildren.js';
import { waitFor } from './helpers/waitFor.js';

const CHILD = fileURLToPath(new URL('./helpers/quantileWriterChild.ts', import.meta.url));
const ALPHA = 0.01;
// Generous: a tsx child takes seconds to start on a busy machine. They only stop a hung child from hanging the suite.
const MESSAGE_TIMEOUT_MS = 30_000;

const scratch = scratchDirectories('pm-summary-quantiles-');
const warnings = capturedWarnings();

interface Writer {
  identity: string;
  child: ChildProcess;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const track = childTracker();

function start(dir: string, rawDir: string, identity: string, distribution: Distribution, writeIntervalMs: number): Writer {
  const child = fork(CHILD, [dir, rawDir, identity, distribution, String(writeIntervalMs)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  const { ended, stderr } = track(child);
  return { identity, child, ended, stderr };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function next<T extends ChildMessage['type']>(writer: Writer, type: T): Promise<Extract<ChildMessage, { type: T }>> {
  const message = new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
    const onMessage = (received: ChildMessage): void => {
      if (received.type !== type) return;
      writer.child.off('message', onMessage);
      resolve(received as Extract<ChildMessage, { type: T }>);
    };
    writer.child.on('message', onMessage);
    void writer.ended.then((ending) => reject(new Error(`${writer.identity} ended (${JSON.stringify(ending)}) before sending ${type}:\n${writer.stderr()}`)));
  });
  return withTimeout(message, MESSAGE_TIMEOUT_MS, `a ${type} message from ${writer.identity}`);
}

function send(writer: Writer, message: ParentMessage): void {
  writer.child.send(message);
}

async function startAll(dir: string, rawDir: string, specs: [string, Distribution][], writeIntervalMs: number): Promise<Writer[]> {
  const writers = specs.map(([identity, distribution]) => start(dir, rawDir, identity, distribution, writeIntervalMs));
  await Promise.all(writers.map((writer) => next(writer, 'ready')));
  return writers;
}

async function kill(writer: Writer): Promise<void> {
  if (writer.child.exitCode === null && writer.child.signalCode === null) writer.child.kill('SIGKILL');
  await writer.ended;
}

function rawObservations(rawDir: string, identity: string): number[] {
  const bytes = fs.readFileSync(path.join(rawDir, `${identity}.f64`));
  return [...new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)];
}

/** The midpoint definition (quantileSketch.ts), exactly, and the two observations it lies between. */
function exactQuantile(sorted: readonly number[], q: number): { value: number; lower: number; upper: number } {
  const h = Math.min(Math.max(q * sorted.length - 0.5, 0), sorted.length - 1);
  const lowerRank = Math.floor(h);
  const lower = sorted[lowerRank]!;
  const upper = h === lowerRank ? lower : sorted[lowerRank + 1]!;
  return { value: interpolate(lower, upper, h - lowerRank), lower, upper };
}

/** The stated bound: alpha relative, or alpha times the larger neighbour across a sign change. */
function assertWithinBound(values: readonly number[], percentiles: readonly number[], observations: readonly number[], what: string): number {
  const sorted = [...observations].sort((a, b) => a - b);
  let worst = 0;
  for (const [i, q] of percentiles.entries()) {
    const exact = exactQuantile(sorted, q);
    const scale = exact.lower * exact.upper >= 0 ? Math.abs(exact.value) : Math.max(Math.abs(exact.lower), Math.abs(exact.upper));
    const error = Math.abs(values[i]! - exact.value);
    assert.ok(error <= ALPHA * scale * (1 + 1e-9), `${what}, q=${q}: merged ${values[i]}, exact ${exact.value}, error ${error} > ${ALPHA * scale}`);
    if (scale > 0) worst = Math.max(worst, error / scale);
  }
  return worst;
}

/** How many observations the scrape finds in `key`'s series (0 when it has none). */
async function scrapedCount(dir: string, key: string): Promise<number> {
  return (await readDirectoryQuantiles(dir)).series.get(key)?.count ?? 0;
}

describe('summary quantiles across processes', () => {
  it('merges four processes\' quantiles within 1% of the exact quantiles of all their observations', async (t) => {
    const dir = scratch();
    const rawDir = scratch();
    const specs: [string, Distribution][] = [['q1', 'latency'], ['q2', 'uniform'], ['q3', 'signed'], ['q4', 'bimodal']];
    const writers = await startAll(dir, rawDir, specs, 1000);
    try {
      // Two rounds: the second lands in files the first already wrote.
      for (const count of [5_000, 15_000]) {
        for (const writer of writers) send(writer, { type: 'observe', count });
        await Promise.all(writers.map((writer) => next(writer, 'observed')));
      }
      const total = 4 * 20_000;
      await waitFor('every observation in the side files', async () => ((await scrapedCount(dir, sharedKey())) === total ? true : undefined), 20_000, { every: 50 });
      const { series, skipped, filesMerged } = await readDirectoryQuantiles(dir);
      assert.deepEqual(skipped, []);
      assert.equal(filesMerged, 4);

      const everything = specs.flatMap(([identity]) => rawObservations(rawDir, identity));
      assert.equal(everything.length, total);
      const shared = series.get(sharedKey())!;
      assert.deepEqual(shared.percentiles, DEFAULT_PERCENTILES);
      let worst = assertWithinBound(shared.values, shared.percentiles, everything, 'all four processes');
      // Finer percentiles, with the crossing from the signed process's negatives to the rest.
      for (const [identity] of specs) {
        const own = series.get(ownKey(identity))!;
        assert.deepEqual(own.percentiles, OWN_PERCENTILES);
        worst = Math.max(worst, assertWithinBound(own.values, own.percentiles, rawObservations(rawDir, identity), identity));
      }
      t.diagnostic(`largest error relative to the bound's scale: ${worst}`);

      // The windowed series: everything is in its window now, and nothing once it has passed.
      assert.equal(series.get(windowedKey())!.count, total);
      const later = await readDirectoryQuantiles(dir, { now: () => Date.now() + 120_000 });
      assert.deepEqual(later.series.get(windowedKey()), { percentiles: DEFAULT_PERCENTILES, values: DEFAULT_PERCENTILES.map(() => 0), count: 0 });
      assert.equal(later.series.get(sharedKey())!.count, total, 'a series without a window keeps everything');
    } finally {
      await Promise.all(writers.map(kill));
    }
    assert.deepEqual(warnings, []);
  });

  it('a SIGKILL loses at most the last write interval; a process that ends writes everything, its write timer keeping nothing alive', async () => {
    const dir = scratch();
    const rawDir = scratch();
    const long = 600_000; // ten minutes: nothing but 'exit' writes a change before the test ends
    const [interval, killed, ending] = await Promise.all([
      startAll(dir, rawDir, [['k1', 'latency']], 1000),
      startAll(dir, rawDir, [['k2', 'uniform']], long),
      startAll(dir, rawDir, [['k3', 'bimodal']], long),
    ]).then((groups) => groups.flat());
    const all = [interval!, killed!, ending!];
    try {
      // With the default interval, observations reach the file within about a second of their
      // change; those of the last interval before a SIGKILL may be lost, never earlier ones.
      send(interval!, { type: 'observe', count: 100 });
      await next(interval!, 'observed');
      await waitFor('k1 to write its observations', async () => ((await scrapedCount(dir, ownKey('k1'))) === 100 ? true : undefined), 20_000, { every: 50 });
      send(interval!, { type: 'observe', count: 50 });
      await next(interval!, 'observed');
      interval!.child.kill('SIGKILL');
      await interval!.ended;
      const kept = await scrapedCount(dir, ownKey('k1'));
      assert.ok(kept === 100 || kept === 150, `k1 kept ${kept}`);

      // Each side file was written once, empty, when its series were created; what was observed
      // after that waits for the interval.
      for (const writer of [killed!, ending!]) {
        send(writer, { type: 'observe', count: 100 });
        await next(writer, 'observed');
        assert.equal(await scrapedCount(dir, ownKey(writer.identity)), 0, `${writer.identity}'s observations wait for the interval`);
      }
      killed!.child.kill('SIGKILL');
      assert.equal((await killed!.ended).signal, 'SIGKILL');
      assert.equal(await scrapedCount(dir, ownKey('k2')), 0, 'a SIGKILL loses what waited for the interval');

      const startedEnding = performance.now();
      send(ending!, { type: 'end' });
      const end = await withTimeout(ending!.ended, MESSAGE_TIMEOUT_MS, 'k3 to end by itself');
      assert.equal(end.code, 0, ending!.stderr());
      assert.ok(performance.now() - startedEnding < long / 10, 'the pending write timer did not hold the process');
      assert.equal(await scrapedCount(dir, ownKey('k3')), 100, "'exit' wrote what was pending");
    } finally {
      await Promise.all(all.map(kill));
    }
  });

  it('a reader never sees a partly written file while a process rewrites it as fast as it can', async () => {
    const dir = scratch();
    const rawDir = scratch();
    const [writer] = await startAll(dir, rawDir, [['s1', 'bimodal']], 0);
    try {
      const file = path.join(dir, quantileFileNameOf('s1'));
      const streamed = next(writer!, 'streamed');
      send(writer!, { type: 'stream', ms: 1500 });
      let done = false;
      void streamed.then(() => (done = true), () => (done = true));
      const versions = new Set<number>();
      let reads = 0;
      while (!done) {
        let bytes: Buffer | undefined;
        try {
          bytes = fs.readFileSync(file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
        if (bytes !== undefined) {
          const { records } = decodeQuantileFile(bytes); // throws on a partly written file
          const shared = records.find((record) => record.key === sharedKey())!;
          versions.add(shared.slots.reduce((sum, slot) => sum + slot.sketch.count, 0));
          reads++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const { total } = await streamed;
      assert.ok(reads >= 20 && versions.size >= 5, `${reads} reads saw ${versions.size} versions`);
      assert.equal(await scrapedCount(dir, sharedKey()), total);
      assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), []);
    } finally {
      await kill(writer!);
    }
  });

  it('clean removes the side file of a dead writer and keeps live writers\' ones; markProcessDead leaves it for its window', async () => {
    const dir = scratch();
    const rawDir = scratch();
    const writers = await startAll(dir, rawDir, [['c1', 'latency'], ['c2', 'uniform'], ['c3', 'signed']], 1000);
    try {
      for (const writer of writers) send(writer, { type: 'observe', count: 10 });
      await Promise.all(writers.map((writer) => next(writer, 'observed')));
      await waitFor('three side files', async () => ((await scrapedCount(dir, sharedKey())) === 30 ? true : undefined), 20_000, { every: 50 });
      const dead = writers[2]!;
      const deadPid = dead.child.pid!;
      await kill(dead);
      const leftover = `${quantileFileNameOf('c3')}.${deadPid}-0a1b2c3d.tmp`;
      fs.writeFileSync(path.join(dir, leftover), 'half');

      assert.deepEqual(markProcessDead('c3', dir), []);
      assert.ok(fs.existsSync(path.join(dir, quantileFileNameOf('c3'))), 'markProcessDead keeps the side file');
      assert.equal(await scrapedCount(dir, ownKey('c3')), 10);

      const { removed, kept } = cleanDirectory(dir);
      const names = removed.map((file) => path.basename(file));
      assert.ok(names.includes(quantileFileNameOf('c3')) && names.includes(leftover), names.join(' '));
      for (const identity of ['c1', 'c2']) {
        const keptFile = kept.find((entry) => path.basename(entry.file) === quantileFileNameOf(identity));
        assert.ok(keptFile !== undefined, JSON.stringify(kept));
        assert.match(keptFile.reason, /lock/);
      }
      const { series } = await readDirectoryQuantiles(dir);
      assert.equal(series.get(sharedKey())!.count, 20);
      assert.equal(series.get(ownKey('c3')), undefined);
    } finally {
      await Promise.all(writers.map(kill));
    }
  });
});
