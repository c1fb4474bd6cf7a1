// Who else can write the metrics directory. Anyone who can create files in it can put files
// under the names a worker is about to use (file squatting), and, without the sticky bit, can
// also remove or replace the workers' files. The files themselves are opened without
// following symlinks and only when they are regular files with one link, so a hostile user
// cannot make a worker write elsewhere; but their values can be tampered with, and a scrape
// merges whatever well-formed files it finds. So a directory others can write is reported
// (once), with the fix. Nothing is refused: /tmp-like setups keep working, with a warning.
import * as fs from 'node:fs';
import { reportOnce } from '../common/report.js';

const STICKY = 0o1000;
const GROUP_WRITE = 0o020;
const OTHER_WRITE = 0o002;

/** What is unsafe about the directory, one sentence each with its fix; empty when nothing is. */
export function directorySafetyProblems(dir: string, stat: fs.Stats, uid: number): string[] {
  const problems: string[] = [];
  const mode = stat.mode & 0o7777;
  const octal = mode.toString(8).padStart(4, '0');
  const sticky = (mode & STICKY) !== 0;
  if ((mode & OTHER_WRITE) !== 0) {
    problems.push(
      sticky
        ? `every local user can create files in the metrics directory ${dir} (mode ${octal}): one can create a metrics file under a name a worker will use, and its values are merged. ` +
            `Use a directory only the service's user can write (e.g. chmod 0750 ${dir}, or a fresh one under /run), and "prom-multiproc clean" it at start-up.`
        : `every local user can write the metrics directory ${dir} (mode ${octal}, no sticky bit): anyone can remove, replace or plant metrics files. ` +
            `Run "chmod o-w ${dir}" (0750 for a scraper in the service's group), or use a directory only the service's user can write.`,
    );
  }
  // Said once: a directory every user can write is the larger problem.
  if ((mode & GROUP_WRITE) !== 0 && (mode & OTHER_WRITE) === 0 && !sticky) {
    problems.push(
      `members of group ${stat.gid} can write the metrics directory ${dir} (mode ${octal}, no sticky bit) and so remove or replace this process's files. ` +
        `If only workers of this service are in that group, this is fine; otherwise run "chmod g-w ${dir}" (or "chmod +t ${dir}").`,
    );
  }
  // Root may own it (a directory created by a unit file); any other user could chmod it at will.
  if (stat.uid !== uid && stat.uid !== 0) {
    problems.push(
      `the metrics directory ${dir} belongs to uid ${stat.uid}, not to this process's uid ${uid}: that user can change its permissions and replace the files. ` +
        `Give the directory to the service's user (chown ${uid} ${dir}).`,
    );
  }
  return problems;
}

/** Reports, once per directory and problem, what is unsafe about `dir`. Never throws. */
export function checkDirectorySafety(dir: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return; // no POSIX owners and modes (Windows)
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return; // whoever called reports a missing directory in its own words
  }
  for (const problem of directorySafetyProblems(dir, stat, uid)) {
    reportOnce(`directory-safety\u0000${dir}\u0000${problem}`, new Error(problem));
  }
}
