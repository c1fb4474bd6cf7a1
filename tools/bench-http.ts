// The HTTP benchmark: requests/s of a node:http server with and without instrumentHandler,
// under load from autocannon in a second process, side by side; and, for every instrumented
// run, a check that the merged http_requests_total equals the responses autocannon received.
//
//   node --import tsx tools/bench-http.ts [--rounds=3] [--seconds=5] [--connections=32] [--requests=N] [--dir=PARENT]
//
// --dir is where the runs' metrics directories are made (the system's temporary directory by
// default); a service keeps them on tmpfs (/run), and /dev/shm measures that case.
//
// Each run is a fresh server process (tools/bench-http/server.ts) and a fresh autocannon
// process; rounds alternate which variant goes first, so machine noise falls on both. Runs
// send a fixed number of requests (autocannon --amount, sized from a calibration run to last
// about --seconds) rather than a duration: a duration cuts requests in flight at the end,
// which the server may have counted and autocannon not, and then the check could not be exact.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { collectDirectory } from '../packages/prom-multiproc/src/index.js';

type Variant = 'plain' | 'instrumented';

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg === undefined ? fallback : Number(arg.slice(name.length + 3));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive integer`);
  return value;
}

const rounds = option('rounds', 3);
const seconds = option('seconds', 5);
const connections = option('connections', 32);
const fixedRequests = process.argv.some((a) => a.startsWith('--requests=')) ? option('requests', 1) : undefined;

const dirParent = process.argv.find((a) => a.startsWith('--dir='))?.slice('--dir='.length) ?? tmpdir();

const root = fileURLToPath(new URL('../', import.meta.url));
const serverScript = fileURLToPath(new URL('./bench-http/server.ts', import.meta.url));
const autocannonPackage = createRequire(import.meta.url).resolve('autocannon/package.json');
const autocannonCli = path.join(path.dirname(autocannonPackage), 'autocannon.js');

interface RunningServer {
  url: string;
  /** The server's CPU time so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(variant: Variant, dir: string): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, variant], {
    cwd: root,
    env: { ...process.env, PROM_MULTIPROC_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextMessage = async <T>(): Promise<T> => {
    const next = await Promise.race([lines.next(), exited.then(() => undefined)]);
    if (next === undefined || next.done === true) throw new Error(`the ${variant} server exited unexpectedly`);
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
      if (code !== 0) throw new Error(`the ${variant} server exited with ${code}`);
    },
  };
}

interface LoadResult {
  /** Seconds, as autocannon measured them. */
  duration: number;
  requests: { total: number; sent: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

function autocannon(url: string, args: string[]): Promise<LoadResult> {
  const child = spawn(process.execPath, [autocannonCli, '--json', '--no-progress', '-c', String(connections), ...args, url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`autocannon exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as LoadResult);
    });
  });
}

function sampleSum(families: Awaited<ReturnType<typeof collectDirectory>>['families'], sampleName: string): number {
  let sum = 0;
  for (const family of families) for (const sample of family.samples) if (sample.name === sampleName) sum += sample.value;
  return sum;
}

interface Run {
  rate: number;
  /** The server's CPU time per request, in microseconds: the cost machine noise blurs least. */
  cpuPerRequest: number;
  p50: number;
  p99: number;
  /** What the metrics counted against what autocannon received; undefined for the plain server. */
  counted?: { requests: number; histogramCount: number; responses: number };
}

const problems: string[] = [];

function checkClean(label: string, result: LoadResult, expected: number): void {
  const bad = { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx };
  if (result.errors + result.timeouts + result.non2xx > 0 || result['2xx'] !== expected) {
    problems.push(`${label}: ${result['2xx']} of ${expected} responses were 2xx (${JSON.stringify(bad)})`);
  }
}

async function measure(variant: Variant, requests: number, label: string): Promise<Run> {
  const dir = mkdtempSync(path.join(dirParent, 'pm-bench-http-'));
  try {
    const server = await startServer(variant, dir);
    let warm: LoadResult;
    let result: LoadResult;
    let cpu: number;
    try {
      const warmUp = Math.max(500, Math.round(requests / 5));
      warm = await autocannon(server.url, ['--amount', String(warmUp)]);
      checkClean(`${label} warm-up`, warm, warmUp);
      const cpuBefore = await server.cpuMicros();
      result = await autocannon(server.url, ['--amount', String(requests)]);
      cpu = (await server.cpuMicros()) - cpuBefore;
      checkClean(label, result, requests);
    } finally {
      await server.stop();
    }
    const run: Run = {
      rate: result.requests.total / result.duration,
      cpuPerRequest: cpu / result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
    };
    if (variant === 'instrumented') {
      const { families, skipped } = await collectDirectory(dir);
      if (skipped.length > 0) problems.push(`${label}: files skipped: ${JSON.stringify(skipped)}`);
      run.counted = {
        requests: sampleSum(families, 'http_requests_total'),
        histogramCount: sampleSum(families, 'http_request_duration_seconds_count'),
        responses: warm['2xx'] + result['2xx'],
      };
      if (run.counted.requests !== run.counted.responses || run.counted.histogramCount !== run.counted.responses) {
        problems.push(`${label}: ${run.counted.responses} responses, but http_requests_total ${run.counted.requests} and _count ${run.counted.histogramCount}`);
      }
    }
    return run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const rate = (value: number): string => Math.round(value).toLocaleString('en-US').padStart(9);

async function calibrate(): Promise<number> {
  if (fixedRequests !== undefined) return fixedRequests;
  const dir = mkdtempSync(path.join(dirParent, 'pm-bench-http-'));
  try {
    const server = await startServer('plain', dir);
    try {
      await autocannon(server.url, ['--amount', '2000']); // warm, as the measured runs are
      const probe = await autocannon(server.url, ['--duration', '2']);
      return Math.max(1_000, Math.round((probe.requests.total / probe.duration) * seconds));
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cpuList = cpus();
console.log('prom-multiproc HTTP benchmark: node:http with and without instrumentHandler');
console.log(`node ${process.version} (${process.platform}/${process.arch}), ${cpuList.length} x ${cpuList[0]?.model.trim() ?? 'unknown cpu'}`);
const requests = await calibrate();
console.log(`server: 1 process (metrics in files under ${dirParent}, multiprocess mode); load: autocannon in a second process, ${connections} connections`);
console.log(`${requests} requests per run${fixedRequests === undefined ? ` (about ${seconds} s)` : ''}, after a warm-up of ${Math.max(500, Math.round(requests / 5))}; ${rounds} rounds, order alternated, fresh processes per run`);
console.log('');

const runs: Record<Variant, Run[]> = { plain: [], instrumented: [] };
for (let round = 1; round <= rounds; round++) {
  const order: Variant[] = round % 2 === 1 ? ['plain', 'instrumented'] : ['instrumented', 'plain'];
  for (const variant of order) runs[variant].push(await measure(variant, requests, `round ${round} ${variant}`));
  process.stderr.write(`round ${round}/${rounds} done\n`);
}

const header = Array.from({ length: rounds }, (_, i) => `round ${i + 1}`.padStart(9)).join(' ');
console.log(`${'requests/s'.padEnd(24)} ${header}    median   p50/p99 latency (ms, median of rounds)`);
const rows: [string, Variant][] = [['plain node:http', 'plain'], ['with instrumentHandler', 'instrumented']];
for (const [label, variant] of rows) {
  const list = runs[variant];
  const latency = `${median(list.map((r) => r.p50))} / ${median(list.map((r) => r.p99))}`;
  console.log(`${label.padEnd(24)} ${list.map((r) => rate(r.rate)).join(' ')} ${rate(median(list.map((r) => r.rate)))}   ${latency}`);
}
const ratios = runs.plain.map((plain, i) => runs.instrumented[i]!.rate / plain.rate);
const ratioMedian = median(runs.instrumented.map((r) => r.rate)) / median(runs.plain.map((r) => r.rate));
console.log(`${'instrumented / plain'.padEnd(24)} ${ratios.map((r) => r.toFixed(3).padStart(9)).join(' ')} ${ratioMedian.toFixed(3).padStart(9)}`);
console.log('');
console.log(`${'server CPU µs/request'.padEnd(24)} ${header}    median`);
const micros = (value: number): string => value.toFixed(1).padStart(9);
for (const [label, variant] of rows) {
  const list = runs[variant].map((r) => r.cpuPerRequest);
  console.log(`${label.padEnd(24)} ${list.map(micros).join(' ')} ${micros(median(list))}`);
}
const added = runs.instrumented.map((r, i) => r.cpuPerRequest - runs.plain[i]!.cpuPerRequest);
console.log(`${'added by the middleware'.padEnd(24)} ${added.map(micros).join(' ')} ${micros(median(added))}`);
console.log('');

console.log('nothing lost (instrumented runs: responses autocannon received, warm-up included, against the merged files):');
runs.instrumented.forEach((run, i) => {
  const { requests: counted, histogramCount, responses } = run.counted!;
  const verdict = counted === responses && histogramCount === responses ? 'equal' : 'DIFFERENT';
  console.log(`  round ${i + 1}: ${responses} responses, http_requests_total ${counted}, http_request_duration_seconds_count ${histogramCount}: ${verdict}`);
});
if (problems.length > 0) {
  console.log('');
  for (const problem of problems) console.log(`PROBLEM ${problem}`);
  process.exitCode = 1;
}
