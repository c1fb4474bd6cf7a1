// Which exemplar files `clean` must leave: the file of an identity whose writer still runs
// (it holds the identity's lock, as every Node writer does; Python writes no exemplar files),
// and a temporary one such a writer, or a creator still running, is renaming into place.

import { isIdentityLocked, lockFileName } from '../directory/identityLock.js';
import { processExists } from '../directory/procfs.js';
import { parseExemplarFileName, parseExemplarTemporaryName } from '../format/exemplarFormat.js';

/** Why the exemplar file `name` in `dir` belongs to a running writer, or undefined when clean may remove it. */
export function whyExemplarFileKept(dir: string, name: string): string | undefined {
  const temporary = parseExemplarTemporaryName(name);
  const identity = temporary?.identity ?? parseExemplarFileName(name);
  if (identity === undefined) return undefined;
  if (isIdentityLocked(dir, identity)) return `a live writer holds its lock (${lockFileName(identity)})`;
  if (temporary !== undefined && processExists(temporary.pid)) return `process ${temporary.pid}, which is writing it, is running`;
  return undefined;
}
