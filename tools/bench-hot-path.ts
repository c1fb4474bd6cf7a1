// The hot-path benchmark: a labelled `counter.labels(route).inc()` in prom-multiproc's
// multiprocess mode against prom-client's in-memory counter (and Python prometheus_client's
// mmap files when PYTHON_CLIENT_CHECKOUT names a checkout), in one run, with the ratios the
// design targets: at most 2x prom-client, at least 4x faster than Python.
//
//   node --import tsx tools/bench-hot-path.ts [--check] [--thread] [--rounds=5] [--ops=2000000] [--per-turn=100]
//
// --thread runs every Node subject inside a worker thread of its fresh process
// (bench/runSubjectInThread.ts), as a thread pool runs it.
//
// Every (subject, mode) runs in its own fresh process, rounds interleaved (A B C A B C ...), so
// JIT state, garbage and machine noise are spread over all subjects; the median round counts.
// Each child checks the stored total against the number of operations before it reports.

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PYTHON_CHECKOUT_VARIABLE, parseResult, pythonCheckout, runPythonRound } from './bench/python.js';
import { ROUTES, type SubjectName } from './bench/subjects.js';

const MAX_VS_PROM_CLIENT = 2.0;
const MIN_VS_PYTHON = 4.0;

const root = fileURLToPath(new URL('../', import.meta.url));
const inThread = process.argv.includes('--thread');
const childScript = fileURLToPath(new URL(inThread ? './bench/runSubjectInThread.ts' : './bench/runSubject.ts', import.meta.url));

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg === undefined ? fallback : Number(arg.slice(name.length + 3));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive integer`);
  return value;
}

const check = process.argv.includes('--check');
const rounds = option('rounds', 5);
const ops = option('ops', 2_000_000);
const perTurn = option('per-turn', 100);
const checkout = pythonCheckout();

interface Run {
  label: string;
  measure(): number;
  times: number[];
}

function nodeRun(label: string, subject: SubjectName, turn: number): Run {
  return {
    label,
    times: [],
    measure() {
      const child = spawnSync(process.execPath, ['--import', 'tsx', childScript, subject, String(ops), String(turn)], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      if (child.status !== 0) throw new Error(`${label} failed (exit ${child.status}):\n${child.stderr}`);
      return parseResult(child.stdout);
    },
  };
}

const turnText = `${perTurn}/turn`;
const runs = {
  clientSync: nodeRun('counter   prom-client                 sync loop', 'counter/prom-client', 0),
  filesSync: nodeRun('counter   prom-multiproc files        sync loop', 'counter/files', 0),
  memorySync: nodeRun('counter   prom-multiproc memory       sync loop', 'counter/memory', 0),
  clientTurns: nodeRun(`counter   prom-client                 ${turnText}`, 'counter/prom-client', perTurn),
  filesTurns: nodeRun(`counter   prom-multiproc files        ${turnText}`, 'counter/files', perTurn),
  memoryTurns: nodeRun(`counter   prom-multiproc memory       ${turnText}`, 'counter/memory', perTurn),
  histClientTurns: nodeRun(`histogram prom-client                 ${turnText}`, 'histogram/prom-client', perTurn),
  histFilesTurns: nodeRun(`histogram prom-multiproc files        ${turnText}`, 'histogram/files', perTurn),
  python: checkout === undefined ? undefined : ({
    label: 'counter   python prometheus_client mmap  (no event loop)',
    times: [],
    measure: () => runPythonRound(checkout, ops),
  } satisfies Run),
};
const active = Object.values(runs).filter((run): run is Run => run !== undefined);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const ns = (value: number): string => value.toFixed(1).padStart(8);

const cpuList = cpus();
console.log('prom-multiproc hot-path benchmark');
console.log(`node ${process.version} (${process.platform}/${process.arch}), ${cpuList.length} x ${cpuList[0]?.model.trim() ?? 'unknown cpu'}`);
if (inThread) console.log('every Node subject runs in a worker thread (--thread)');
console.log(`workload: counter.labels(route).inc() / histogram.labels(route).observe(x), ${ROUTES.length} routes cycled`);
console.log(`${ops} ops per round after ${Math.ceil(ops / 10)} warm-up ops, ${rounds} rounds interleaved, a fresh process per subject and round`);
console.log(`"${turnText}": ${perTurn} ops per event-loop turn, so the file store pays one coalesced write per turn (prom-client batched alike)`);
console.log('');

for (let round = 1; round <= rounds; round++) {
  for (const run of active) run.times.push(run.measure());
  process.stderr.write(`round ${round}/${rounds} done\n`);
}

console.log(`${'subject'.padEnd(58)}  median ns/op   min..max`);
for (const run of active) {
  const spread = `${Math.min(...run.times).toFixed(1)}..${Math.max(...run.times).toFixed(1)}`;
  console.log(`${run.label.padEnd(58)}  ${ns(median(run.times))}      ${spread}`);
}
console.log('');

let missed = false;

/** `slower / faster` as a ratio line, with a verdict when a target is given. */
function ratio(text: string, slower: Run, faster: Run, target?: { max?: number; min?: number }): void {
  const value = median(slower.times) / median(faster.times);
  let verdict = '';
  if (target?.max !== undefined) verdict = value <= target.max ? `PASS (target <= ${target.max.toFixed(1)}x)` : `FAIL (target <= ${target.max.toFixed(1)}x)`;
  if (target?.min !== undefined) verdict = value >= target.min ? `PASS (target >= ${target.min.toFixed(1)}x)` : `FAIL (target >= ${target.min.toFixed(1)}x)`;
  if (verdict.startsWith('FAIL')) missed = true;
  console.log(`  ${text.padEnd(62)} ${value.toFixed(2).padStart(6)}x  ${verdict}`);
}

// The targets are judged on the per-turn figures: a service yields between requests, and the
// sync loop lets the file store write once for millions of changes.
console.log(`ratios (${turnText}, the realistic figures; targets judged here):`);
ratio('prom-multiproc files / prom-client', runs.filesTurns, runs.clientTurns, { max: MAX_VS_PROM_CLIENT });
if (runs.python !== undefined) ratio('python mmap / prom-multiproc files', runs.python, runs.filesTurns, { min: MIN_VS_PYTHON });
ratio('prom-multiproc memory / prom-client', runs.memoryTurns, runs.clientTurns);
ratio('histogram: prom-multiproc files / prom-client', runs.histFilesTurns, runs.histClientTurns);
console.log('ratios (sync loop, one write per loop: for reference):');
ratio('prom-multiproc files / prom-client', runs.filesSync, runs.clientSync);
ratio('prom-multiproc memory / prom-client', runs.memorySync, runs.clientSync);
if (runs.python !== undefined) ratio('python mmap / prom-multiproc files', runs.python, runs.filesSync);
if (runs.python === undefined) {
  console.log('');
  console.log(`Python prometheus_client was not measured: set ${PYTHON_CHECKOUT_VARIABLE} to a client_python checkout`);
  console.log('(the directory that contains the prometheus_client package) to include it and its >= 4x target.');
}

if (check && missed) process.exitCode = 1;
