// A process writing a counter and a histogram with exemplars into the directory, as the metrics
// do: values through its store's cells, exemplars through its exemplar sink, the histogram's to
// the bucket the observation is counted in. Driven by test/exemplars.test.ts with one JSON
// command a line on stdin; each is answered with {"done": <id>} once the turn that wrote it has
// ended, so its files are on disk by then.
//   argv: <dir> <identity>
//   {"id": 1, "op": "inc", "labels": {"queue": "a"}, "value": 2, "exemplar": {"trace_id": "x"}, "timestamp": 1700000000.5}
//   {"id": 2, "op": "observe", "labels": {"route": "/"}, "value": 0.3, "exemplar": {...}, "timestamp": ...}
import { createInterface } from 'node:readline';
import { floatToGoString } from '../../packages/prom-multiproc/src/pythonFloat.js';
import { entryKey } from '../../packages/prom-multiproc/src/pythonJson.js';
import type { Cell } from '../../packages/prom-multiproc/src/storage/cell.js';
import { exemplarSink } from '../../packages/prom-multiproc/src/storage/exemplarFile.js';
import { FileStore } from '../../packages/prom-multiproc/src/storage/fileStore.js';

const COUNTER = { name: 'test_jobs', help: 'Jobs done.', labelNames: ['queue'] };
const HISTOGRAM = { name: 'test_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 0.5, 1, Infinity] };

interface Command {
  id: number;
  op: 'inc' | 'observe';
  labels: Record<string, string>;
  value: number;
  exemplar: Record<string, string>;
  timestamp: number;
}

const [dir, identity] = process.argv.slice(2);
const store = new FileStore({ dir: dir!, identity: identity! });
const sink = exemplarSink(store);

function add(cell: Cell, value: number): void {
  cell.value += value;
  if (!cell.dirty) cell.owner.onDirty(cell);
}

function inc({ labels, value, exemplar, timestamp }: Command): void {
  const values = COUNTER.labelNames.map((name) => labels[name]!);
  const key = entryKey(COUNTER.name, `${COUNTER.name}_total`, COUNTER.labelNames, values, COUNTER.help);
  add(store.cell('counter', key), value);
  sink.record(key, exemplar, value, timestamp);
}

function observe({ labels, value, exemplar, timestamp }: Command): void {
  const values = HISTOGRAM.labelNames.map((name) => labels[name]!);
  const { name, help, labelNames, buckets } = HISTOGRAM;
  add(store.cell('histogram', entryKey(name, `${name}_sum`, labelNames, values, help)), value);
  // Every bucket of the series exists in the file, as the histogram creates them; the
  // observation is counted in the first whose bound is at least the value, and its exemplar
  // goes with that bucket.
  const keys = buckets.map((bound) => entryKey(name, `${name}_bucket`, [...labelNames, 'le'], [...values, floatToGoString(bound)], help));
  const cells = keys.map((key) => store.cell('histogram', key));
  const index = buckets.findIndex((upper) => value <= upper);
  add(cells[index]!, 1);
  sink.record(keys[index]!, exemplar, value, timestamp);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  if (command.op === 'inc') inc(command);
  else observe(command);
  // Queued after the store's and the sink's writes of this turn, so it runs once they are done.
  setImmediate(() => process.stdout.write(`${JSON.stringify({ done: command.id })}\n`));
});
process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
