// Which quantile side files `clean` removes: those of identities whose writer is gone. A Node
// writer holds its identity's lock while it runs (Python writes no quantile files), so a file
// whose identity is locked stays, and so does a temporary one while the process renaming it
// into place still runs.
import { isIdentityLocked, lockFileName } from '../directory/identityLock.js';
import { processExists } from '../directory/procfs.js';
import { parseQuantileFileName, parseQuantileTemporaryName } from '../sketch/quantileFileName.js';

/** A quantile side file, or a temporary name of one. */
export function isQuantileFileName(name: string): boolean {
  return parseQuantileFileName(name) !== undefined || parseQuantileTemporaryName(name) !== undefined;
}

/** Why the quantile file `name` in `dir` belongs to a running writer, or undefined when clean may remove it. */
export function whyQuantileFileKept(dir: string, name: string): string | undefined {
  const temporary = parseQuantileTemporaryName(name);
  const identity = parseQuantileFileName(temporary?.target ?? name)?.id;
  if (identity === undefined) return undefined;
  if (isIdentityLocked(dir, identity)) return `a live writer holds its lock (${lockFileName(identity)})`;
  if (temporary !== undefined && processExists(temporary.pid)) return `process ${temporary.pid}, which is writing it, is running`;
  return undefined;
}
