#!/usr/bin/env node
// The demo: a 4-worker HTTP service under node:cluster, each worker recording request metrics
// into one shared directory; traffic with 404s and errors, a worker replaced midway, and the
// merged /metrics scrape printed. `node tools/demo.mjs --keep` stays up for curl.
import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanDirectory, markProcessDead } from '../packages/prom-multiproc/dist/esm/index.js';

const WORKERS = 4;
const root = fileURLToPath(new URL('../', import.meta.url));
const dir = process.env.PROM_MULTIPROC_DIR ?? path.join(root, '.tmp', 'demo-metrics');
const keep = process.argv.includes('--keep');
const port = Number(process.env.PORT ?? 0);

mkdirSync(path.dirname(dir), { recursive: true });
// At boot, as a process manager would: stale files of an earlier run must not come back.
cleanDirectory(dir);
process.env.PROM_MULTIPROC_DIR = dir;
cluster.setupPrimary({ exec: fileURLToPath(new URL('./demo-worker.mjs', import.meta.url)) });

let servicePort;
const listening = new Map();
function fork() {
  const worker = cluster.fork({ PORT: String(port) });
  const pid = worker.process.pid;
  worker.on('message', (message) => {
    if (message?.listening) {
      servicePort = message.port;
      listening.get(worker)?.();
    }
  });
  // The process manager's hook: a worker that exits leaves the live gauges.
  worker.on('exit', () => markProcessDead(pid, dir));
  return new Promise((resolve) => listening.set(worker, () => resolve(worker)));
}

async function request(pathname, method = 'GET') {
  const response = await fetch(`http://127.0.0.1:${servicePort}${pathname}`, { method });
  await response.text();
  return response.status;
}

async function traffic(count) {
  const paths = ['/users/1', '/users/2', '/users/42', '/health', '/nope', '/error', '/wp-login.php'];
  const statuses = {};
  for (let i = 0; i < count; i++) {
    const status = await request(paths[i % paths.length], i % 11 === 0 ? 'POST' : 'GET');
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return statuses;
}

const workers = await Promise.all(Array.from({ length: WORKERS }, fork));
console.log(`demo: ${WORKERS} workers on http://127.0.0.1:${servicePort}, metrics directory ${path.relative(root, dir)}`);
console.log('demo: first traffic', await traffic(300));

const replaced = workers[0];
console.log(`demo: replacing worker pid ${replaced.process.pid}`);
const exited = new Promise((resolve) => replaced.once('exit', resolve));
replaced.kill('SIGTERM');
await exited;
workers[0] = await fork();
console.log('demo: more traffic', await traffic(200));

const scrape = await (await fetch(`http://127.0.0.1:${servicePort}/metrics`)).text();
console.log('\ndemo: merged scrape from one worker (all workers counted):\n');
console.log(scrape.split('\n').filter((line) => line.startsWith('http_requests_total') || line.startsWith('#') || line.includes('_count') || line.startsWith('http_in_flight')).join('\n'));

if (keep) {
  console.log(`\ndemo: running; try: curl http://127.0.0.1:${servicePort}/metrics   (Ctrl-C to stop)`);
} else {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
}
