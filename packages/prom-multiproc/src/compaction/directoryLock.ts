// The directory lock that compactions and markProcessDead({ compact: true }) take, so that
// two of them never fold the same files. Scrapes do not need it (see manifest.ts).

import * as path from 'node:path';

export const LOCK_NAME = '.prom-multiproc.lock';

// A holder refreshes the lock every few seconds; one that stopped refreshing (killed) is
// considered gone after STALE_MS, so a crashed compactor blocks the next one only that long.
const STALE_MS = 10_000;
const UPDATE_MS = 2_000;

export async function withDirectoryLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  // Loaded on first use, not with the library: proper-lockfile installs signal-exit's
  // SIGTERM/SIGINT/SIGHUP handlers when it loads, and a worker that never compacts must keep
  // Node's own signal behaviour (a SIGTERM ends even a process whose event loop is blocked).
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(dir, {
    lockfilePath: path.join(dir, LOCK_NAME),
    realpath: false,
    stale: STALE_MS,
    update: UPDATE_MS,
    retries: { retries: 60, minTimeout: 50, maxTimeout: 500, factor: 1.5 },
  });
  try {
    return await work();
  } finally {
    await release();
  }
}
