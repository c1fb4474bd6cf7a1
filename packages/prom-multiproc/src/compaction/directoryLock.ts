// The directory lock that compactions and markProcessDead({ compact: true }) take, so that
// two of them never fold the same files. Scrapes do not need it (see manifest.ts).
//
// The lock counts as stale when its holder has not refreshed it for STALE_MS, so a holder
// whose event loop stalls that long (a huge synchronous step, a stopped process) may lose it
// to another compactor. proper-lockfile then calls onCompromised, which by default throws
// from a timer and kills the process: here it only marks the ownership as lost, and the
// holder checks before it commits (see commit.ts). Compaction yields often enough for the
// refresh to run.

import * as path from 'node:path';

export const LOCK_NAME = '.prom-multiproc.lock';

// A holder refreshes the lock every few seconds; one that stopped refreshing (killed) is
// considered gone after STALE_MS, so a crashed compactor blocks the next one only that long.
export const DIRECTORY_LOCK_STALE_MS = 10_000;
const UPDATE_MS = 2_000;

/** What the holder of the directory lock can ask: whether it still holds it. */
export interface LockOwnership {
  /** Why the lock was lost (taken over as stale, or removed), or undefined while it is held. */
  readonly lost: Error | undefined;
}

export async function withDirectoryLock<T>(dir: string, work: (ownership: LockOwnership) => Promise<T>): Promise<T> {
  // Loaded on first use, not with the library: proper-lockfile installs signal-exit's
  // SIGTERM/SIGINT/SIGHUP handlers when it loads, and a worker that never compacts must keep
  // Node's own signal behaviour (a SIGTERM ends even a process whose event loop is blocked).
  const { default: lockfile } = await import('proper-lockfile');
  const ownership: { lost: Error | undefined } = { lost: undefined };
  const release = await lockfile.lock(dir, {
    lockfilePath: path.join(dir, LOCK_NAME),
    realpath: false,
    stale: DIRECTORY_LOCK_STALE_MS,
    update: UPDATE_MS,
    retries: { retries: 60, minTimeout: 50, maxTimeout: 500, factor: 1.5 },
    onCompromised: (error) => {
      ownership.lost = error;
    },
  });
  try {
    return await work(ownership);
  } finally {
    // A lock taken over by another holder is theirs now: nothing of ours to release.
    if (ownership.lost === undefined) await release().catch(() => undefined);
  }
}
