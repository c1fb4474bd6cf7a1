import nodeCluster, { type Cluster, type Worker } from 'node:cluster';
import { MultiprocessDirectoryError } from './errors.js';
import { cleanDirectory, markProcessDead } from './processes.js';
import { reportOnce } from './report.js';
import { directoryFromEnvironment } from './storage/defaultStore.js';

export interface ClusterMetricsOptions {
  /** The shared directory; PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) by default. */
  dir?: string;
  /** The cluster module to hook; node:cluster by default. */
  cluster?: Cluster;
}

/**
 * For the cluster primary, before it forks: empties the directory, hands it to the workers
 * (through PROM_MULTIPROC_DIR) and marks every worker that exits dead, which is what
 * gunicorn's child_exit hook does for Python. Returns a function that removes the hook.
 */
export function setupClusterMetrics(options: ClusterMetricsOptions = {}): () => void {
  const cluster = options.cluster ?? nodeCluster;
  const dir = options.dir ?? directoryFromEnvironment();
  if (dir === undefined) {
    throw new MultiprocessDirectoryError('setupClusterMetrics needs a directory: pass { dir } or set PROM_MULTIPROC_DIR', '');
  }
  const { dir: resolved } = cleanDirectory(dir);
  process.env.PROM_MULTIPROC_DIR = resolved;
  const onExit = (worker: Worker): void => {
    const pid = worker.process.pid;
    if (pid === undefined) return;
    try {
      markProcessDead(pid, resolved);
    } catch (error) {
      reportOnce(`mark-dead\u0000${pid}`, error as Error);
    }
  };
  cluster.on('exit', onExit);
  return () => {
    cluster.off('exit', onExit);
  };
}
