// The worker memory benchmark: what a process holding 10,000 series costs with this library
// (multiprocess file mode, and in memory without a directory) against prom-client 15, in one run.
//
//   node --import tsx tools/bench-memory.ts [--rounds=5] [--counter=4800] [--gauge=4800] [--histogram=400] [--library=build|dist]
//
// A series is what prom-client keeps one entry of in a metric's map: one label set of a metric
// (a histogram's label set with all its buckets, _sum and _count is one series). The workload
// is a counter and a gauge labelled {route, status} and a histogram labelled {route, method}
// with the default buckets, each label set touched once. Every subject is a fresh
// `node --expose-gc` process that imports the client as an application does
// (`import { Counter, Gauge, Histogram } from ...`; this library's compiled JavaScript, not its
// TypeScript through a loader), rounds interleaved. Each library also runs an import-only
// process, so its fixed cost and its per-series cost are both visible.
//
// --library=build (default) compiles packages/prom-multiproc/src into .tmp/ first, so the
// figures are those of the source as it is; --library=dist takes the package's dist/ as built.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const packageDir = join(root, 'packages', 'prom-multiproc');
const subjectScript = fileURLToPath(new URL('./bench-memory/subject.mjs', import.meta.url));

interface Sample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  maxRss: number;
  /** Physical size of V8's young generation (new space) after gc(). */
  newSpace: number;
}
type Field = keyof Sample;

interface Subject {
  name: string;
  library: 'prom-client' | 'ours';
  phase: 'import' | 'series';
  directory: boolean;
}

const SUBJECTS: readonly Subject[] = [
  { name: 'prom-client import only', library: 'prom-client', phase: 'import', directory: false },
  { name: 'ours import only', library: 'ours', phase: 'import', directory: false },
  { name: 'prom-client', library: 'prom-client', phase: 'series', directory: false },
  { name: 'ours, file mode', library: 'ours', phase: 'series', directory: true },
  { name: 'ours, in memory', library: 'ours', phase: 'series', directory: false },
];

function option(name: string, fallback: string): string {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return given === undefined ? fallback : given.slice(name.length + 3);
}

/** The entry point of this library's JavaScript: compiled now from src, or the package's dist. */
function libraryEntry(kind: string): string {
  if (kind === 'dist') return join(packageDir, 'dist', 'esm', 'index.js');
  if (kind !== 'build') throw new Error(`--library is build or dist, not ${kind}`);
  // Inside the package, so that its dependencies resolve and its "type": "module" applies.
  const outDir = join(packageDir, '.tmp', 'bench-memory');
  rmSync(outDir, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const compiled = spawnSync(process.execPath, [tsc, '-p', join(packageDir, 'tsconfig.json'), '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false', '--noEmitOnError', 'false'], {
    encoding: 'utf8',
  });
  // Type errors of files being edited still emit JavaScript; only a missing output is fatal.
  if (compiled.status !== 0) process.stderr.write(`note: tsc reported problems (JavaScript emitted anyway):\n${compiled.stdout.slice(0, 2000)}\n`);
  return join(outDir, 'index.js');
}

function runSubject(subject: Subject, entry: string, counts: readonly number[]): Sample {
  const env = { ...process.env };
  delete env.PROM_MULTIPROC_DIR;
  delete env.PROMETHEUS_MULTIPROC_DIR;
  const dir = subject.directory ? mkdtempSync(join(tmpdir(), 'bench-memory-')) : undefined;
  if (dir !== undefined) env.PROM_MULTIPROC_DIR = dir;
  try {
    const library = subject.library === 'prom-client' ? 'prom-client' : entry;
    const run = spawnSync(process.execPath, ['--expose-gc', subjectScript, library, subject.phase, ...counts.map(String)], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`${subject.name} failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as Sample;
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const LABELS: Record<Field, string> = {
  rss: 'rss', maxRss: 'peak rss', heapUsed: 'heapUsed', external: 'external', arrayBuffers: 'arrayBuffers', newSpace: 'young gen',
};

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

function main(): void {
  const rounds = Number(option('rounds', '5'));
  const counts = [Number(option('counter', '4800')), Number(option('gauge', '4800')), Number(option('histogram', '400'))];
  const series = counts.reduce((a, b) => a + b, 0);
  const libraryKind = option('library', 'build');
  const entry = libraryEntry(libraryKind);
  const results = new Map<string, Sample[]>(SUBJECTS.map((subject) => [subject.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const subject of SUBJECTS) results.get(subject.name)!.push(runSubject(subject, entry, counts));
  }

  console.log(`worker memory: ${series} series (counter ${counts[0]}, gauge ${counts[1]}, histogram ${counts[2]} x default buckets), ` +
    `${rounds} rounds, this library from ${libraryKind === 'dist' ? 'dist/' : 'src/ compiled now'}; node ${process.version}`);
  console.log('MiB, median (min-max); rss and heapUsed after gc(), peak = resourceUsage().maxRSS, young gen = V8 new space pages kept after gc()');
  const fields: Field[] = ['rss', 'maxRss', 'heapUsed', 'external', 'newSpace'];
  console.log(`${'subject'.padEnd(24)}${fields.map((field) => LABELS[field].padEnd(20)).join('')}`);
  for (const subject of SUBJECTS) {
    const samples = results.get(subject.name)!;
    const cells = fields.map((field) => {
      const values = samples.map((sample) => sample[field]);
      return `${mib(median(values))} (${mib(Math.min(...values))}-${mib(Math.max(...values))})`.padEnd(20);
    });
    console.log(`${subject.name.padEnd(24)}${cells.join('')}`);
  }

  const medianOf = (name: string, field: Field) => median(results.get(name)!.map((sample) => sample[field]));
  console.log('ratios ours/prom-client of the medians (the min-max of the per-round ratios)');
  for (const ours of ['ours, file mode', 'ours, in memory']) {
    const parts = fields.map((field) => {
      const perRound = results.get(ours)!.map((sample, i) => sample[field] / results.get('prom-client')![i]![field]);
      return `${field === 'maxRss' ? 'peak' : LABELS[field]} ${(medianOf(ours, field) / medianOf('prom-client', field)).toFixed(2)} ` +
        `(${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`;
    });
    console.log(`  ${ours.padEnd(16)} ${parts.join('   ')}`);
  }
  console.log('fixed (import only) and per series (10k process - import only, medians)');
  const perSeries = (name: string, baseline: string, field: Field) => (medianOf(name, field) - medianOf(baseline, field)) / series;
  for (const [name, baseline] of [['prom-client', 'prom-client import only'], ['ours, file mode', 'ours import only'], ['ours, in memory', 'ours import only']] as const) {
    console.log(`  ${name.padEnd(16)} fixed rss ${mib(medianOf(baseline, 'rss'))} MiB, heapUsed ${mib(medianOf(baseline, 'heapUsed'))} MiB;` +
      ` per series rss ${perSeries(name, baseline, 'rss').toFixed(0)} B, heapUsed ${perSeries(name, baseline, 'heapUsed').toFixed(0)} B,` +
      ` external ${perSeries(name, baseline, 'external').toFixed(0)} B`);
  }
}

main();
