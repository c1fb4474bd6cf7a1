// The scrape benchmark: merge + text exposition of a multiprocess directory of N identities x
// M entries, ours (MultiprocessRegistry.metrics()) against Python prometheus_client's
// MultiProcessCollector + generate_latest on the same directory when python3 has the package
// (or PYTHON_CLIENT_CHECKOUT names a checkout), in one run. The goals, judged on every size and printed after the table:
// the whole-process one-shot (our built CLI, `npm run build`, against a Python interpreter that
// scrapes once) at least 10x faster, a registry's first scrape 8x, warm 20x, and the one-shot's
// peak RSS at most Python's. Then the wide directory (workers with 100 metrics of 10,000 series,
// 70,000 distinct keys), and the scrape of ten thousand dead workers' files before and after compaction.
//
//   node --import tsx tools/bench-scrape.ts [--check] [--sizes=100x85,1000x85,1000x850] [--wide=4]
//        [--repeats=10] [--warmup=50] [--python-repeats=3] [--rounds=3] [--dead=10000] [--cpu-prof=<dir>] [--library=<src dir>]
//        [--cli=<built cli.js>]
//
// A size is <identities>x<entries per identity>; --wide= is the wide directory's workers;
// --sizes=, --wide=0 and --dead=0 leave a part out.
// --cpu-prof writes a V8 profile of each of our scrape processes into <dir>; --library
// measures another copy of packages/prom-multiproc/src (a change against the code it replaces). --check exits 1
// when Python was measured and a goal is missed, 2 when outputs disagree.
//
// Every scrape subject runs in a fresh process per round, ours and Python's interleaved. Each
// round's output is checked before its times count: ours against the totals the directory was
// built with, Python's against ours sample by sample (every bucket too); any difference aborts.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_CHECKOUT_VARIABLE, pythonCheckout } from './bench/python.js';
import type { CompactResult } from './bench-scrape/compactNode.js';
import { differences, parseExposition, restrictToNames, type Samples } from './bench-scrape/exposition.js';
import { pythonVersion, runPythonScrape } from './bench-scrape/python.js';
import { canMeasureRss, runCliScrape, runPythonOneShot } from './bench-scrape/oneShot.js';
import { LIBRARY_VARIABLE } from './bench-scrape/library.js';
import type { NodeScrapeResult } from './bench-scrape/scrapeNode.js';
import {
  WIDE_ENTRIES_PER_IDENTITY, buildCopiedDirectory, buildDirectory, buildWideDirectory, metricsFileCount, parseSize, sizeText, type BuiltDirectory, type Size,
} from './bench-scrape/workload.js';

/** The cold-scrape goals, against Python: whole process, a registry's first scrape, warm; and peak RSS of the one-shot at most Python's. */
const GOALS = { process: 10, first: 8, warm: 20, rss: 1 } as const;
/** Identities of the dead-workers directory written through the library; the rest are copies. */
const DEAD_WRITTEN = 10;
const DEAD_ENTRIES_PER_IDENTITY = 85;
const COMPACT_FALLBACK_PER_CALL = 1000;
/** A directory whose times are this old reads as unchanged (see scrapeCache.ts): a service's directory between worker starts. */
const SETTLE_MS = 1100;

const root = fileURLToPath(new URL('../', import.meta.url));
const child = (name: string): string => fileURLToPath(new URL(`./bench-scrape/${name}`, import.meta.url));

function textOption(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function countOption(name: string, fallback: number, { zeroAllowed = false } = {}): number {
  const text = textOption(name);
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) throw new Error(`--${name} takes a ${zeroAllowed ? 'non-negative' : 'positive'} integer`);
  return value;
}

const check = process.argv.includes('--check');
const sizes = (textOption('sizes') ?? '100x85,1000x85,1000x850').split(',').filter((text) => text !== '').map(parseSize);
const repeats = countOption('repeats', 10);
// A service is scraped every few seconds for as long as it runs; V8 has compiled the scrape
// after a few dozen. --warmup=10 shows the first minutes.
const warmup = countOption('warmup', 50, { zeroAllowed: true });
// Python keeps nothing between scrapes, so its repeats vary little, and one takes seconds at the larger sizes.
const pythonRepeats = countOption('python-repeats', Math.min(repeats, 3));
const rounds = countOption('rounds', 3);
const deadWorkers = countOption('dead', 10_000, { zeroAllowed: true });
const wideWorkers = countOption('wide', 4, { zeroAllowed: true });
const cpuProfDir = textOption('cpu-prof');
const library = textOption('library');
// The built CLI (npm run build); --cli= names another. Not measured when absent.
const cli = path.resolve(textOption('cli') ?? fileURLToPath(new URL('../packages/prom-multiproc/dist/esm/exporter/cli.js', import.meta.url)));
const measureCli = existsSync(cli);
const checkout = pythonCheckout();

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function runChild<T>(script: string, args: string[], extraNodeArgs: string[] = []): T {
  const result = spawnSync(process.execPath, [...extraNodeArgs, '--import', 'tsx', child(script), ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: library === undefined ? process.env : { ...process.env, [LIBRARY_VARIABLE]: path.resolve(library) },
  });
  if (result.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as T;
}

function settle(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
}

const benchSamples = (text: string): Samples => parseExposition(text, (name) => name.startsWith('bench_'));

/** Outputs that disagree: the run stops, since a time for a wrong answer means nothing. */
class OutputMismatch extends Error {}

function abort(what: string, found: string[]): never {
  throw new OutputMismatch(`ABORTED: ${what}; nothing is timed on outputs that disagree:\n${found.join('\n')}`);
}

interface Measurement {
  files: number;
  entries: number;
  oursCold: number[];
  oursWarm: number[];
  oursWarmCpu: number[];
  oursChanged: number[];
  oursRss: number[];
  pythonFirst: number[];
  pythonRepeat: number[];
  pythonRepeatCpu: number[];
  pythonRss: number[];
  /** Whole-process one-shot scrapes: our CLI, Python's interpreter. */
  oursProcess: number[];
  oursProcessRss: number[];
  pythonProcess: number[];
  pythonProcessRss: number[];
}

/** `rounds` fresh processes of each subject over `dir`, every round's output checked first. */
function measure(dir: string, label: string, built: BuiltDirectory, entries: number, work: string): Measurement {
  const m: Measurement = {
    files: metricsFileCount(dir), entries,
    oursCold: [], oursWarm: [], oursWarmCpu: [], oursChanged: [], oursRss: [], pythonFirst: [], pythonRepeat: [], pythonRepeatCpu: [], pythonRss: [],
    oursProcess: [], oursProcessRss: [], pythonProcess: [], pythonProcessRss: [],
  };
  const expectedNames = new Set([...built.expected.keys()].map((key) => key.slice(0, key.indexOf('{'))));
  for (let round = 1; round <= rounds; round++) {
    const oursFile = path.join(work, `${label}-ours-${round}.txt`);
    const profArgs = cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProfDir)}`, `--cpu-prof-name=scrape-${label}-${round}.cpuprofile`];
    const ours = runChild<NodeScrapeResult>('scrapeNode.ts', [dir, String(repeats), oursFile, String(warmup)], profArgs);
    const oursSamples = benchSamples(readFileSync(oursFile, 'utf8'));
    const wrong = differences(built.expected, restrictToNames(oursSamples, expectedNames), { expected: 'written', actual: 'ours' });
    if (wrong.length > 0) abort(`${label}: our scrape does not give the totals the directory was written with`, wrong);
    m.oursCold.push(ours.coldMs);
    m.oursWarm.push(...ours.warmMs);
    m.oursWarmCpu.push(...ours.warmCpuMs);
    m.oursChanged.push(...ours.changedMs);
    m.oursRss.push(ours.maxRssMiB);
    if (checkout !== undefined) {
      const pythonFile = path.join(work, `${label}-python-${round}.txt`);
      const python = runPythonScrape(checkout, dir, pythonRepeats, pythonFile);
      const disagree = differences(oursSamples, benchSamples(readFileSync(pythonFile, 'utf8')), { expected: 'ours', actual: 'python' });
      if (disagree.length > 0) abort(`${label}: Python's exposition differs from ours`, disagree);
      m.pythonFirst.push(python.firstMs);
      m.pythonRepeat.push(...python.repeatMs);
      m.pythonRepeatCpu.push(...python.repeatCpuMs);
      m.pythonRss.push(python.maxRssMiB);
    }
    if (measureCli) {
      const cliFile = path.join(work, `${label}-cli-${round}.txt`);
      const one = runCliScrape(cli, dir, cliFile);
      // The CLI prints what MultiprocessRegistry serves, byte for byte.
      if (readFileSync(cliFile, 'utf8') !== readFileSync(oursFile, 'utf8')) abort(`${label}: the CLI's scrape differs from the registry's`, [cliFile, oursFile]);
      m.oursProcess.push(one.ms);
      m.oursProcessRss.push(one.maxRssMiB);
    }
    if (measureCli && checkout !== undefined) {
      const pythonFile = path.join(work, `${label}-python-one-shot-${round}.txt`);
      const one = runPythonOneShot(checkout, dir, pythonFile);
      const disagree = differences(oursSamples, benchSamples(readFileSync(pythonFile, 'utf8')), { expected: 'ours', actual: 'python one-shot' });
      if (disagree.length > 0) abort(`${label}: Python's one-shot exposition differs from ours`, disagree);
      m.pythonProcess.push(one.ms);
      m.pythonProcessRss.push(one.maxRssMiB);
    }
    process.stderr.write(`  ${label}: round ${round}/${rounds} checked and timed\n`);
  }
  return m;
}

const grouped = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const nsPerEntry = (milliseconds: number, entries: number): string => grouped((milliseconds * 1e6) / entries);
const times = (ratio: number): string => `${ratio.toFixed(1)}x`;

/** Each goal's verdicts so far, by its figure: the worst ratio and the sizes that missed it. */
const verdicts = new Map<string, { target: number; worst: number; lowerIsBetter: boolean; missedOn: string[] }>();

const passes = (ratio: number, target: number, lowerIsBetter: boolean): boolean => (lowerIsBetter ? ratio <= target : ratio >= target);
const goalText = (target: number, lowerIsBetter: boolean): string => `${lowerIsBetter ? '<=' : '>='} ${target}x`;

function judge(figure: string, target: number, lowerIsBetter: boolean, label: string, ratio: number): boolean {
  const pass = passes(ratio, target, lowerIsBetter);
  let verdict = verdicts.get(figure);
  if (verdict === undefined) verdicts.set(figure, (verdict = { target, worst: ratio, lowerIsBetter, missedOn: [] }));
  verdict.worst = lowerIsBetter ? Math.max(verdict.worst, ratio) : Math.min(verdict.worst, ratio);
  if (!pass) verdict.missedOn.push(label);
  return pass;
}

const missed = (): boolean => [...verdicts.values()].some((verdict) => verdict.missedOn.length > 0);

/** The warm column's verdict (the warm goal); only the sizes' rows are judged, the dead-workers rows are shown. */
function goal(ratio: number, judged: boolean): string {
  if (!judged) return '';
  return ratio >= GOALS.warm ? ' PASS' : ' FAIL';
}

interface Column {
  title: string;
  width: number;
  value(m: Measurement, judged: boolean): string;
}

const OURS_COLUMNS: Column[] = [
  { title: 'files', width: 6, value: (m) => grouped(m.files) },
  { title: 'entries', width: 9, value: (m) => grouped(m.entries) },
  { title: 'cold ms', width: 8, value: (m) => ms(median(m.oursCold)) },
  { title: 'warm ms', width: 8, value: (m) => ms(median(m.oursWarm)) },
  { title: 'cpu ms', width: 7, value: (m) => ms(median(m.oursWarmCpu)) },
  { title: 'changed', width: 8, value: (m) => ms(median(m.oursChanged)) },
  { title: 'ns/entry', width: 8, value: (m) => nsPerEntry(median(m.oursWarm), m.entries) },
  { title: 'MiB', width: 4, value: (m) => Math.max(...m.oursRss).toFixed(0) },
];

const PYTHON_COLUMNS: Column[] = [
  { title: '1st ms', width: 7, value: (m) => ms(median(m.pythonFirst)) },
  { title: 'med ms', width: 7, value: (m) => ms(median(m.pythonRepeat)) },
  { title: 'cpu ms', width: 7, value: (m) => ms(median(m.pythonRepeatCpu)) },
  { title: 'ns/entry', width: 8, value: (m) => nsPerEntry(median(m.pythonRepeat), m.entries) },
  { title: 'MiB', width: 4, value: (m) => Math.max(...m.pythonRss).toFixed(0) },
  { title: 'warm', width: 11, value: (m, judged) => {
    const ratio = median(m.pythonRepeat) / median(m.oursWarm);
    return `${times(ratio)}${goal(ratio, judged)}`;
  } },
  { title: 'cpu', width: 6, value: (m) => times(median(m.pythonRepeatCpu) / median(m.oursWarmCpu)) },
  { title: 'changed', width: 8, value: (m) => times(median(m.pythonRepeat) / median(m.oursChanged)) },
  { title: 'cold', width: 6, value: (m) => times(median(m.pythonFirst) / median(m.oursCold)) },
];

function printTable(rows: { label: string; m: Measurement }[], judged: boolean): void {
  const columns = checkout === undefined ? OURS_COLUMNS : [...OURS_COLUMNS, ...PYTHON_COLUMNS];
  const width = (list: Column[]) => list.reduce((sum, column) => sum + column.width + 1, -1);
  const banner = (text: string, list: Column[]) => ` ${`-- ${text} `.padEnd(width(list), '-')}`;
  let groups = `${''.padEnd(10)}${''.padEnd(width(OURS_COLUMNS.slice(0, 2)) + 1)}${banner('ours', OURS_COLUMNS.slice(2))}`;
  if (checkout !== undefined) {
    groups += `${banner('python', PYTHON_COLUMNS.slice(0, 5))}${banner('python / ours', PYTHON_COLUMNS.slice(5))}`;
  }
  console.log(groups);
  console.log(`${'size'.padEnd(10)} ${columns.map((column) => column.title.padStart(column.width)).join(' ')}`);
  for (const { label, m } of rows) {
    console.log(`${label.padEnd(10)} ${columns.map((column) => column.value(m, judged).padStart(column.width)).join(' ')}`);
  }
}

function printHeader(): void {
  const cpuList = cpus();
  console.log('prom-multiproc scrape benchmark: merge + text exposition of a multiprocess directory');
  console.log(`node ${process.version} (${process.platform}/${process.arch}), ${cpuList.length} x ${cpuList[0]?.model.trim() ?? 'unknown cpu'}, directory under ${tmpdir()}`);
  if (checkout !== undefined) console.log(`python ${pythonVersion(checkout)}`);
  if (library !== undefined) console.log(`library measured: ${path.resolve(library)} (directories are written by the repository's)`);
  console.log(`per identity: counter_<id>.db + histogram_<id>.db (counter and 15-bucket histogram, labels route+method), written by FileStore`);
  console.log(`${rounds} rounds, a fresh process per subject and round (ours and Python's interleaved), medians over all rounds`);
  console.log(`ours: MultiprocessRegistry({ dir }).metrics(); cold = first of a fresh registry; warm = ${repeats} more with the same registry`);
  console.log(`  (what it keeps between scrapes filled, directory unchanged); changed = ${repeats} more, each after every file's bytes changed in place`);
  console.log(`  (as if every worker had recorded something since the last scrape). Each timed series follows ${warmup} untimed scrapes of its kind`);
  console.log(`  (a service is scraped for as long as it runs: V8 has compiled the scrape after a few dozen); the directory is left`);
  console.log(`  ${SETTLE_MS} ms after it is built, as a running service's is (see scrapeCache.ts on directory times)`);
  if (checkout !== undefined) {
    console.log(`python: CollectorRegistry + MultiProcessCollector + generate_latest per scrape; 1st = first in the interpreter, med = ${pythonRepeats} more`);
  }
  if (measureCli) {
    console.log(`whole process: \`node ${path.relative(root, cli)} scrape --dir D\` (the built CLI, plain node) against \`python3 -c\` running one`);
    console.log(`  MultiProcessCollector + generate_latest, each timed from spawn to exit${canMeasureRss() ? ', peak RSS by /usr/bin/time' : ' (no /usr/bin/time: RSS not measured)'}; the CLI's text must equal the registry's`);
  } else {
    console.log(`whole process: not measured, no built CLI at ${cli} (npm run build, or --cli=<path>)`);
  }
  console.log('cpu ms = user + system time of the process for one scrape (steadier than wall time on a shared machine); MiB = peak RSS of the scraping process');
  console.log('checked every round before its times count: ours = the totals written (counter _total, histogram _count/_sum per label set),');
  console.log('python = ours (every bench_* sample, buckets included, compared as numbers)');
  console.log('');
}

const spread = (values: readonly number[], format: (n: number) => string = ms): string =>
  values.length === 0 || values.some(Number.isNaN) ? '-' : `${format(median(values))} (${format(Math.min(...values))}-${format(Math.max(...values))})`;

/**
 * The cold-scrape goals, one line per figure: median (min-max) of ours and Python's, the ratio of
 * the medians, and the verdict. RSS is judged as ours / Python (at most 1), the times as Python / ours.
 */
function printGoals(rows: { label: string; m: Measurement }[]): void {
  if (checkout === undefined) return;
  console.log('');
  console.log('cold-scrape goals: median (min-max) over all rounds; ratio = python / ours of the medians (RSS: ours / python)');
  console.log(`${'size'.padEnd(10)} ${'figure'.padEnd(34)} ${'ours'.padStart(22)} ${'python'.padStart(24)} ${'ratio'.padStart(7)}  goal`);
  for (const { label, m } of rows) {
    const line = (figure: string, ours: number[], python: number[], target: number, lowerIsBetter = false, format = ms, judged = true) => {
      if (ours.length === 0 || python.length === 0) return;
      const ratio = lowerIsBetter ? median(ours) / median(python) : median(python) / median(ours);
      const pass = judged ? judge(figure, target, lowerIsBetter, label, ratio) : passes(ratio, target, lowerIsBetter);
      const verdict = Number.isNaN(ratio) ? 'not measured' : `${goalText(target, lowerIsBetter)} ${pass ? 'PASS' : 'FAIL'}${judged ? '' : ' (shown, not a goal)'}`;
      console.log(`${label.padEnd(10)} ${figure.padEnd(34)} ${spread(ours, format).padStart(22)} ${spread(python, format).padStart(24)} ${`${ratio.toFixed(2)}x`.padStart(7)}  ${verdict}`);
    };
    const mib = (n: number) => n.toFixed(0);
    line('whole process, one-shot (ms)', m.oursProcess, m.pythonProcess, GOALS.process);
    line('registry first scrape (ms)', m.oursCold, m.pythonFirst, GOALS.first);
    line('warm scrape (ms)', m.oursWarm, m.pythonRepeat, GOALS.warm);
    line('one-shot peak RSS (MiB)', m.oursProcessRss, m.pythonProcessRss, GOALS.rss, true, mib);
    // Shown beside the goal: the registry's process holds what it keeps for the next scrapes.
    line('registry process peak RSS (MiB)', m.oursRss, m.pythonRss, GOALS.rss, true, mib, false);
  }
}

/** One line per goal: met or missed on every size judged, with the worst ratio and where it was missed. */
function printVerdicts(): void {
  if (verdicts.size === 0) return;
  console.log('goals (ratio of medians, worst size; wall time, peak RSS by /usr/bin/time):');
  for (const [figure, { target, worst, lowerIsBetter, missedOn }] of verdicts) {
    const where = missedOn.length === 0 ? 'met on every size' : `MISSED on ${missedOn.join(', ')}`;
    console.log(`  ${figure.padEnd(34)} ${goalText(target, lowerIsBetter).padEnd(7)} worst ${worst.toFixed(2)}x: ${where}`);
  }
  if (!measureCli) console.log(`  whole process, one-shot: not measured (no built CLI at ${cli}: npm run build, or --cli=<path>)`);
}

/**
 * Compacts every identity in one call, as an operator would; if that fails (it opens every
 * dead worker's file at once, see the report), again in calls of a bounded number of
 * identities, so the scrape after compaction is still measured.
 */
function compactAll(dir: string): { compaction: CompactResult; failure?: string } {
  try {
    return { compaction: runChild<CompactResult>('compactNode.ts', [dir, String(deadWorkers)]) };
  } catch (error) {
    const failure = /\b(E[A-Z]+): [^\n]*/.exec((error as Error).message)?.[0] ?? (error as Error).message.split('\n')[0]!;
    process.stderr.write(`  compaction in one call failed (${failure}); compacting ${COMPACT_FALLBACK_PER_CALL} identities per call\n`);
    return { compaction: runChild<CompactResult>('compactNode.ts', [dir, String(deadWorkers), String(COMPACT_FALLBACK_PER_CALL)]), failure };
  }
}

function deadWorkersSection(work: string): void {
  const dir = path.join(work, 'dead');
  mkdirSync(dir);
  const size: Size = { identities: deadWorkers, entriesPerIdentity: DEAD_ENTRIES_PER_IDENTITY };
  process.stderr.write(`building ${grouped(deadWorkers)} dead workers ...\n`);
  const built = buildCopiedDirectory(dir, size, Math.min(DEAD_WRITTEN, deadWorkers));
  const entries = deadWorkers * DEAD_ENTRIES_PER_IDENTITY;
  settle();
  const before = measure(dir, 'dead-before', built, entries, work);
  const { compaction, failure } = compactAll(dir);
  settle();
  const after = measure(dir, 'dead-after', built, entries, work);

  console.log('');
  console.log(`${grouped(deadWorkers)} dead workers x ${DEAD_ENTRIES_PER_IDENTITY} entries (${built.written} identities written through the library,`);
  console.log(`the other ${grouped(deadWorkers - built.written)} are fs.copyFileSync copies of their files under their own names):`);
  printTable([
    { label: 'before', m: before },
    { label: 'compacted', m: after },
  ], false);
  const beforeWarm = median(before.oursWarm);
  const afterWarm = median(after.oursWarm);
  const pythonPart = checkout === undefined ? '' :
    `; python ${ms(median(before.pythonRepeat))} -> ${ms(median(after.pythonRepeat))} ms (${(median(before.pythonRepeat) / median(after.pythonRepeat)).toFixed(0)}x)`;
  if (failure !== undefined) console.log(`  compactDirectory with all ${grouped(deadWorkers)} identities in one call FAILED: ${failure}`);
  const calls = compaction.calls === 1 ? 'one call' : `${compaction.calls} calls of ${grouped(COMPACT_FALLBACK_PER_CALL)} identities`;
  console.log(
    `  compaction ${ms(compaction.ms)} ms (fresh process, ${calls}; ${grouped(compaction.folded)} identities folded, ${grouped(compaction.filesRemoved)} files removed), ` +
      `files ${grouped(before.files)} -> ${grouped(after.files)}`,
  );
  console.log(`  scrape warm: ours ${ms(beforeWarm)} -> ${ms(afterWarm)} ms (${(beforeWarm / afterWarm).toFixed(0)}x faster), cold ${ms(median(before.oursCold))} -> ${ms(median(after.oursCold))} ms${pythonPart}`);
  console.log('  (the "compacted" row still counts the entries the workers wrote; the archive holds one entry per series)');
}

function main(): void {
  printHeader();
  const work = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-bench-scrape-'));
  try {
    const rows: { label: string; m: Measurement }[] = [];
    for (const size of sizes) {
      const label = sizeText(size);
      const dir = path.join(work, label);
      mkdirSync(dir);
      process.stderr.write(`building ${label} ...\n`);
      const built = buildDirectory(dir, size);
      process.stderr.write(`  ${metricsFileCount(dir)} files written\n`);
      settle();
      rows.push({ label, m: measure(dir, label, built, size.identities * size.entriesPerIdentity, work) });
      rmSync(dir, { recursive: true, force: true });
    }
    if (wideWorkers > 0) {
      const label = `wide${wideWorkers}`;
      const dir = path.join(work, label);
      mkdirSync(dir);
      process.stderr.write(`building ${label} (${wideWorkers} workers of 100 metrics, 10,000 series) ...\n`);
      const built = buildWideDirectory(dir, wideWorkers);
      settle();
      rows.push({ label, m: measure(dir, label, built, wideWorkers * WIDE_ENTRIES_PER_IDENTITY, work) });
      rmSync(dir, { recursive: true, force: true });
    }
    if (rows.length > 0) {
      if (wideWorkers > 0) console.log(`wide${wideWorkers}: ${wideWorkers} workers of 50 counters and 50 histograms x 100 routes (10,000 series, 70,000 distinct keys each)\n`);
      printTable(rows, true);
      printGoals(rows);
    }
    if (deadWorkers > 0) deadWorkersSection(work);
  } catch (error) {
    if (!(error instanceof OutputMismatch)) throw error;
    console.error(error.message);
    process.exitCode = 2;
    return;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log('');
  if (checkout === undefined) {
    console.log(`Python prometheus_client was not measured: set ${PYTHON_CHECKOUT_VARIABLE} to a client_python checkout`);
    console.log('(the directory that contains the prometheus_client package) to include it and judge the goals.');
  } else {
    printVerdicts();
  }
  if (check && missed()) process.exitCode = 1;
}

main();
