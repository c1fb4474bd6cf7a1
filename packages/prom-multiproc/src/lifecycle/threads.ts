// The thread counterpart of markProcessDead. A worker thread writes files of its own identity,
// `<process identity>-t<threadId>` (identity.ts); when it ends, whoever created it marks it
// dead, so that its live gauges leave the merge while its counters stay.
import type { Worker } from 'node:worker_threads';
import { MetricConfigurationError } from '../common/errors.js';
import { threadIdentity } from '../directory/identity.js';
import { removeLocksOfThread } from '../directory/identityLock.js';
import { markProcessDead } from './processes.js';
import { reportOnce } from '../common/report.js';
import { configuredProcessIdentity, directoryFromEnvironment } from '../storage/defaultStore.js';

export interface ThreadDeathOptions {
  /** The shared directory; PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) by default. */
  dir?: string;
  /**
   * The identity of the process the thread ran in, which its threads append `-t<threadId>`
   * to: this process's (its pid, or the identity configured) by default.
   */
  pid?: string | number;
}

/**
 * Call when a worker thread that wrote metrics has ended (its Worker's 'exit' event; the
 * thread id must be read before, as `worker.threadId` is -1 after the exit). Removes the
 * thread's live-mode gauge files and its identity lock; its counters, histograms, summaries
 * and other gauges stay. Returns the metrics files removed.
 */
export function markThreadDead(threadId: number, options: ThreadDeathOptions = {}): string[] {
  if (!Number.isInteger(threadId) || threadId <= 0) {
    throw new MetricConfigurationError(
      `markThreadDead needs the id of a worker thread (a positive integer), got ${String(threadId)}; ` +
        'read worker.threadId before the thread exits (it is -1 afterwards)',
    );
  }
  const dir = options.dir ?? directoryFromEnvironment();
  const processIdentity = options.pid ?? configuredProcessIdentity();
  const identities = new Set<string>();
  if (processIdentity !== undefined) identities.add(threadIdentity(processIdentity, threadId));
  // The thread is known to have ended, so its locks go even though the process lives on,
  // whatever identity it wrote under (a pool may name its threads by slot, `pool-3`).
  if (dir !== undefined) for (const identity of removeLocksOfThread(dir, threadId)) identities.add(identity);
  if (identities.size === 0) {
    throw new MetricConfigurationError(
      `markThreadDead cannot tell the identity of thread ${threadId}: this process names its files with an identity function, ` +
        'and the thread left no lock that names it (it ended normally, or wrote no metrics); call markProcessDead(<the identity the thread used>) instead',
    );
  }
  return [...identities].flatMap((identity) => markProcessDead(identity, options.dir));
}

/**
 * Marks `worker` dead when it exits, however it ends (a normal end, terminate(), an uncaught
 * error). Call it right after creating the Worker. Returns a function that stops watching.
 */
export function watchWorkerThread(worker: Worker, options: ThreadDeathOptions = {}): () => void {
  const threadId = worker.threadId;
  if (threadId < 0) throw new MetricConfigurationError('watchWorkerThread was given a worker that has already exited');
  const onExit = (): void => {
    try {
      markThreadDead(threadId, options);
    } catch (error) {
      // An 'exit' listener that throws would take the process down; report instead.
      reportOnce(`thread-dead\u0000${threadId}`, error as Error);
    }
  };
  worker.once('exit', onExit);
  return () => {
    worker.off('exit', onExit);
  };
}
