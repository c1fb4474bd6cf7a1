// What this host says about its processes: whether a pid exists, and when a process (or one
// of its threads) started, from Linux's /proc. Elsewhere the start is unknown, and callers
// fall back to what they can tell without it.
import * as fs from 'node:fs';

/** Whether a process of this pid exists (one of another user's counts). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The state (field 3) and start time in clock ticks after boot (field 22) of
 * /proc/<pid>/stat, or of a thread's /proc/<pid>/task/<tid>/stat; undefined where there is none.
 */
export function processStat(pid: number, tid?: number): { state: string; startTicks: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  return state === undefined || startTicks === undefined || startTicks === '' ? undefined : { state, startTicks };
}
