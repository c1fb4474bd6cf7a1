// One live writer per identity and directory. Two processes writing one identity's files (two
// containers sharing the directory, both pid 1; one slot number handed out twice) overwrite
// each other's values without an error anywhere: the reference client cannot tell. So a
// FileStore holds a lock file, `.lock-<identity>`, for as long as it is open: created with
// O_EXCL, holding who holds it, and touched every second so that a writer elsewhere can tell
// a live holder from a dead one. The name does not end in `.db`: no collector reads it.
//
// When the lock exists, its holder is judged:
//   - same host and pid namespace: dead if its pid is gone, or names a process started at
//     another time (pid reuse). A crashed worker restarted under the same identity goes on at
//     once.
//   - otherwise (another host or container, or another thread of this process): live while
//     its lock is touched. The contender watches it, synchronously, for up to STALE_MS: a live
//     holder touches it within a second, and the contender throws; an untouched lock is dead.
// A dead holder's lock is taken over; a live holder's makes the contender throw, naming the
// identity, the directory, the holder and the fix.

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { MultiprocessDirectoryError } from './errors.js';
import { reportOnce } from './report.js';

const LOCK_PREFIX = '.lock-';
const TOUCH_EVERY_MS = 1000;
/** A lock untouched this long is dead: five missed touches (an event loop blocked that long may lose it to a contender). */
export const STALE_MS = 5000;
const POLL_MS = 100;
const LOCK_MODE = 0o640;

export interface IdentityLock {
  readonly path: string;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

interface Holder {
  host: string;
  /** The pid namespace (`pid:[inode]` on Linux, '' elsewhere): pids compare only within one. */
  pidNamespace: string;
  pid: number;
  thread: number;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid; '' elsewhere. */
  started: string;
  token: string;
}

type Verdict = 'live' | 'dead' | 'unknown';

interface Observation {
  raw: string;
  holder: Holder | undefined;
  mtimeMs: number;
}

export function lockFileName(identity: string): string {
  return `${LOCK_PREFIX}${identity}`;
}

/** The identity a lock file name stands for, or undefined for any other name. */
export function identityOfLockFile(name: string): string | undefined {
  return name.startsWith(LOCK_PREFIX) && name.length > LOCK_PREFIX.length ? name.slice(LOCK_PREFIX.length) : undefined;
}

/**
 * Takes the lock of `identity` in `dir`, or throws MultiprocessDirectoryError when a live
 * process holds it. May block for up to STALE_MS while a holder that cannot be checked
 * directly shows whether it is alive.
 */
export function acquireIdentityLock(dir: string, identity: string): IdentityLock {
  const file = path.join(dir, lockFileName(identity));
  const token = randomUUID();
  const record = JSON.stringify({ ...self(), thread: threadId, token } satisfies Holder);
  const startedAt = Date.now();
  let watched: { seen: Observation; since: number } | undefined;
  let seen: Observation | undefined;
  for (;;) {
    // However the lock changes hands meanwhile (contenders racing for a dead holder's), give up in time.
    if (seen !== undefined && Date.now() - startedAt > 2 * STALE_MS) throw inUse(identity, dir, file, seen);
    let created: boolean;
    try {
      created = createLock(file, record);
    } catch (error) {
      // A full or read-only disk must not take the service down (its metrics are kept in memory
      // and written once they can be): go on without the lock, and keep trying to take it.
      reportOnce(`lock-create\u0000${file}`, new MultiprocessDirectoryError(
        `cannot create the lock file ${file} of process identity "${identity}": ${(error as Error).message}. ` +
          `This process writes its metrics anyway, without the check that no other live process writes as "${identity}"; it tries again every second.`,
        dir,
      ));
      return new HeldLock(file, record, token, identity, dir, false);
    }
    if (created) return new HeldLock(file, record, token, identity, dir, true);
    seen = observe(file);
    if (seen === undefined) continue; // released meanwhile
    const verdict = judge(seen.holder);
    if (verdict === 'live') throw inUse(identity, dir, file, seen);
    if (verdict === 'dead' || untouchedTooLong(seen, watched?.since)) {
      removeIfUnchanged(file, seen);
      continue;
    }
    if (watched === undefined) {
      watched = { seen, since: Date.now() };
    } else if (watched.seen.mtimeMs !== seen.mtimeMs || watched.seen.raw !== seen.raw) {
      throw inUse(identity, dir, file, seen); // touched (or just written) while we watched: alive
    }
    sleep(POLL_MS);
  }
}

/**
 * Removes the lock of `identity` if its holder is dead, or is thread `deadThread` of this
 * process (which the caller saw end). Returns whether it did.
 */
export function removeLockIfDead(dir: string, identity: string, deadThread?: number): boolean {
  const file = path.join(dir, lockFileName(identity));
  let seen: Observation | undefined;
  try {
    seen = observe(file);
  } catch {
    return false; // not a regular file: not ours to remove
  }
  if (seen === undefined) return false;
  const ownDeadThread = deadThread !== undefined && seen.holder !== undefined && isThisProcess(seen.holder) && seen.holder.thread === deadThread;
  if (!ownDeadThread && judge(seen.holder) !== 'dead' && !untouchedTooLong(seen, undefined)) return false;
  return removeIfUnchanged(file, seen);
}

/** Whether a live process holds the lock of `identity` in `dir` (one that is not provably dead or stale). */
export function isIdentityLocked(dir: string, identity: string): boolean {
  let seen: Observation | undefined;
  try {
    seen = observe(path.join(dir, lockFileName(identity)));
  } catch {
    return false;
  }
  return seen !== undefined && judge(seen.holder) !== 'dead' && !untouchedTooLong(seen, undefined);
}

/** Removes the locks in `dir` whose holders are dead or stale (for `clean`). Returns their paths. */
export function removeDeadLocks(dir: string): string[] {
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const identity = identityOfLockFile(name);
    if (identity !== undefined && removeLockIfDead(dir, identity)) removed.push(path.join(dir, name));
  }
  return removed;
}

class HeldLock implements IdentityLock {
  private readonly timer: NodeJS.Timeout;
  private released = false;

  constructor(
    readonly path: string,
    private readonly record: string,
    private readonly token: string,
    private readonly identity: string,
    private readonly dir: string,
    /** False while the lock file could not be created (a full disk): taken at the next touch that can. */
    private held: boolean,
  ) {
    this.timer = setInterval(() => this.touch(), TOUCH_EVERY_MS);
    // The lock lives as long as the store, never longer than the process's own work.
    this.timer.unref();
  }

  /** Shows contenders this holder is alive, and notices when another writer took the identity. */
  private touch(): void {
    if (!this.held) {
      this.takeLate();
      return;
    }
    let raw: string | undefined;
    try {
      raw = fs.readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return;
      // Removed under us (a `clean` while workers run): take it again unless someone else has.
      try {
        if (createLock(this.path, this.record)) return;
        raw = fs.readFileSync(this.path, 'utf8');
      } catch {
        return;
      }
    }
    const holder = parseHolder(raw);
    if (holder?.token !== this.token) {
      this.lost(holder);
      return;
    }
    try {
      const now = new Date();
      fs.utimesSync(this.path, now, now);
    } catch {
      // A missed touch is harmless unless it lasts STALE_MS; the next one tries again.
    }
  }

  /** The lock could not be created at start: take it now if nobody live has it. */
  private takeLate(): void {
    try {
      if (createLock(this.path, this.record)) {
        this.held = true;
        return;
      }
      const seen = observe(this.path);
      if (seen === undefined) return;
      if (judge(seen.holder) === 'dead' || untouchedTooLong(seen, undefined)) removeIfUnchanged(this.path, seen);
      else if (judge(seen.holder) === 'live') this.lost(seen.holder);
    } catch {
      // Still cannot write the directory: the next touch tries again.
    }
  }

  private lost(holder: Holder | undefined): void {
    clearInterval(this.timer);
    this.released = true;
    reportOnce(`lock-lost\u0000${this.path}`, new MultiprocessDirectoryError(
      `the lock of process identity "${this.identity}" in ${this.dir} is held by ${describe(holder)} while this process ` +
        `(pid ${process.pid}) writes that identity too: it was taken over while this process's event loop was blocked for more than ` +
        `${STALE_MS / 1000} s, or could not be created when this process started. Two processes now write the files of ` +
        `"${this.identity}" and overwrite each other's values. ${FIX}`,
      this.dir,
    ));
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    try {
      if (parseHolder(fs.readFileSync(this.path, 'utf8'))?.token === this.token) fs.unlinkSync(this.path);
    } catch {
      // Gone already, or the directory with it.
    }
  }
}

const FIX =
  'Every process (and worker thread) writing the directory at one time needs its own identity. The default, the pid ' +
  '(plus "-t<threadId>" in a worker thread), is unique on one host, but containers that share the directory see the same ' +
  'pids: give each container its own identity (PROM_MULTIPROC_IDENTITY=<hostname>, or configure({ identity })), or its own directory.';

function inUse(identity: string, dir: string, file: string, seen: Observation): MultiprocessDirectoryError {
  const ageSeconds = Math.max(0, (Date.now() - seen.mtimeMs) / 1000).toFixed(1);
  return new MultiprocessDirectoryError(
    `process identity "${identity}" is in use in ${dir}: ${describe(seen.holder)} holds ${file} (touched ${ageSeconds} s ago). ` +
      `Two live writers of one identity would overwrite each other's values. ${FIX} ` +
      `If that process has ended, its lock counts as dead ${STALE_MS / 1000} s after its last touch (or remove the file).`,
    dir,
  );
}

function describe(holder: Holder | undefined): string {
  if (holder === undefined) return 'another process';
  const thread = holder.thread === 0 ? '' : ` (worker thread ${holder.thread})`;
  return `process ${holder.pid}${thread} on host ${holder.host}`;
}

/** Creates the lock with our record; false when it exists. Throws the file system's error otherwise. */
function createLock(file: string, record: string): boolean {
  let fd: number;
  try {
    // 'wx' is O_CREAT | O_EXCL: atomic, and it refuses to follow a planted symlink.
    fd = fs.openSync(file, 'wx', LOCK_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(fd, record);
  } catch (error) {
    // Created but empty (a full disk): no half lock may stay to puzzle the next contender.
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  return true;
}

function observe(file: string): Observation | undefined {
  let stat: fs.Stats;
  let raw: string;
  try {
    stat = fs.lstatSync(file);
    if (!stat.isFile()) {
      throw new MultiprocessDirectoryError(`${file} is not a regular file, so it cannot be a lock of this library; remove it.`, path.dirname(file));
    }
    raw = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { raw, holder: parseHolder(raw), mtimeMs: stat.mtimeMs };
}

/** Unlinks the lock unless it changed since `seen` (another contender took it over first). */
function removeIfUnchanged(file: string, seen: Observation): boolean {
  try {
    if (fs.readFileSync(file, 'utf8') !== seen.raw) return false;
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Stale by the clock only on the holder's own host (the lock's mtime is the holder's clock);
 * elsewhere only after we watched it untouched for STALE_MS ourselves, so clock skew between
 * hosts sharing a network file system cannot make a live lock look dead.
 */
function untouchedTooLong(seen: Observation, watchedSince: number | undefined): boolean {
  const now = Date.now();
  if (seen.holder !== undefined && seen.holder.host === self().host && now - seen.mtimeMs > STALE_MS) return true;
  return watchedSince !== undefined && now - watchedSince > STALE_MS;
}

function judge(holder: Holder | undefined): Verdict {
  if (holder === undefined) return 'unknown'; // being written, or not a lock of ours
  const me = self();
  if (holder.host !== me.host || holder.pidNamespace !== me.pidNamespace) return 'unknown';
  if (holder.pid === process.pid) {
    if (holder.started !== me.started) return 'dead'; // an earlier process that had our pid
    // This process: this thread's own store is certainly live; another thread's end we cannot see.
    return holder.thread === threadId ? 'live' : 'unknown';
  }
  if (!pidExists(holder.pid)) return 'dead';
  const started = startOf(holder.pid);
  return started !== '' && holder.started !== '' && started !== holder.started ? 'dead' : 'live';
}

function isThisProcess(holder: Holder): boolean {
  const me = self();
  return holder.host === me.host && holder.pidNamespace === me.pidNamespace && holder.pid === process.pid && holder.started === me.started;
}

function parseHolder(raw: string): Holder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<Holder>;
    if (typeof value.host !== 'string' || typeof value.pid !== 'number' || typeof value.token !== 'string') return undefined;
    return {
      host: value.host,
      pidNamespace: typeof value.pidNamespace === 'string' ? value.pidNamespace : '',
      pid: value.pid,
      thread: typeof value.thread === 'number' ? value.thread : 0,
      started: typeof value.started === 'string' ? value.started : '',
      token: value.token,
    };
  } catch {
    return undefined;
  }
}

let selfCache: Omit<Holder, 'thread' | 'token'> | undefined;

function self(): Omit<Holder, 'thread' | 'token'> {
  selfCache ??= { host: hostname(), pidNamespace: pidNamespace(), pid: process.pid, started: startOf(process.pid) };
  return selfCache;
}

function pidNamespace(): string {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in ticks since boot), or '' where there is no /proc. */
function startOf(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
