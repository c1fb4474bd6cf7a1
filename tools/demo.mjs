#!/usr/bin/env node
// The demo: a 4-worker HTTP service under node:cluster, each worker recording request metrics
// into one shared directory; traffic with 404s and errors, a worker replaced midway, and the
// merged /metrics scrape printed. `node tools/demo.mjs --keep` stays up for curl.
import cluster from 'node:cluster';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupClusterMetrics } from '../packages/prom-multiproc/dist/esm/index.js';

const WORKERS = 4;
const root = fileURLToPath(new URL('../', import.meta.url));
const dir = process.env.PROM_MULTIPROC_DIR ?? path.join(root, '.tmp', 'demo-metrics');
const keep = process.argv.includes('--keep');

// As a process manager would: empty the directory at boot, mark every exiting worker dead.
setupClusterMetrics({ dir });
cluster.setupPrimary({ exec: fileURLToPath(new URL('./demo-worker.mjs', import.meta.url)) });

let servicePort;
function fork() {
  // Every worker asks for the same port (PORT, or 0 for a free one): the primary shares one socket.
  const worker = cluster.fork({ PORT: process.env.PORT ?? '0' });
  return new Promise((resolve) => {
    worker.on('message', (message) => {
      if (!message?.listening) return;
      servicePort = message.port;
      resolve(worker);
    });
  });
}

async function get(pathname, method = 'GET') {
  const response = await fetch(`http://127.0.0.1:${servicePort}${pathname}`, { method });
  await response.text();
  return response.status;
}

async function traffic(count) {
  const paths = ['/users/1', '/users/2', '/users/42', '/health', '/nope', '/error', '/wp-login.php'];
  const statuses = {};
  for (let i = 0; i < count; i++) {
    const status = await get(paths[i % paths.length], i % 11 === 0 ? 'POST' : 'GET');
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return statuses;
}

const workers = await Promise.all(Array.from({ length: WORKERS }, fork));
console.log(`demo: ${WORKERS} workers on http://127.0.0.1:${servicePort}, metrics in ${path.relative(root, dir) || dir}`);
console.log('demo: 300 requests, by status:', await traffic(300));

const replaced = workers[0];
console.log(`demo: replacing worker ${replaced.process.pid} (its counts stay, its in-flight gauge goes)`);
const exited = new Promise((resolve) => replaced.once('exit', resolve));
replaced.kill('SIGTERM');
await exited;
workers[0] = await fork();
console.log('demo: 200 more requests, by status:', await traffic(200));

const scrape = await (await fetch(`http://127.0.0.1:${servicePort}/metrics`)).text();
const shown = scrape.split('\n').filter((line) => /^(# (HELP|TYPE) )?http_(requests_total|requests_in_flight|request_duration_seconds_count)/.test(line));
console.log('\ndemo: the merged scrape, served by one worker, counts all 500 requests:\n');
console.log(shown.join('\n'));

if (keep) {
  console.log(`\ndemo: running; try: curl http://127.0.0.1:${servicePort}/metrics   (Ctrl-C to stop)`);
} else {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
}
