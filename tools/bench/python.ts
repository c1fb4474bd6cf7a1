// The Python baseline: prometheus_client in multiprocess mode (mmap files), the same labelled
// counter workload, in a fresh interpreter per round. Only run when a checkout is given or
// python3 has the package installed, since it is not a dependency of this repository.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROUTES } from './subjects.js';

export const PYTHON_CHECKOUT_VARIABLE = 'PYTHON_CLIENT_CHECKOUT';

// Same shape as runSubject.ts: warm up with a tenth of the ops, time the rest, then check
// through the multiprocess collector that every increment reached the files.
const SCRIPT = `
import json, sys, time
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.multiprocess import MultiProcessCollector

ops = int(sys.argv[1])
routes = json.loads(sys.argv[2])
counter = Counter('bench_requests', 'Requests.', ['route'], registry=None)
warm_up = (ops + 9) // 10
n_routes = len(routes)
for i in range(warm_up):
    counter.labels(routes[i % n_routes]).inc()
start = time.perf_counter_ns()
cpu_start = time.process_time_ns()
for i in range(warm_up, warm_up + ops):
    counter.labels(routes[i % n_routes]).inc()
elapsed = time.perf_counter_ns() - start
cpu = time.process_time_ns() - cpu_start

registry = CollectorRegistry()
MultiProcessCollector(registry)
total = sum(s.value for m in registry.collect() for s in m.samples if s.name == 'bench_requests_total')
if total != warm_up + ops:
    sys.exit('python total: expected %d, got %r' % (warm_up + ops, total))
print(json.dumps({'nsPerOp': elapsed / ops, 'cpuNsPerOp': cpu / ops}))
`;

/**
 * The directory to put on PYTHONPATH for prometheus_client: the variable's, or, when python3
 * imports the package already, this directory (which holds no Python), or undefined: no Python.
 */
export function pythonCheckout(): string | undefined {
  const given = process.env[PYTHON_CHECKOUT_VARIABLE];
  if (given) return given;
  const probe = spawnSync('python3', ['-c', 'import prometheus_client'], { stdio: 'ignore' });
  return probe.status === 0 ? path.dirname(fileURLToPath(import.meta.url)) : undefined;
}

/** One round: ns per `counter.labels(route).inc()` in a fresh interpreter and directory. */
export function runPythonRound(checkout: string, ops: number): OpCost {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-bench-py-'));
  try {
    const result = spawnSync('python3', ['-c', SCRIPT, String(ops), JSON.stringify(ROUTES)], {
      env: { ...process.env, PYTHONPATH: path.resolve(checkout), PROMETHEUS_MULTIPROC_DIR: dir },
      encoding: 'utf8',
    });
    if (result.error !== undefined) throw result.error;
    if (result.status !== 0) throw new Error(`python3 exited with ${result.status}:\n${result.stderr}`);
    return parseResult(result.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface OpCost {
  /** Wall time per operation. */
  nsPerOp: number;
  /** CPU time of the whole process (every thread) per operation. */
  cpuNsPerOp: number;
}

/** The costs of the last stdout line, as both the Node and the Python children print it. */
export function parseResult(stdout: string): OpCost {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const { nsPerOp, cpuNsPerOp } = JSON.parse(last) as { nsPerOp: unknown; cpuNsPerOp: unknown };
  if (typeof nsPerOp !== 'number' || !(nsPerOp > 0) || typeof cpuNsPerOp !== 'number' || !(cpuNsPerOp > 0)) {
    throw new Error(`no result in child output: ${stdout}`);
  }
  return { nsPerOp, cpuNsPerOp };
}
