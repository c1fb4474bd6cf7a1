// The hot-path benchmark: a labelled `counter.labels(route).inc()` in prom-multiproc's
// multiprocess mode against prom-client's in-memory counter (and Python prometheus_client's
// mmap files when python3 has the package, or PYTHON_CLIENT_CHECKOUT names a checkout to put on
// PYTHONPATH), in one run, with ratios.
//
//   node --import tsx tools/bench-hot-path.ts [--check] [--thread] [--rounds=5] [--ops=1000000] [--per-turn=100]
//
// The target is judged on whole-process CPU per op at ONE change per event-loop turn (a quiet
// server: a request per turn): prom-multiproc's files at most 1.3x prom-client in memory.
// --per-turn=N adds rows with N changes per turn; the sync loop (no turn at all) is for reference.
// --thread runs every Node subject inside a worker thread of its fresh process
// (bench/runSubjectInThread.ts), as a thread pool runs it.
//
// Every (subject, mode) runs in its own fresh process, rounds interleaved (A B C A B C ...), so
// JIT state, garbage and machine noise are spread over all subjects; the median round counts.
// Each child checks the stored total against the number of operations before it reports.

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PYTHON_CHECKOUT_VARIABLE, parseResult, pythonCheckout, runPythonRound, type OpCost } from './bench/python.js';
import { ROUTES, type SubjectName } from './bench/subjects.js';

const MAX_VS_PROM_CLIENT = 1.3;

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
const ops = option('ops', 1_000_000);
const perTurn = option('per-turn', 100);
const checkout = pythonCheckout();

interface Run {
  label: string;
  measure(): OpCost;
  costs: OpCost[];
}

function nodeRun(label: string, subject: SubjectName, turn: number): Run {
  return {
    label,
    costs: [],
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

const many = `${perTurn}/turn`;
const runs = {
  clientOne: nodeRun('counter   prom-client                 1/turn', 'counter/prom-client', 1),
  filesOne: nodeRun('counter   prom-multiproc files        1/turn', 'counter/files', 1),
  memoryOne: nodeRun('counter   prom-multiproc memory       1/turn', 'counter/memory', 1),
  histClientOne: nodeRun('histogram prom-client                 1/turn', 'histogram/prom-client', 1),
  histFilesOne: nodeRun('histogram prom-multiproc files        1/turn', 'histogram/files', 1),
  clientMany: nodeRun(`counter   prom-client                 ${many}`, 'counter/prom-client', perTurn),
  filesMany: nodeRun(`counter   prom-multiproc files        ${many}`, 'counter/files', perTurn),
  clientSync: nodeRun('counter   prom-client                 sync loop', 'counter/prom-client', 0),
  filesSync: nodeRun('counter   prom-multiproc files        sync loop', 'counter/files', 0),
  python: checkout === undefined ? undefined : ({
    label: 'counter   python prometheus_client mmap  (no event loop)',
    costs: [],
    measure: () => runPythonRound(checkout, ops),
  } satisfies Run),
};
const active = Object.values(runs).filter((run): run is Run => run !== undefined);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const cpuOf = (run: Run): number[] => run.costs.map((cost) => cost.cpuNsPerOp);
const wallOf = (run: Run): number[] => run.costs.map((cost) => cost.nsPerOp);
const spread = (values: number[]): string => `${Math.min(...values).toFixed(0)}..${Math.max(...values).toFixed(0)}`;

const cpuList = cpus();
console.log('prom-multiproc hot-path benchmark');
console.log(`node ${process.version} (${process.platform}/${process.arch}), ${cpuList.length} x ${cpuList[0]?.model.trim() ?? 'unknown cpu'}`);
if (inThread) console.log('every Node subject runs in a worker thread (--thread)');
console.log(`workload: counter.labels(route).inc() / histogram.labels(route).observe(x), ${ROUTES.length} routes cycled`);
console.log(`${ops} ops per round after ${Math.ceil(ops / 10)} warm-up ops, ${rounds} rounds interleaved, a fresh process per subject and round`);
console.log('"1/turn": one op per event-loop turn (setImmediate between ops), as a server with one request at a time');
console.log('');

for (let round = 1; round <= rounds; round++) {
  for (const run of active) run.costs.push(run.measure());
  process.stderr.write(`round ${round}/${rounds} done\n`);
}

console.log(`${'subject'.padEnd(58)}  CPU ns/op (min..max)      wall ns/op (min..max)`);
for (const run of active) {
  const cpu = `${median(cpuOf(run)).toFixed(0).padStart(6)} (${spread(cpuOf(run))})`;
  const wall = `${median(wallOf(run)).toFixed(0).padStart(6)} (${spread(wallOf(run))})`;
  console.log(`${run.label.padEnd(58)}  ${cpu.padEnd(24)}  ${wall}`);
}
console.log('');

let missed = false;

/** Median CPU per op of `slower` over `faster`, with a verdict when a target is given. */
function ratio(text: string, slower: Run, faster: Run, max?: number): void {
  const value = median(cpuOf(slower)) / median(cpuOf(faster));
  let verdict = '';
  if (max !== undefined) {
    verdict = value <= max ? `PASS (target <= ${max.toFixed(1)}x)` : `FAIL (target <= ${max.toFixed(1)}x)`;
    if (value > max) missed = true;
  }
  console.log(`  ${text.padEnd(62)} ${value.toFixed(2).padStart(6)}x  ${verdict}`);
}

console.log('CPU ratios, 1/turn (the target is judged here):');
ratio('prom-multiproc files / prom-client', runs.filesOne, runs.clientOne, MAX_VS_PROM_CLIENT);
ratio('prom-multiproc memory / prom-client', runs.memoryOne, runs.clientOne);
ratio('histogram: prom-multiproc files / prom-client', runs.histFilesOne, runs.histClientOne);
if (runs.python !== undefined) ratio('python mmap / prom-multiproc files', runs.python, runs.filesOne);
console.log(`CPU ratios, ${many} and sync loop (for reference):`);
ratio(`prom-multiproc files / prom-client, ${many}`, runs.filesMany, runs.clientMany);
ratio('prom-multiproc files / prom-client, sync loop', runs.filesSync, runs.clientSync);
if (runs.python !== undefined) ratio('python mmap / prom-multiproc files, sync loop', runs.python, runs.filesSync);
if (runs.python === undefined) {
  console.log('');
  console.log(`Python prometheus_client was not measured: python3 cannot import it. Install it (pip install prometheus_client)`);
  console.log(`or set ${PYTHON_CHECKOUT_VARIABLE} to a client_python checkout to include it.`);
}

if (check && missed) process.exitCode = 1;
