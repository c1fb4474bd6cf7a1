// The directory lock that compactions and markProcessDead({ compact: true }) take, so that
// two of them never fold the same files. Scrapes do not need it (see manifest.ts).
//
// The lock counts as stale when its holder has not refreshed it for STALE_MS, so a holder
// whose event loop stalls that long (a huge synchronous step, a stopped process) may lose it
// to another compactor. proper-lockfile then calls onCompromised, which by default throws
// from a timer and kills the process: here it only marks the ownership as lost, and the
// holder checks before it commits (see lifecycle/compaction/commit.ts). Compaction yields often enough for the
// refresh to run.

import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { LockOptions } from 'proper-lockfile';
import { MultiprocessDirectoryError } from '../common/errors.js';

export const LOCK_NAME = '.prom-multiproc.lock';

// A holder refreshes the lock every few seconds; one that stopped refreshing (killed) is
// considered gone after STALE_MS, so a crashed compactor blocks the next one only that long.
export const DIRECTORY_LOCK_STALE_MS = 10_000;
const UPDATE_MS = 2_000;
// While another compactor holds the lock: about 30 s of tries, further and further apart.
const LOCK_RETRIES = 60;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 500;
const RETRY_FACTOR = 1.5;

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
  const options: LockOptions = {
    lockfilePath: path.join(dir, LOCK_NAME),
    realpath: false,
    stale: DIRECTORY_LOCK_STALE_MS,
    update: UPDATE_MS,
    retries: 0,
    onCompromised: (error) => {
      ownership.lost = error;
    },
  };
  const release = await lockWhenFree(dir, () => lockfile.lock(dir, options)).catch((error: NodeJS.ErrnoException) => {
    throw directoryProblem(dir, error) ?? error;
  });
  try {
    return await work(ownership);
  } finally {
    // A lock taken over by another holder is theirs now: nothing of ours to release.
    if (ownership.lost === undefined) await release().catch(() => undefined);
  }
}

/**
 * Retries only while another holder has the lock: proper-lockfile's own retries would also
 * retry a missing or read-only directory, which no wait mends, for half a minute.
 */
async function lockWhenFree<T>(dir: string, lock: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await lock();
    } catch (error) {
      if (!heldByAnother(dir, error as NodeJS.ErrnoException) || attempt >= LOCK_RETRIES) throw error;
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * RETRY_FACTOR ** attempt);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * ELOCKED, or the lock gone under us while the directory is there (ENOENT): contenders for a
 * stale lock remove it and make it anew, and one may remove the lock another has just made
 * (proper-lockfile's stale takeover), as may a holder that stalled past the stale time when
 * it lets go. Another holder's lock either way, so worth waiting for.
 */
function heldByAnother(dir: string, error: NodeJS.ErrnoException): boolean {
  if (error.code === 'ELOCKED') return true;
  return error.code === 'ENOENT' && statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** A lock that could not be made because of the directory itself, said of the directory. */
function directoryProblem(dir: string, error: NodeJS.ErrnoException): MultiprocessDirectoryError | undefined {
  if (error.code === 'ENOENT') return new MultiprocessDirectoryError(`the metrics directory ${dir} does not exist; check the directory given`, dir);
  if (error.code === 'ENOTDIR') return new MultiprocessDirectoryError(`the metrics directory ${dir} is not a directory; check the directory given`, dir);
  return undefined;
}
