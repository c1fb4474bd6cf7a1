import { processExists } from '../../directory/procfs.js';

// Apart from compact.ts, so that the process managers' hooks (pm2.ts) use it without loading
// the compaction code, which only a compaction needs.

/** Whether the process behind an identity is gone, as far as this host can tell. */
export function pidIsGone(id: string): boolean {
  const pid = pidOf(id);
  if (pid === undefined) return false; // not a pid: only the process manager can tell
  if (pid === process.pid) return false;
  return !processExists(pid);
}

export function pidOf(id: string): number | undefined {
  const match = /^(\d+)(?:-t\d+)?$/.exec(id);
  return match === null ? undefined : Number(match[1]);
}
