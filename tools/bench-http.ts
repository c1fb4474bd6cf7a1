// The HTTP benchmark: what request metrics cost a server, per request, in whole-process CPU,
// for this package's middleware and for prom-client instrumented by hand, side by side; on
// node:http and Express, at 1 connection (a request per event-loop turn: the per-request
// costs, nothing shared) and at 50 (many requests per turn). For the middleware, a check that
// the merged http_requests_total equals the responses the load generator received.
//
//   node --import tsx tools/bench-http.ts [--rounds=11] [--seconds=1] [--connections=1,50]
//       [--frameworks=node,express] [--requests=N] [--dir=PARENT]
//
// --dir is where the metrics directories are made (the system's temporary directory by
// default); a service keeps them on tmpfs (/run), and /dev/shm measures that case.
//
// The overhead of a variant is its server CPU per request minus the plain server's in the same
// round; the goal compares the middleware's overhead with prom-client's (at most 1.0x at 1
// connection, 0.9x at 50). For each framework and connection count, the three variants run as
// three server processes (tools/bench-http/server.ts) side by side, warmed up first; then each
// round sends a burst of requests to each, in an order rotated every round, so that the runs
// compared are seconds apart and machine noise falls on all of them alike. Bursts are a fixed
// number of requests (sized from the plain server's rate to last about --seconds) rather than a
// duration: a duration cuts requests in flight at the end, which the server may have counted
// and the load generator not, and then the check could not be exact. The load generator is
// autocannon, in this process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { collectDirectory } from '../packages/prom-multiproc/src/index.js';

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

const rounds = option('rounds', 11);
const seconds = option('seconds', 1);
const connectionCounts = (argument('connections') ?? '1,50').split(',').map((text) => positive('connections', text));
const frameworks = listOption('frameworks', FRAMEWORKS, FRAMEWORKS);
const fixedRequests = argument('requests') === undefined ? undefined : option('requests', 1);
const dirParent = argument('dir') ?? tmpdir();

const root = fileURLToPath(new URL('../', import.meta.url));
const serverScript = fileURLToPath(new URL('./bench-http/server.ts', import.meta.url));
// autocannon has no types of its own; the part used here.
type Autocannon = (options: { url: string; connections: number; amount?: number; duration?: number }) => Promise<LoadResult>;
const runAutocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

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

interface LoadResult {
  requests: { total: number; sent: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

/** Sends `amount` requests; `rate` is per second of wall time (autocannon's own duration is in whole ticks). */
async function load(url: string, connections: number, amount: number): Promise<LoadResult & { rate: number }> {
  const started = performance.now();
  const result = await runAutocannon({ url, connections, amount });
  return { ...result, rate: result.requests.total / ((performance.now() - started) / 1e3) };
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

function checkClean(label: string, result: LoadResult, expected: number): void {
  const bad = { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx };
  if (result.errors + result.timeouts + result.non2xx > 0 || result['2xx'] !== expected) {
    problems.push(`${label}: ${result['2xx']} of ${expected} responses were 2xx (${JSON.stringify(bad)})`);
  }
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
  responses: number;
}

/** One burst of `requests` at one server: its CPU per request. */
async function burst(subject: Subject, connections: number, requests: number, label: string): Promise<Run> {
  const cpuBefore = await subject.server.cpuMicros();
  const result = await load(subject.server.url, connections, requests);
  const cpu = (await subject.server.cpuMicros()) - cpuBefore;
  checkClean(label, result, requests);
  subject.responses += result['2xx'];
  return { cpuPerRequest: cpu / result.requests.total };
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
    responses: subject.responses,
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
      subjects.push({ variant, dir, server: await startServer(framework, variant, dir), responses: 0 });
    }
    // Warm each server up (its code optimized, its series created); size the bursts from the plain one.
    let requests = fixedRequests;
    for (const subject of subjects) {
      // Long enough for V8 to finish optimizing: its compiler threads' time is the process's CPU too.
      const warmUp = Math.max(10_000, 5 * (requests ?? 0));
      const result = await load(subject.server.url, connections, warmUp);
      checkClean(`${name} ${subject.variant} warm-up`, result, warmUp);
      subject.responses += result['2xx'];
      if (requests === undefined && subject.variant === 'plain') {
        requests = Math.max(500, Math.round(result.rate * seconds));
      }
    }
    const entry: Case = { framework, connections, requests: requests!, runs: { plain: [], 'prom-client': [], 'prom-multiproc': [] } };
    for (let round = 1; round <= rounds; round++) {
      const shift = (round - 1) % subjects.length;
      for (const subject of [...subjects.slice(shift), ...subjects.slice(0, shift)]) {
        entry.runs[subject.variant].push(await burst(subject, connections, entry.requests, `${name} round ${round} ${subject.variant}`));
      }
    }
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
console.log(`servers: one process per variant (prom-multiproc's metrics in files under ${dirParent}, multiprocess mode); load: autocannon in the runner's process`);
console.log(`${rounds} rounds of one burst per variant, order rotated each round, after a warm-up of 10,000 requests or more per server`);

const cases: Case[] = [];
for (const framework of frameworks) {
  for (const connections of connectionCounts) {
    cases.push(await runCase(framework, connections));
    process.stderr.write(`${framework} c=${connections} done\n`);
  }
}

const micros = (value: number): string => value.toFixed(1).padStart(7);
const times = (value: number): string => `${value.toFixed(2)}x`.padStart(7);
const spread = (values: readonly number[], show: (value: number) => string): string =>
  `${show(median(values))}  ${show(Math.min(...values)).trim()}–${show(Math.max(...values)).trim()}`;
const header = `${Array.from({ length: rounds }, (_, i) => `r${i + 1}`.padStart(7)).join('')}  median  min–max`;
const row = (label: string, values: readonly number[], show: (value: number) => string): string =>
  `  ${label.padEnd(30)}${values.map(show).join('')}${spread(values, show)}`;

const verdicts: string[] = [];
for (const { framework, connections, requests, runs } of cases) {
  const name = `${FRAMEWORK_NAMES[framework]}, ${connections} connection${connections === 1 ? '' : 's'}`;
  console.log('');
  console.log(`${name}: ${requests} requests per burst`);
  console.log(`  ${'server CPU µs/request'.padEnd(30)}${header}`);
  for (const variant of VARIANTS) console.log(row(variant, runs[variant].map((r) => r.cpuPerRequest), micros));
  const overhead = (variant: Variant): number[] => runs[variant].map((r, i) => r.cpuPerRequest - runs.plain[i]!.cpuPerRequest);
  const theirs = overhead('prom-client');
  const ours = overhead('prom-multiproc');
  console.log(row('overhead: prom-client', theirs, micros));
  console.log(row('overhead: prom-multiproc', ours, micros));
  const ratios = ours.map((value, i) => value / theirs[i]!);
  const ratio = median(ours) / median(theirs);
  console.log(row('ratio of overheads', ratios, times));
  const goal = target(connections);
  const verdict = ratio <= goal ? 'met' : 'MISSED';
  const line = `${name}: prom-multiproc's overhead ${median(ours).toFixed(1)} µs vs prom-client's ${median(theirs).toFixed(1)} µs = ${ratio.toFixed(2)}x (per round ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); target <= ${goal.toFixed(1)}x: ${verdict}`;
  console.log(`  ${line}`);
  verdicts.push(line);
}

console.log('');
console.log('goal 2 (ratio = median overhead of prom-multiproc / median overhead of prom-client):');
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
