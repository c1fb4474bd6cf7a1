// A node:cluster worker for test/cluster.test.ts. It records a deterministic amount of work
// that differs per worker (from cluster.worker.id) through the library's default store
// (PROM_MULTIPROC_DIR from the primary, identity = this pid), reports what it did, and waits
// until the primary tells it to set the mostrecent gauge, or kills it.
import cluster from 'node:cluster';
import { Counter, Gauge, Histogram, Summary } from '../../packages/prom-multiproc/src/index.js';
import {
  LATENCY_BUCKETS, type Contribution, type PrimaryToWorkerMessage, type WorkerMessage,
} from './clusterProtocol.js';
import { afterWritten } from './afterWritten.js';

const workerId = cluster.worker?.id;
if (workerId === undefined || process.send === undefined) throw new Error('clusterWorker.ts runs as a node:cluster worker');

function send(message: WorkerMessage): void {
  process.send!(message);
}


const requests = new Counter({ name: 'cluster_requests_total', help: 'Requests served.', labelNames: ['route', 'status'] });
const bytes = new Counter({ name: 'cluster_bytes_total', help: 'Bytes sent.' });
const temperature = new Gauge({ name: 'cluster_temperature', help: 'Per worker.', multiprocessMode: 'all' });
const connections = new Gauge({ name: 'cluster_connections', help: 'Open connections.', multiprocessMode: 'liveall' });
const queueDepth = new Gauge({ name: 'cluster_queue_depth', help: 'Jobs queued.', labelNames: ['queue'], multiprocessMode: 'livesum' });
const peakMemory = new Gauge({ name: 'cluster_peak_memory', help: 'Highest ever.', multiprocessMode: 'max' });
const livePeak = new Gauge({ name: 'cluster_live_peak', help: 'Highest among the living.', multiprocessMode: 'livemax' });
const floor = new Gauge({ name: 'cluster_floor', help: 'Lowest ever.', multiprocessMode: 'min' });
const lastDeploy = new Gauge({ name: 'cluster_last_deploy', help: 'Newest wins.', multiprocessMode: 'mostrecent' });
const latency = new Histogram({ name: 'cluster_latency_seconds', help: 'Latency.', labelNames: ['method'], buckets: LATENCY_BUCKETS });
const payload = new Summary({ name: 'cluster_payload_bytes', help: 'Payload sizes.' });

const ROUTES = ['/a', '/b', '/café'];
// Bounds themselves (0.1, 0.5, 1, 5) are included: le means "less than or equal".
const OBSERVATIONS = [0.05, 0.1, 0.3, 0.5, 0.75, 1, 2.5, 5, 7, 12];

function work(w: number): Contribution {
  const did: Contribution = {
    requests: [], bytes: [], gauges: { all: 0, liveall: 0, max: 0, livemax: 0, min: 0 }, queueDepth: {}, latency: [], payload: [],
  };
  for (let i = 0; i < 10 + 5 * w; i++) {
    const route = ROUTES[(i + w) % ROUTES.length]!;
    const status = i % 4 === 0 ? '500' : '200';
    const amount = i % 5 === 0 ? 0.25 : 1;
    requests.labels(route, status).inc(amount);
    did.requests.push({ route, status, amount });
  }
  for (let i = 1; i <= 7 * w; i++) {
    bytes.inc(0.1 * i);
    did.bytes.push(0.1 * i);
  }

  temperature.set(10 * w + 0.5);
  did.gauges.all = 10 * w + 0.5;
  connections.inc(4 * w);
  connections.dec(w);
  did.gauges.liveall = 3 * w;
  peakMemory.set(w === 3 ? 2 ** 20 + 0.5 : 1000 * w);
  did.gauges.max = w === 3 ? 2 ** 20 + 0.5 : 1000 * w;
  livePeak.set(100 * w + 7);
  did.gauges.livemax = 100 * w + 7;
  floor.set(7);
  floor.set(-2.25 * w);
  did.gauges.min = -2.25 * w;
  for (const queue of ['high', 'low']) {
    const gauge = queueDepth.labels({ queue });
    gauge.inc(w);
    gauge.inc(0.5 * w);
    gauge.dec(queue === 'low' ? 1 : 0);
    did.queueDepth[queue] = 1.5 * w - (queue === 'low' ? 1 : 0);
  }

  for (let i = 0; i < 6 + 3 * w; i++) {
    const value = OBSERVATIONS[(i * w + i) % OBSERVATIONS.length]!;
    const method = i % 3 === 0 ? 'post' : 'get';
    latency.observe({ method }, value);
    did.latency.push({ method, value });
  }
  for (let i = 0; i < w + 2; i++) {
    payload.observe(128 * w + i);
    did.payload.push(128 * w + i);
  }
  return did;
}

process.on('message', (message: PrimaryToWorkerMessage) => {
  if (message.type !== 'set-mostrecent') return;
  const before = Date.now();
  lastDeploy.set(message.value);
  const after = Date.now();
  afterWritten(() => send({ type: 'mostrecent-set', set: { workerId, pid: process.pid, value: message.value, before, after } }));
});

const did = work(workerId);
afterWritten(() => send({ type: 'report', report: { workerId, pid: process.pid, did } }));
