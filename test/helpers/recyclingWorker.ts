// Plays many short-lived workers one after another, each under its own identity: records a
// little, closes its files, is marked dead, and tells the parent what it recorded.
import { Counter, FileStore, Gauge, Histogram, markProcessDead } from '../../packages/prom-multiproc/src/index.js';

const dir = process.env.METRICS_DIR!;
const prefix = process.env.WORKER_PREFIX!;
const count = Number(process.env.WORKERS_TO_PLAY);

for (let i = 0; i < count; i++) {
  const identity = `${prefix}n${i}`;
  const store = new FileStore({ dir, identity });
  const jobs = new Counter({ name: 'jobs_total', help: 'Jobs', labelNames: ['kind'], store, registers: [] });
  const increments = (i % 3) + 1;
  jobs.labels(i % 2 ? 'odd' : 'even').inc(increments);
  new Histogram({ name: 'job_seconds', help: 'Job time', buckets: [0.5, 1], store, registers: [] }).observe((i % 4) / 2);
  new Gauge({ name: 'last_job', help: 'Last job of each worker', store, registers: [] }).set(i);
  new Gauge({ name: 'busy', help: 'Busy workers', multiprocessMode: 'livesum', store, registers: [] }).set(1);
  new Gauge({ name: 'peak', help: 'Peak', multiprocessMode: 'max', store, registers: [] }).set(i);
  store.close();
  markProcessDead(identity, dir);
  process.send!({ dead: identity, increments });
  // Workers live a few milliseconds each, so the directory turns over while it is scraped.
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.send!({ done: true });
