// A process recording exemplars through the public API: the counter and histogram of
// exemplarMetrics.ts, in the directory and under the identity its environment names
// (PROM_MULTIPROC_DIR, PROM_MULTIPROC_IDENTITY). Driven by test/exemplars.test.ts with one JSON
// command a line on stdin; each is answered once what it recorded is written (so its files are
// on disk), with the time before and after the call (the exemplar's timestamp lies
// between) and, for a timer, the seconds it observed.
//   {"id": 1, "op": "inc", "labels": {"queue": "a"}, "value": 2, "exemplar": {"trace_id": "x"}}
//   {"id": 2, "op": "observe", "labels": {"route": "/"}, "value": 0.3, "exemplar": {...}}
//   {"id": 3, "op": "time", "labels": {"route": "/"}, "exemplar": {...}}
//   -> {"done": 1, "from": <seconds>, "to": <seconds>, "seconds"?: <observed>}
import { createInterface } from 'node:readline';
import { Registry } from '../../packages/prom-multiproc/src/index.js';
import { afterWritten } from './afterWritten.js';
import { exemplarMetrics } from './exemplarMetrics.js';

interface Command {
  id: number;
  op: 'inc' | 'observe' | 'time';
  labels: Record<string, string>;
  value?: number;
  exemplar?: Record<string, string>;
}

const { jobs, latency } = exemplarMetrics(new Registry(Registry.OPENMETRICS_CONTENT_TYPE));

function run({ op, labels, value, exemplar }: Command): number | undefined {
  if (op === 'inc') jobs.inc({ labels, value, exemplarLabels: exemplar });
  else if (op === 'observe') latency.observe({ labels, value: value!, exemplarLabels: exemplar });
  else return latency.startTimer(labels, exemplar)();
  return undefined;
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  const from = Date.now() / 1000;
  const seconds = run(command);
  const to = Date.now() / 1000;
  afterWritten(() => process.stdout.write(`${JSON.stringify({ done: command.id, from, to, seconds })}\n`));
});
process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
