import type { Cluster, Worker } from 'node:cluster';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { cleanDirectory, markProcessDead } from '../lifecycle/processes.js';
import { reportOnce } from '../common/report.js';
import { builtin } from '../common/builtins.js';
import { directoryFromEnvironment } from '../storage/defaultStore.js';

export interface ClusterMetricsOptions {
  /** The shared directory; PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) by default. */
  dir?: string;
  /** The cluster module to hook; node:cluster by default. */
  cluster?: Cluster;
  /**
   * The identity an exited worker wrote its files under: its pid by default. Workers that
   * take another identity need the same rule here, e.g. `(worker) => \`w${worker.id}\`` with
   * `configure({ identity: \`w${cluster.worker.id}\` })` in the worker; undefined skips the worker.
   */
  identityOf?: (worker: Worker) => string | number | undefined;
  /**
   * Also fold each exited worker's files into the archive (see compactDirectory). Off by
   * default; never in a directory that Python's collector scrapes (it takes no lock, and
   * miscounts or fails during a compaction).
   */
  compact?: boolean;
  /**
   * Whether to clean the directory first (cleanDirectory: the files of earlier runs go, a
   * running writer's stay). Default true, right for a Node-only service. Pass false when
   * something else cleans the directory, e.g. a fleet of Node and Python workers whose start-up
   * runs `prom-multiproc clean` once, before any writer of either language starts; the
   * directory must then exist.
   */
  clean?: boolean;
}

/**
 * For the cluster primary, before it forks: cleans the directory (unless `clean: false`),
 * hands it to the workers (through PROM_MULTIPROC_DIR) and marks every worker that exits dead
 * (by its pid, or by `identityOf`), which is what gunicorn's child_exit hook does for Python.
 * Returns a function that removes the hook.
 */
export function setupClusterMetrics(options: ClusterMetricsOptions = {}): () => void {
  const cluster = options.cluster ?? builtin<Cluster>('node:cluster');
  const dir = options.dir ?? directoryFromEnvironment();
  if (dir === undefined) {
    throw new MultiprocessDirectoryError('setupClusterMetrics needs a directory: pass { dir } or set PROM_MULTIPROC_DIR', '');
  }
  const resolved = options.clean === false ? path.resolve(dir) : cleanDirectory(dir).dir;
  process.env.PROM_MULTIPROC_DIR = resolved;
  const identityOf = options.identityOf ?? ((worker: Worker) => worker.process.pid);
  const onExit = (worker: Worker): void => {
    let id: string | number | undefined;
    try {
      id = identityOf(worker);
      if (id === undefined) return;
      if (options.compact === true) {
        markProcessDead(id, { dir: resolved, compact: true }).catch((error: Error) => reportOnce(`mark-dead\u0000${id}`, error));
      } else {
        markProcessDead(id, resolved);
      }
    } catch (error) {
      reportOnce(`mark-dead\u0000${id ?? worker.id}`, error as Error);
    }
  };
  cluster.on('exit', onExit);
  return () => {
    cluster.off('exit', onExit);
  };
}
