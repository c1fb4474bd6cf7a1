// The Python baseline: prometheus_client's MultiProcessCollector and generate_latest over the
// same directory, in a fresh interpreter, as a Python /metrics handler does it (a new
// registry and collector per scrape). Only run when a checkout is given (see
// tools/bench/python.ts), since the package is not a dependency of this repository.

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const SCRIPT = `
import json, re, resource, sys, time
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

directory, repeats, out_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def scrape():
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)

times = []
cpu_times = []
for i in range(repeats + 1):
    cpu_start = time.process_time()
    start = time.perf_counter()
    text = scrape()
    times.append((time.perf_counter() - start) * 1000)
    cpu_times.append((time.process_time() - cpu_start) * 1000)
    if i == 0:
        with open(out_file, 'wb') as f:
            f.write(text)
def peak_rss_mib():
    # VmHWM on Linux: ru_maxrss is carried across exec, so it would report the parent's peak.
    try:
        with open('/proc/self/status') as status:
            return int(re.search(r'^VmHWM:\s+(\d+) kB$', status.read(), re.M).group(1)) / 1024
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

print(json.dumps({'firstMs': times[0], 'repeatMs': times[1:], 'repeatCpuMs': cpu_times[1:], 'maxRssMiB': peak_rss_mib()}))
`;

export interface PythonScrapeResult {
  firstMs: number;
  repeatMs: number[];
  repeatCpuMs: number[];
  maxRssMiB: number;
}

export function pythonVersion(checkout: string): string {
  const result = spawnSync('python3', ['-c', 'import sys, prometheus_client as p; print(sys.version.split()[0], p.__file__)'], {
    env: { ...process.env, PYTHONPATH: path.resolve(checkout) },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`python3 cannot import prometheus_client from ${checkout}:\n${result.stderr}`);
  return result.stdout.trim();
}

/** One fresh interpreter: a first scrape (written to `outFile`) and `repeats` more. */
export function runPythonScrape(checkout: string, dir: string, repeats: number, outFile: string): PythonScrapeResult {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: path.resolve(checkout) };
  delete env.PROMETHEUS_MULTIPROC_DIR;
  delete env.prometheus_multiproc_dir;
  const result = spawnSync('python3', ['-c', SCRIPT, dir, String(repeats), outFile], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) throw new Error(`python3 exited with ${result.status}:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as PythonScrapeResult;
}
