// The HTTP benchmark: what request metrics cost a server, per request, in whole-process CPU,
// for this package's middleware and for prom-client instrumented by hand, side by side; on
// node:http and Express, at 1 connection (a request per event-loop turn: the per-request
// costs, nothing shared) and at 50 (many requests per turn). For the middleware, a check that
// the merged http_requests_total equals the responses the load generator received.
//
//   node --import tsx tools/bench-http.ts [--rounds=31] [--seconds=1] [--connections=1,50]
//       [--frameworks=node,express] [--requests=N] [--dir=PARENT]
//
// --dir is where the metrics directories are made (the system's temporary directory by
// default); a service keeps them on tmpfs (/run), and /dev/shm measures that case.
//
// The overhead of a variant is its server CPU per request minus the plain server's in the same
// round; the goal compares the middleware's overhead with prom-client's (at most 1.0x at 1
// connection, 0.9x at 50). For each framework and connection count, the three variants run as
// three server processes (tools/bench-http/server.ts), loaded together: the load generator
// (tools/bench-http/rotate.ts, in this process) runs request loops that each visit the three
// servers in turn, so each server has about --connections requests in flight and all three are
// measured over the same seconds, under the same load from elsewhere. (Bursts at one server after
// another, seconds apart, left each burst to different neighbours: the plain server's CPU per
// request then moved by a quarter from round to round, more than the overheads measured.) Each
// server reads its own CPU time (process.cpuUsage: all its threads, so V8's compiler and GC
// threads are counted) before and after each round, so the load generator's CPU and the warm-up
// are never in the figures. Rounds are a fixed number of requests (sized from the warm-up's
// rate to last about --seconds) rather than a duration, so that the check below is exact.
//
// How the overheads are compared. On a shared machine a server's CPU per request moves by a
// quarter or more from round to round (other processes evict caches and take the cores), and
// the plain server moves as much as the others, so an overhead of a few µs, taken as a
// difference from it, can change sign from one round to the next, and a ratio of two such
// differences swings wildly. The comparison is therefore made on what the plain server does
// not enter: per round, the difference between the middleware's server and prom-client's
// (CPU per request over the same round), and its median over the rounds, which a round where
// one server was hit harder than the other cannot move. The plain server only gives the scale:
//   ratio = 1 + median(prom-multiproc - prom-client) / median(prom-client - plain),
// that is, prom-client's median overhead plus the median gap, over prom-client's median
// overhead. At a target of 1.0x the verdict is the sign of the median gap alone; the plain
// server's drift only stretches or shrinks how large a share the gap is.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { collectDirectory } from '../packages/prom-multiproc/src/index.js';
import { Lanes, target as loadTarget, type Target } from './bench-http/rotate.js';

const FRAMEWORKS = ['node', 'express'] as const;
const VARIANTS = ['plain', 'prom-client', 'prom-multiproc'] as const;
type Framework = (typeof FRAMEWORKS)[number];
type Variant = (typeof VARIANTS)[number];
const FRAMEWORK_NAMES: Record<Framework, string> = { node: 'node:http', express: 'Express' };

/** The goal: the middleware's overhead at most this share of prom-client's. */
function target(connections: number): number {
  return connections === 1 ? 1.0 : 0.9;
}

function argument(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes positive integers`);
  return value;
}

function positiveNumber(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number`);
  return value;
}

function option(name: string, fallback: number): number {
  const text = argument(name);
  return text === undefined ? fallback : positive(name, text);
}

function listOption<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const text = argument(name);
  if (text === undefined) return [...fallback];
  const values = text.split(',');
  for (const value of values) if (!allowed.includes(value as T)) throw new Error(`--${name} takes ${allowed.join(', ')}`);
  return values as T[];
}

const rounds = option('rounds', 31);
const seconds = positiveNumber('seconds', argument('seconds') ?? '1');
const connectionCounts = (argument('connections') ?? '1,50').split(',').map((text) => positive('connections', text));
const frameworks = listOption('frameworks', FRAMEWORKS, FRAMEWORKS);
const fixedRequests = argument('requests') === undefined ? undefined : option('requests', 1);
const dirParent = argument('dir') ?? tmpdir();

const root = fileURLToPath(new URL('../', import.meta.url));
const serverScript = fileURLToPath(new URL('./bench-http/server.ts', import.meta.url));

interface RunningServer {
  url: string;
  /** The server's CPU time so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(framework: Framework, variant: Variant, dir: string): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, framework, variant], {
    cwd: root,
    env: { ...process.env, PROM_MULTIPROC_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextMessage = async <T>(): Promise<T> => {
    const next = await Promise.race([lines.next(), exited.then(() => undefined)]);
    if (next === undefined || next.done === true) throw new Error(`the ${framework} ${variant} server exited unexpectedly`);
    return JSON.parse(next.value) as T;
  };
  const { port } = await nextMessage<{ port: number }>();
  return {
    url: `http://127.0.0.1:${port}/users/42`,
    cpuMicros: async () => {
      child.kill('SIGUSR2');
      return (await nextMessage<{ cpuMicros: number }>()).cpuMicros;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`the ${framework} ${variant} server exited with ${code}`);
    },
  };
}

function sampleSum(families: Awaited<ReturnType<typeof collectDirectory>>['families'], sampleName: string): number {
  let sum = 0;
  for (const family of families) for (const sample of family.samples) if (sample.name === sampleName) sum += sample.value;
  return sum;
}

interface Run {
  /** The server's CPU time per request, in microseconds: the cost machine noise blurs least. */
  cpuPerRequest: number;
}

const problems: string[] = [];

function checkClean(label: string, to: Target, expected: number): void {
  if (to.failed > 0 || to.ok !== expected) problems.push(`${label}: ${to.ok} of ${expected} responses were 2xx (${to.failed} failed)`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One variant's server, with the responses it sent so far (to check the middleware's count against). */
interface Subject {
  variant: Variant;
  server: RunningServer;
  dir: string;
  load: Target;
}

/** What the middleware's merged files counted against the responses its server sent. */
interface Counted {
  requests: number;
  histogramCount: number;
  responses: number;
}

interface Case {
  framework: Framework;
  connections: number;
  requests: number;
  runs: Record<Variant, Run[]>;
  counted?: Counted;
}

async function countedIn(subject: Subject, label: string): Promise<Counted> {
  const { families, skipped } = await collectDirectory(subject.dir);
  if (skipped.length > 0) problems.push(`${label}: files skipped: ${JSON.stringify(skipped)}`);
  const counted = {
    requests: sampleSum(families, 'http_requests_total'),
    histogramCount: sampleSum(families, 'http_request_duration_seconds_count'),
    responses: subject.load.ok,
  };
  if (counted.requests !== counted.responses || counted.histogramCount !== counted.responses) {
    problems.push(`${label}: ${counted.responses} responses, but http_requests_total ${counted.requests} and _count ${counted.histogramCount}`);
  }
  return counted;
}

/** Every round of one framework and connection count, its three servers side by side. */
async function runCase(framework: Framework, connections: number): Promise<Case> {
  const name = `${framework} c=${connections}`;
  const subjects: Subject[] = [];
  try {
    for (const variant of VARIANTS) {
      const dir = mkdtempSync(path.join(dirParent, 'pm-bench-http-'));
      const server = await startServer(framework, variant, dir);
      subjects.push({ variant, dir, server, load: loadTarget(server.url) });
    }
    const lanes = new Lanes(subjects.map((subject) => subject.load), connections);
    const perCycle = lanes.perCycle;
    const expectOk = (label: string): void => {
      for (const subject of subjects) checkClean(`${name} ${label} ${subject.variant}`, subject.load, subject.load.ok + subject.load.failed);
    };
    // Warm the servers up (code optimized, series created); size the rounds from the warm-up's rate.
    // Long enough for V8 to finish optimizing: its compiler threads' time is the process's CPU too.
    const warmUpCycles = Math.ceil(Math.max(10_000, 5 * (fixedRequests ?? 0)) / perCycle);
    const warmUpStarted = performance.now();
    await lanes.run(warmUpCycles);
    const perSecond = (warmUpCycles * perCycle) / ((performance.now() - warmUpStarted) / 1e3);
    expectOk('warm-up');
    const cycles = Math.max(1, Math.round((fixedRequests ?? Math.max(300, perSecond * seconds)) / perCycle));
    const requests = cycles * perCycle;
    const entry: Case = { framework, connections, requests, runs: { plain: [], 'prom-client': [], 'prom-multiproc': [] } };
    for (let round = 1; round <= rounds; round++) {
      const before = await Promise.all(subjects.map((subject) => subject.server.cpuMicros()));
      const ok = subjects.map((subject) => subject.load.ok);
      await lanes.run(cycles);
      const after = await Promise.all(subjects.map((subject) => subject.server.cpuMicros()));
      subjects.forEach((subject, i) => {
        checkClean(`${name} round ${round} ${subject.variant}`, subject.load, ok[i]! + requests);
        entry.runs[subject.variant].push({ cpuPerRequest: (after[i]! - before[i]!) / requests });
      });
    }
    lanes.close();
    for (let subject = subjects.shift(); subject !== undefined; subject = subjects.shift()) {
      await subject.server.stop();
      if (subject.variant === 'prom-multiproc') entry.counted = await countedIn(subject, `${name} prom-multiproc`);
      rmSync(subject.dir, { recursive: true, force: true });
    }
    return entry;
  } finally {
    for (const subject of subjects) {
      await subject.server.stop().catch(() => undefined);
      rmSync(subject.dir, { recursive: true, force: true });
    }
  }
}

const cpuList = cpus();
console.log('prom-multiproc HTTP benchmark: server CPU per request, no metrics / prom-client by hand / prom-multiproc middleware');
console.log(`node ${process.version} (${process.platform}/${process.arch}), ${cpuList.length} x ${cpuList[0]?.model.trim() ?? 'unknown cpu'}`);
console.log(`servers: one process per variant (prom-multiproc's metrics in files under ${dirParent}, multiprocess mode); load: request loops visiting the three servers in turn, in the runner's process`);
console.log(`${rounds} rounds (about ${seconds} s each) loading the three servers together, after a warm-up of 10,000 requests or more per server`);

const cases: Case[] = [];
for (const framework of frameworks) {
  for (const connections of connectionCounts) {
    cases.push(await runCase(framework, connections));
    process.stderr.write(`${framework} c=${connections} done\n`);
  }
}

const micros = (value: number): string => value.toFixed(1).padStart(7);
const times = (value: number): string => `${value.toFixed(2)}x`;
const spread = (values: readonly number[], show: (value: number) => string): string =>
  `${show(median(values))}  ${show(Math.min(...values)).trim()}–${show(Math.max(...values)).trim()}`;
// With many rounds the per-round columns are left out: medians and ranges only.
const perRound = rounds <= 15;
const header = `${perRound ? Array.from({ length: rounds }, (_, i) => `r${i + 1}`.padStart(7)).join('') : ''}  median  min–max`;
const row = (label: string, values: readonly number[], show: (value: number) => string): string =>
  `  ${label.padEnd(34)}${perRound ? values.map(show).join('') : ''}${spread(values, show)}`;

const verdicts: string[] = [];
for (const { framework, connections, requests, runs } of cases) {
  const name = `${FRAMEWORK_NAMES[framework]}, ${connections} connection${connections === 1 ? '' : 's'}`;
  console.log('');
  console.log(`${name}: ${requests} requests per server per round`);
  console.log(`  ${'server CPU µs/request'.padEnd(34)}${header}`);
  for (const variant of VARIANTS) console.log(row(variant, runs[variant].map((r) => r.cpuPerRequest), micros));
  const cpu = (variant: Variant): number[] => runs[variant].map((r) => r.cpuPerRequest);
  const theirs = cpu('prom-client').map((value, i) => value - runs.plain[i]!.cpuPerRequest);
  const ours = cpu('prom-multiproc').map((value, i) => value - runs.plain[i]!.cpuPerRequest);
  const gaps = cpu('prom-multiproc').map((value, i) => value - runs['prom-client'][i]!.cpuPerRequest);
  console.log(row('overhead: prom-client', theirs, micros));
  console.log(row('overhead: prom-multiproc', ours, micros));
  console.log(row('gap: prom-multiproc - prom-client', gaps, micros));
  const scale = median(theirs);
  const gap = median(gaps);
  const ratio = 1 + gap / scale;
  const goal = target(connections);
  const verdict = scale > 0 && ratio <= goal ? 'met' : 'MISSED';
  const line = `${name}: prom-client's overhead ${scale.toFixed(1)} µs, prom-multiproc ${gap >= 0 ? '+' : ''}${gap.toFixed(1)} µs from it (median gap; rounds ${Math.min(...gaps).toFixed(1)}–${Math.max(...gaps).toFixed(1)}) = ${times(ratio)} (median overheads ${median(ours).toFixed(1)} / ${scale.toFixed(1)} = ${times(median(ours) / scale)}); target <= ${goal.toFixed(1)}x: ${verdict}`;
  console.log(`  ${line}`);
  verdicts.push(line);
}

console.log('');
console.log('goal 2 (ratio = 1 + median per-round gap prom-multiproc - prom-client / median overhead of prom-client):');
for (const line of verdicts) console.log(`  ${line}`);

console.log('');
console.log('nothing lost (prom-multiproc servers: responses received, warm-up included, against the merged files):');
for (const { framework, connections, counted } of cases) {
  const { requests: total, histogramCount, responses } = counted!;
  const verdict = total === responses && histogramCount === responses ? 'equal' : 'DIFFERENT';
  console.log(`  ${FRAMEWORK_NAMES[framework]} c=${connections}: ${responses} responses, http_requests_total ${total}, _count ${histogramCount}: ${verdict}`);
}
if (problems.length > 0) {
  console.log('');
  for (const problem of problems) console.log(`PROBLEM ${problem}`);
  process.exitCode = 1;
}
