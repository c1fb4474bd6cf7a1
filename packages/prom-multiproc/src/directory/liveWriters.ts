// Which files of the metrics directory a running process is still writing, for `clean`: a
// file removed under its writer takes every later count with it (Python's writer goes on
// writing the unlinked file, and nothing tells it). A Node writer holds its identity's lock.
// Python's holds none, but names its files by its pid, and keeps its file mapped: a file whose
// identity is the pid of a process of this host that maps it (/proc/<pid>/maps) is that
// process's. Where the mappings cannot be read, a process that started before the file was
// created is taken for its writer; one that started after it has a reused pid.
// Writers in other pid namespaces (containers sharing the directory) cannot be seen from here.
import type * as ChildProcess from 'node:child_process';
import { builtin } from '../common/builtins.js';
import * as fs from 'node:fs';
import { MANIFEST_NAME } from './manifest.js';
import { parseFileName, parseTemporaryName } from '../format/fileNames.js';
import { isIdentityLocked, lockFileName } from './identityLock.js';
import { processExists, processStat } from './procfs.js';

export interface KeptFile {
  file: string;
  /** Why it was kept, for the log of `prom-multiproc clean`. */
  reason: string;
}

/**
 * Boot time is given in whole seconds (truncated, which errs toward keeping), and the wall
 * clock may have been stepped since the file was written: a process that seems to have started
 * this little after the file is still taken for its writer.
 */
const START_SLACK_MS = 1000;

// The names compaction writes aside before renaming them into place: `.archive-<kind>-<pid>[-<hex>].tmp`
// and `<manifest>.tmp-<pid>[-<hex>]`.
const ARCHIVE_ASIDE = /^\.archive-[a-z_]+-(\d+)(?:-[0-9a-f]{8})?\.tmp$/;
const MANIFEST_ASIDE = new RegExp(`^${MANIFEST_NAME.replace(/\./g, '\\.')}\\.tmp-(\\d+)(?:-[0-9a-f]{8})?$`);

/** The pid of the process that wrote a temporary file of ours under this name, or undefined for any other name. */
export function temporaryFileCreator(name: string): number | undefined {
  const aside = ARCHIVE_ASIDE.exec(name) ?? MANIFEST_ASIDE.exec(name);
  if (aside !== null) return Number(aside[1]);
  return parseTemporaryName(name)?.pid;
}

/**
 * Why the file `name` in `dir` (a metrics file or a temporary file of ours) belongs to a
 * writer that is still running, or undefined when it does not.
 */
export function whyLive(dir: string, name: string, stat: fs.Stats): string | undefined {
  const creator = temporaryFileCreator(name);
  if (creator !== undefined) {
    return runningSince(creator, stat) === undefined ? undefined : `process ${creator}, which is writing it, is running`;
  }
  const parsed = parseFileName(name);
  if (parsed === undefined) return undefined;
  if (isIdentityLocked(dir, parsed.id)) return `a live writer holds its lock (${lockFileName(parsed.id)})`;
  return whyUnlockedWriterRuns(parsed.id, stat);
}

/**
 * Why the file of `identity` (whose stat is given) belongs to a running writer that holds no
 * lock (Python's), by its pid; undefined when no such writer runs.
 */
export function whyUnlockedWriterRuns(identity: string, stat: fs.Stats): string | undefined {
  const pid = pidOf(identity);
  if (pid === undefined) return undefined;
  // Python's writer keeps its file mapped: where the process's mappings can be read, they
  // tell exactly (a kernel thread or a daemon that merely has that pid maps no such file).
  const maps = mapsFile(pid, stat);
  if (maps !== undefined) return maps ? `process ${pid} is running and has the file mapped (a writer without a lock, such as Python's)` : undefined;
  const running = runningSince(pid, stat);
  if (running === 'started before') return `process ${pid} is running and started before the file (a writer without a lock, such as Python's)`;
  if (running === 'start unknown') return `process ${pid} is running (its start time cannot be read here, so it is taken for the file's writer)`;
  return undefined;
}

/** The pid an identity names, when it is one (Python names its files by the plain pid). */
function pidOf(identity: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(identity)) return undefined;
  const pid = Number(identity);
  return pid <= 0x7fffffff ? pid : undefined;
}

/**
 * Whether process `pid` is running and could have written the file: it started before the
 * file was created, or its start cannot be told. Undefined when it is gone, a zombie, or
 * started after the file (its pid was reused).
 */
function runningSince(pid: number, stat: fs.Stats): 'started before' | 'start unknown' | undefined {
  if (pid <= 0 || !processExists(pid)) return undefined;
  const status = processStat(pid);
  if (status === undefined) return 'start unknown';
  if (status.state === 'Z') return undefined; // exited, not yet reaped by its parent
  const startedAtMs = processStartMs(Number(status.startTicks));
  if (startedAtMs === undefined) return 'start unknown';
  return startedAtMs <= fileCreatedMs(stat) + START_SLACK_MS ? 'started before' : undefined;
}

/**
 * Whether process `pid` maps the file (by inode) into its memory, from /proc/<pid>/maps;
 * undefined where that cannot be read (no /proc, another user's process, a process gone).
 */
function mapsFile(pid: number, stat: fs.Stats): boolean | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return undefined;
  }
  const inode = String(stat.ino);
  // address perms offset dev inode path
  return text.split('\n').some((line) => line.split(/\s+/, 5)[4] === inode);
}

/** When the file was created: its birth time where the file system keeps one, else its last write. */
function fileCreatedMs(stat: fs.Stats): number {
  return stat.birthtimeMs > 0 ? stat.birthtimeMs : stat.mtimeMs;
}

function processStartMs(startTicks: number): number | undefined {
  const boot = bootTimeSeconds();
  return boot === undefined ? undefined : (boot + startTicks / clockTicksPerSecond()) * 1000;
}

/** The btime line of /proc/stat: the wall-clock second the system booted. */
function bootTimeSeconds(): number | undefined {
  try {
    const match = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`, asked once; 100, what Linux uses almost everywhere, when it cannot be asked. */
function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const answer = Number(builtin<typeof ChildProcess>('node:child_process').spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    ticksPerSecond = Number.isInteger(answer) && answer > 0 ? answer : 100;
  }
  return ticksPerSecond;
}
