// The single-process registry benchmark: `register.metrics()` of an application that uses the
// library as prom-client (no multiprocess directory), against prom-client 15 itself, in one run.
// The drop-in must not make a single-process scrape slower than the client it replaces.
//
//   node --import tsx tools/bench-registry.ts [--metrics=50] [--routes=100] [--rounds=5] [--scrapes=10]
//
// Each subject builds `metrics` counters and `metrics` histograms with `routes` label values each
// (by default 10,000 series, about 3 MB of text) in a fresh process per round, rounds interleaved
// (A B A B ...), then times its first scrape and the median of `scrapes` warm ones. Both texts
// must be byte-identical, or the run aborts. Prints medians over rounds and ours/prom-client ratios.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SUBJECTS = ['prom-client', 'prom-multiproc'] as const;
type Subject = (typeof SUBJECTS)[number];

interface Round {
  first: number;
  warm: number;
  bytes: number;
  digest: string;
}

function option(name: string, fallback: number): number {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return given === undefined ? fallback : Number(given.slice(name.length + 3));
}

async function runSubject(subject: Subject, metrics: number, routes: number, scrapes: number): Promise<Round> {
  const { createHash } = await import('node:crypto');
  const lib = subject === 'prom-client' ? await import('prom-client') : await import('../packages/prom-multiproc/src/index.js');
  const client = ((lib as { default?: unknown }).default ?? lib) as typeof import('prom-client');
  for (let m = 0; m < metrics; m++) {
    const counter = new client.Counter({ name: `requests${m}_total`, help: 'Requests.', labelNames: ['route'] });
    const histogram = new client.Histogram({ name: `latency${m}_seconds`, help: 'Latency.', labelNames: ['route'] });
    for (let r = 0; r < routes; r++) {
      counter.inc({ route: `/r${r}` });
      histogram.observe({ route: `/r${r}` }, (r % 20) / 10);
    }
  }
  let start = performance.now();
  let text = await client.register.metrics();
  const first = performance.now() - start;
  const warm: number[] = [];
  for (let i = 0; i < scrapes; i++) {
    start = performance.now();
    text = await client.register.metrics();
    warm.push(performance.now() - start);
  }
  return { first, warm: median(warm), bytes: text.length, digest: createHash('sha256').update(text).digest('hex') };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const metrics = option('metrics', 50);
  const routes = option('routes', 100);
  const scrapes = option('scrapes', 10);
  const child = process.argv.find((arg) => arg.startsWith('--subject='));
  if (child !== undefined) {
    process.stdout.write(JSON.stringify(await runSubject(child.slice(10) as Subject, metrics, routes, scrapes)));
    return;
  }
  const rounds = option('rounds', 5);
  const results = new Map<Subject, Round[]>(SUBJECTS.map((subject) => [subject, []]));
  for (let round = 0; round < rounds; round++) {
    for (const subject of SUBJECTS) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), `--subject=${subject}`, `--metrics=${metrics}`, `--routes=${routes}`, `--scrapes=${scrapes}`], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (run.status !== 0) throw new Error(`${subject} failed: ${run.stderr}`);
      results.get(subject)!.push(JSON.parse(run.stdout) as Round);
    }
  }
  const [theirs, ours] = SUBJECTS.map((subject) => results.get(subject)!);
  if (ours!.some((round, i) => round.digest !== theirs![i]!.digest)) throw new Error('the two clients wrote different texts');
  console.log(`register.metrics(), ${metrics * routes * 2} series (${theirs![0]!.bytes} bytes), ${rounds} rounds; medians (min-max) in ms`);
  for (const field of ['first', 'warm'] as const) {
    const line = SUBJECTS.map((subject) => {
      const values = results.get(subject)!.map((round) => round[field]);
      return `${subject} ${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`;
    });
    const ratio = median(ours!.map((round) => round[field])) / median(theirs!.map((round) => round[field]));
    console.log(`${field.padEnd(5)} ${line.join('   ')}   ours/prom-client ${ratio.toFixed(2)}`);
  }
}

await main();
