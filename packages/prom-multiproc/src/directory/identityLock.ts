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
//
// A worker thread's lock also names its OS thread (Linux: /proc/thread-self), so a thread of
// the same process, or a process on the same host, can tell that a terminated thread's lock
// is dead at once instead of watching it for STALE_MS.
//
// `pm2 reload` starts an instance's new process while the old one still runs, and kills the old
// one only once the new one listens, or after its listen_timeout (3 s by default). With the
// identity NODE_APP_INSTANCE both are one writer, so a writer whose identity is held by a live
// process of the same PM2 daemon and pm_id (the one being replaced) waits for it to exit, for
// up to PM2_RELOAD_WAIT_MS, instead of throwing; it never writes before it holds the lock.
//
// A compactor holds the lock of each identity it folds (holdIdentityForCompaction) for the few
// milliseconds between reading that identity's files and deleting them: a writer of that
// identity starting meanwhile waits for it, then starts from nothing, as its old values are
// in the archive. Without the hold, it would adopt values the archive also counts.

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { processExists, processStat } from './procfs.js';
import { reportOnce } from '../common/report.js';

const LOCK_PREFIX = '.lock-';
const TOUCH_EVERY_MS = 1000;
/** A lock untouched this long is dead: five missed touches (an event loop blocked that long may lose it to a contender). */
export const STALE_MS = 5000;
const POLL_MS = 100;
/** How long a writer waits for a compactor folding its identity before it gives up (a fold holds it for milliseconds). */
const COMPACTION_WAIT_MS = 30_000;
const COMPACTION_POLL_MS = 5;
/** How long the new process of a reloaded PM2 instance waits for the old one: PM2's listen_timeout and kill_timeout, with room. */
const PM2_RELOAD_WAIT_MS = 30_000;
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
  /** A worker thread's OS thread id and start time (Linux), to tell a thread that has ended. */
  tid?: number;
  threadStarted?: string;
  /** Set when a compactor holds the identity while it folds its files. */
  purpose?: 'compaction';
  /** For a process run by PM2: its process id in PM2 (pm_id), its app, and its parent (PM2's daemon). */
  pm2?: Pm2Instance;
}

interface Pm2Instance {
  id: string;
  app: string;
  parent: number;
}

type Verdict = 'live' | 'dead' | 'unknown';

export interface Observation {
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
  const record = holderRecord(token);
  const startedAt = Date.now();
  let watched: { seen: Observation; since: number } | undefined;
  let compactor: { seen: Observation; since: number } | undefined;
  let seen: Observation | undefined;
  for (;;) {
    // However the lock changes hands meanwhile (contenders racing for a dead holder's), give up in time.
    const waitedMs = Date.now() - startedAt;
    if (seen !== undefined && waitedMs > patienceFor(seen.holder)) throw inUse(identity, dir, file, seen);
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
    if (seen.holder?.purpose === 'compaction' && verdict !== 'dead') {
      // A compactor is folding this identity's files: wait until they are in the archive and
      // gone. It touches the lock while it lives; one whose lock stops changing is dead.
      if (compactor === undefined || compactor.seen.mtimeMs !== seen.mtimeMs || compactor.seen.raw !== seen.raw) {
        compactor = { seen, since: Date.now() };
      }
      if (abandoned(seen, verdict, compactor.since)) removeIfUnchanged(file, seen);
      else sleep(COMPACTION_POLL_MS);
      continue;
    }
    if (verdict === 'live') {
      if (!isPm2Predecessor(seen.holder)) throw inUse(identity, dir, file, seen);
      sleep(POLL_MS); // PM2 stops it once this process is started (pm2 reload): then it is dead
      continue;
    }
    if (abandoned(seen, verdict, watched?.since)) {
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

/** How long a contender waits for the holder of a lock before it gives up. */
function patienceFor(holder: Holder | undefined): number {
  if (holder?.purpose === 'compaction') return COMPACTION_WAIT_MS;
  if (isPm2Predecessor(holder)) return PM2_RELOAD_WAIT_MS;
  return 2 * STALE_MS;
}

/**
 * Whether the holder is the process this one replaces in PM2 (pm2 reload): same daemon, same
 * pm_id. Its liveness is judged as any holder's; this only says it is worth waiting for.
 */
function isPm2Predecessor(holder: Holder | undefined): boolean {
  const mine = pm2Instance();
  const theirs = holder?.pm2;
  if (mine === undefined || theirs === undefined || holder?.purpose !== undefined) return false;
  return theirs.id === mine.id && theirs.app === mine.app && theirs.parent === mine.parent;
}

/** This process's place in PM2, from the environment PM2 gives its processes; undefined outside PM2. */
function pm2Instance(): Pm2Instance | undefined {
  const id = process.env.pm_id;
  if (id === undefined || id === '') return undefined;
  return { id, app: process.env.name ?? '', parent: process.ppid };
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
  if (!ownDeadThread && !abandoned(seen, judge(seen.holder), undefined)) return false;
  return removeIfUnchanged(file, seen);
}

/**
 * Removes the lock of an identity the caller knows to have ended (markProcessDead): unless
 * its holder is provably alive, a process of this host that is running or a thread of this
 * process that is. A holder elsewhere that still touches its lock is left (a compaction
 * watches it); one that cannot be judged but is this process's own other thread is taken
 * at the caller's word. Returns whether it did.
 */
export function releaseLockOfEnded(dir: string, identity: string): boolean {
  const file = path.join(dir, lockFileName(identity));
  let seen: Observation | undefined;
  try {
    seen = observe(file);
  } catch {
    return false;
  }
  if (seen === undefined) return false;
  const verdict = judge(seen.holder);
  if (verdict === 'live') return false;
  const ownOtherThread = seen.holder !== undefined && isThisProcess(seen.holder) && seen.holder.thread !== threadId;
  if (ownOtherThread || abandoned(seen, verdict, undefined)) return removeIfUnchanged(file, seen);
  return false;
}

/**
 * Removes the locks in `dir` held by worker thread `deadThread` of this process, whatever
 * identity they name (a thread may write under an identity of its own choosing, `pool-3`).
 * Returns the identities whose locks went.
 */
export function removeLocksOfThread(dir: string, deadThread: number): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const identity = identityOfLockFile(name);
    if (identity === undefined) continue;
    let seen: Observation | undefined;
    try {
      seen = observe(path.join(dir, name));
    } catch {
      continue;
    }
    const holder = seen?.holder;
    if (holder === undefined || !isThisProcess(holder) || holder.thread !== deadThread || holder.purpose !== undefined) continue;
    if (removeIfUnchanged(path.join(dir, name), seen!)) removed.push(identity);
  }
  return removed;
}

/** What a compactor found when it tried to hold an identity. */
export type CompactionHold =
  | { held: IdentityLock }
  /** A live writer holds it: not to be folded. */
  | { live: string }
  /** Held from elsewhere and not provably dead: dead once it stays untouched while watched (watchUntouched). */
  | { unknown: LockSighting };

/** A lock seen at one moment, to tell later whether it was touched since. */
export interface LockSighting {
  readonly file: string;
  readonly seen: Observation;
  readonly since: number;
}

/**
 * Takes the lock of `identity` for a compaction without waiting: a dead or stale holder's
 * lock is taken over; a live holder's, or one that cannot be judged yet, is left.
 */
export function holdIdentityForCompaction(dir: string, identity: string): CompactionHold {
  const file = path.join(dir, lockFileName(identity));
  const token = randomUUID();
  const record = holderRecord(token, 'compaction');
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createLock(file, record)) return { held: new HeldLock(file, record, token, identity, dir, true) };
    const seen = observe(file);
    if (seen === undefined) continue;
    const verdict = judge(seen.holder);
    if (abandoned(seen, verdict, undefined)) {
      removeIfUnchanged(file, seen);
      continue;
    }
    if (verdict === 'live') return { live: `${describe(seen.holder)} holds ${file}` };
    return { unknown: { file, seen, since: Date.now() } };
  }
  return { live: `${file} keeps changing hands` };
}

/**
 * What became of a lock seen earlier, judged by this process's clock only (so no clock skew
 * between hosts can make a live lock look dead): 'touched' (or taken by another holder),
 * 'removed' (untouched for STALE_MS since it was seen, or gone: the identity may be held
 * now), or 'watching' (not watched long enough to tell).
 */
export function followSighting(sighting: LockSighting): 'touched' | 'removed' | 'watching' {
  let now: Observation | undefined;
  try {
    now = observe(sighting.file);
  } catch {
    return 'touched'; // no longer a lock file of ours: not ours to judge
  }
  if (now === undefined) return 'removed';
  if (now.raw !== sighting.seen.raw || now.mtimeMs !== sighting.seen.mtimeMs) return 'touched';
  if (Date.now() - sighting.since <= STALE_MS) return 'watching';
  return removeIfUnchanged(sighting.file, now) ? 'removed' : 'touched';
}

/** Whether a live process holds the lock of `identity` in `dir` (one that is not provably dead or stale). */
export function isIdentityLocked(dir: string, identity: string): boolean {
  let seen: Observation | undefined;
  try {
    seen = observe(path.join(dir, lockFileName(identity)));
  } catch {
    return false;
  }
  return seen !== undefined && !abandoned(seen, judge(seen.holder), undefined);
}

/**
 * Removes the locks in `dir` whose holders are dead or stale (for `clean`). A lock held from
 * elsewhere (another host or container) is watched, all of them together, for STALE_MS: an
 * untouched one is dead and goes too. Returns the locks removed, and the ones held from
 * elsewhere that were kept, with why.
 */
export function sweepDeadLocks(dir: string): { removed: string[]; kept: { file: string; reason: string }[] } {
  const removed: string[] = [];
  const kept: { file: string; reason: string }[] = [];
  let watching: LockSighting[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (identityOfLockFile(name) === undefined) continue;
    const file = path.join(dir, name);
    let seen: Observation | undefined;
    try {
      seen = observe(file);
    } catch {
      continue; // not a regular file: not ours to remove
    }
    if (seen === undefined) continue;
    const verdict = judge(seen.holder);
    if (abandoned(seen, verdict, undefined)) {
      if (removeIfUnchanged(file, seen)) removed.push(file);
    } else if (verdict === 'unknown') {
      watching.push({ file, seen, since: Date.now() });
    }
    // A running holder of this host needs no word: its files say they are kept for its lock.
  }
  while (watching.length > 0) {
    sleep(POLL_MS);
    const still: LockSighting[] = [];
    for (const sighting of watching) {
      const fate = followSighting(sighting);
      if (fate === 'removed') removed.push(sighting.file);
      else if (fate === 'watching') still.push(sighting);
      else {
        kept.push({
          file: sighting.file,
          reason: `${describe(sighting.seen.holder)} touched it within the last ${STALE_MS / 1000} s: a live writer elsewhere ` +
            '(another host or container). If it is gone, remove the lock file.',
        });
      }
    }
    watching = still;
  }
  return { removed, kept };
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
      if (abandoned(seen, judge(seen.holder), undefined)) removeIfUnchanged(this.path, seen);
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
  if (isPm2Predecessor(seen.holder)) {
    return new MultiprocessDirectoryError(
      `process identity "${identity}" is in use in ${dir}: ${describe(seen.holder)}, the process of PM2 app "${seen.holder!.pm2!.app}" ` +
        `(pm_id ${seen.holder!.pm2!.id}) that this one replaces, still holds ${file} after ${PM2_RELOAD_WAIT_MS / 1000} s. ` +
        'pm2 reload stops it once this process listens, or after listen_timeout, then waits kill_timeout: keep both shorter, ' +
        'or use "pm2 restart" (stop, then start) with an identity taken from NODE_APP_INSTANCE.',
      dir,
    );
  }
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
  const compacting = holder.purpose === 'compaction' ? ', compacting' : '';
  return `process ${holder.pid}${thread} on host ${holder.host}${compacting}`;
}

function holderRecord(token: string, purpose?: 'compaction'): string {
  const thread = threadId === 0 ? {} : threadOfSelf();
  const pm2 = purpose === undefined ? pm2Instance() : undefined;
  return JSON.stringify({
    ...self(), thread: threadId, token, ...thread, ...(purpose === undefined ? {} : { purpose }), ...(pm2 === undefined ? {} : { pm2 }),
  } satisfies Holder);
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
 * Whether a lock's holder is gone: provably dead, or, when it cannot be judged directly,
 * untouched for too long. A holder judged live (a process of this host that runs) is never
 * taken for gone by the clock: a blocked event loop stops its touches, not its writes.
 */
function abandoned(seen: Observation, verdict: Verdict, watchedSince: number | undefined): boolean {
  return verdict === 'dead' || (verdict === 'unknown' && untouchedTooLong(seen, watchedSince));
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
    // This process: this thread's own store is certainly live; another thread's, while its OS thread runs.
    if (holder.thread === threadId) return 'live';
    return threadVerdict(holder) ?? 'unknown';
  }
  if (!processExists(holder.pid)) return 'dead';
  const started = startOf(holder.pid);
  if (started !== '' && holder.started !== '' && started !== holder.started) return 'dead';
  return threadVerdict(holder) ?? 'live';
}

/** For a worker thread's lock whose OS thread is known: whether that thread still runs. */
function threadVerdict(holder: Holder): Verdict | undefined {
  if (holder.thread === 0 || holder.tid === undefined || holder.threadStarted === undefined) return undefined;
  const started = startOf(holder.pid, holder.tid);
  if (started === '') return processExists(holder.pid) && existsTask(holder.pid, holder.tid) ? undefined : 'dead';
  return started === holder.threadStarted ? 'live' : 'dead';
}

function existsTask(pid: number, tid: number): boolean {
  return fs.existsSync(`/proc/${pid}/task/${tid}`);
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
      ...(typeof value.tid === 'number' && typeof value.threadStarted === 'string' ? { tid: value.tid, threadStarted: value.threadStarted } : {}),
      ...(value.purpose === 'compaction' ? { purpose: value.purpose } : {}),
      ...(isPm2Record(value.pm2) ? { pm2: value.pm2 } : {}),
    };
  } catch {
    return undefined;
  }
}

function isPm2Record(value: unknown): value is Pm2Instance {
  const record = value as Partial<Pm2Instance> | undefined;
  return typeof record?.id === 'string' && typeof record.app === 'string' && typeof record.parent === 'number';
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

let threadCache: { tid: number; threadStarted: string } | {} | undefined;

/** This OS thread's id and start time, from /proc/thread-self (Linux); nothing elsewhere. */
function threadOfSelf(): { tid: number; threadStarted: string } | {} {
  if (threadCache !== undefined) return threadCache;
  threadCache = {};
  try {
    const tid = Number(path.basename(fs.readlinkSync('/proc/thread-self')));
    const threadStarted = startOf(process.pid, tid);
    if (Number.isInteger(tid) && threadStarted !== '') threadCache = { tid, threadStarted };
  } catch {
    // No /proc: a thread's end is then seen by its lock going untouched.
  }
  return threadCache;
}

/** Field 22 of the process's (or thread's) /proc stat: its start in ticks since boot, or ''. */
function startOf(pid: number, tid?: number): string {
  return processStat(pid, tid)?.startTicks ?? '';
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
