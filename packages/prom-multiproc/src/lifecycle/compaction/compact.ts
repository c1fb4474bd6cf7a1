// Compaction: fold the files of processes that are gone into one archive file per kind, so
// that the number of files is bounded by the live processes (plus the archives), whatever the
// history. Identities are folded in batches; each batch is one archive generation, and the
// order of its steps is what makes a crash at any point harmless:
//
//   1. recover     finish what a crashed compaction committed (delete its folded files)
//   2. read        hold each identity of the batch (its lock), then read the current archive
//                  and the identities' files
//   3. write       the new archive generation, aside from the current one (invisible until 4)
//   4. commit      the manifest names the new generation and the folded identities, if this
//                  compactor still owns the directory (commit.ts)
//   5. delete      the old generation and the folded files; the identities are let go
//   6. settle      the manifest's list of folded identities is emptied
//
// Before 4 the merge reads the old archive and the files; after it, the new archive, and the
// folded files are ignored until deleted. Scrapes never see both (directory/manifest.ts).
//
// Holding an identity keeps a writer of it from starting while its files are folded (a
// refilled worker slot, a reused pid): it would adopt values the archive counts too. A batch
// ends once its reads took BATCH_MS, so such a writer waits milliseconds, not a compaction.

import { lstatSync, readdirSync, unlinkSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { listMetricsFiles } from '../../directory/listMetricsFiles.js';
import { type ParsedFileName } from '../../format/fileNames.js';
import { FileFormatError } from '../../format/format.js';
import {
  followSighting, holdIdentityForCompaction, identityOfLockFile, type IdentityLock, type LockSighting,
} from '../../directory/identityLock.js';
import { decodeFile, type FileRecords, type KeyCache } from '../../format/decode.js';
import { whyUnlockedWriterRuns } from '../../directory/liveWriters.js';
import { processExists } from '../../directory/procfs.js';
import { pidIsGone, pidOf } from './pidIsGone.js';
import { readMetricsFile } from '../../format/readMetricsFile.js';
import { reportOnce } from '../../common/report.js';
import { CompactionLostError, checkStillCurrent, commitArchive, removeStaleCommitFiles, writeArchiveAside } from './commit.js';
import { withDirectoryLock, type LockOwnership } from '../../directory/directoryLock.js';
import { foldForArchive } from './fold.js';
import { archiveIdentity, isArchiveIdentity, readManifest, writeManifestSync, type Manifest } from '../../directory/manifest.js';

export type CompactionStep = 'recovered' | 'read' | 'archive-written' | 'committed' | 'deleted' | 'settled';

export interface CompactOptions {
  /** Identities known to be dead (told by the process manager). */
  dead?: readonly string[];
  /**
   * Also fold identities that are process ids (or `<pid>-t<thread>`) of processes that no
   * longer exist on this host. Only right when every writer shares this host's process ids:
   * not for containers sharing a directory. Default true.
   */
  detectDeadPids?: boolean;
  /** Called after each step of each batch; tests use it to kill or stall the compactor at every point. */
  onStep?: (step: CompactionStep) => void | Promise<void>;
}

export interface CompactionResult {
  /** Identities whose files were folded into the archive. */
  folded: string[];
  /** Files removed, folded files and superseded archives together. */
  filesRemoved: number;
  /** The archive generation now current. */
  generation: number;
  /** Identities that were to be folded but were left alone, and why (each also reported as a warning). */
  kept: { identity: string; reason: string }[];
  /** Set when the compaction stopped early because another compactor took over the directory; what it committed before stands. */
  interrupted?: string;
}

// Reading files for one batch stops after this long: a writer waiting for its identity waits about as long.
const BATCH_MS = 100;
// Within a batch, the event loop gets a turn this often, so the directory lock stays fresh.
const YIELD_EVERY_MS = 20;
// Identities held at once: a batch usually reads them all within BATCH_MS; the rest are let go.
const MAX_BATCH_IDENTITIES = 128;
const WATCH_POLL_MS = 250;

export { pidIsGone };

type Listed = { name: string; file: ParsedFileName };

export async function compactDirectory(dir: string, options: CompactOptions = {}): Promise<CompactionResult> {
  return withDirectoryLock(dir, async (ownership) => {
    const step = async (name: CompactionStep) => options.onStep?.(name);
    const result: CompactionResult = { folded: [], filesRemoved: await recover(dir), generation: 0, kept: [] };
    await step('recovered');

    const byIdentity = groupByIdentity(await listMetricsFiles(dir));
    warnAboutUnlockedWriters(dir, byIdentity);
    const told = new Set(options.dead ?? []);
    const candidates = [...byIdentity.keys()]
      .filter((id) => told.has(id) || ((options.detectDeadPids ?? true) && pidIsGone(id)))
      .filter((id) => !keptForUnlockedWriter(dir, id, byIdentity.get(id)!, result))
      .sort();
    const batches = new Batches(dir, ownership, step, result);
    try {
      const heldElsewhere = await batches.foldAll(candidates);
      // Locks from elsewhere (another host or container) of identities said to be dead: dead
      // once they stay untouched while watched; then their identities are folded too.
      for (const { identity, sighting } of heldElsewhere.filter(({ identity }) => !told.has(identity))) {
        result.kept.push({ identity, reason: `its lock ${sighting.file} is held from another host or container, and it was not said to be dead` });
      }
      const untouched = await watchUntouched(heldElsewhere.filter(({ identity }) => told.has(identity)), result);
      for (const { identity, sighting } of await batches.foldAll(untouched)) {
        result.kept.push({ identity, reason: `its lock ${sighting.file} was taken again while compaction watched it` });
      }
    } catch (error) {
      if (!(error instanceof CompactionLostError)) throw error;
      result.interrupted = error.message;
      reportOnce(`compact-lost\u0000${dir}\u0000${error.message}`, new Error(
        `compaction of ${dir} stopped: ${error.message}. What it committed before stands; the next compaction folds the rest.`,
      ));
    }
    result.generation = readManifest(dir).generation;
    for (const { identity, reason } of result.kept) {
      reportOnce(`compact-kept\u0000${dir}\u0000${identity}\u0000${reason}`, new Error(`compaction left the files of ${identity} in ${dir}: ${reason}`));
    }
    return result;
  });
}

function groupByIdentity(listed: Listed[]): Map<string, Listed[]> {
  const byIdentity = new Map<string, Listed[]>();
  for (const entry of listed) {
    if (isArchiveIdentity(entry.file.id)) continue;
    const known = byIdentity.get(entry.file.id) ?? [];
    known.push(entry);
    byIdentity.set(entry.file.id, known);
  }
  return byIdentity;
}

class Batches {
  private readonly cache: KeyCache = new Map();
  private readonly sightings: { identity: string; sighting: LockSighting }[] = [];

  constructor(
    private readonly dir: string,
    private readonly ownership: LockOwnership,
    private readonly step: (name: CompactionStep) => Promise<void>,
    private readonly result: CompactionResult,
  ) {}

  /** Folds `identities` batch after batch; returns the ones held from elsewhere, to be watched. */
  async foldAll(identities: string[]): Promise<{ identity: string; sighting: LockSighting }[]> {
    this.sightings.length = 0;
    let remaining = identities;
    while (remaining.length > 0) remaining = await this.foldBatch(remaining);
    return [...this.sightings];
  }

  /** Folds a first part of `identities` into one new generation; returns the rest. */
  private async foldBatch(identities: string[]): Promise<string[]> {
    const { dir } = this;
    const held = new Map<string, IdentityLock>();
    let next = 0;
    for (; next < identities.length && held.size < MAX_BATCH_IDENTITIES; next++) {
      const identity = identities[next]!;
      const hold = holdIdentityForCompaction(dir, identity);
      if ('held' in hold) held.set(identity, hold.held);
      else if ('live' in hold) this.result.kept.push({ identity, reason: `a live writer holds it: ${hold.live}` });
      else this.sightings.push({ identity, sighting: hold.unknown });
    }
    try {
      if (held.size === 0) return identities.slice(next);
      // Listed again now that the identities are held: a writer that ran since the first
      // listing may have left files of other kinds.
      const listed = await listMetricsFiles(dir);
      const byIdentity = groupByIdentity(listed);
      const base = readManifest(dir);
      const current = archiveIdentity(base.generation);
      const archiveFiles = listed.filter(({ file }) => file.id === current);
      const sources: FileRecords[] = this.readFiles(archiveFiles);
      const folded: string[] = [];
      const startedAt = Date.now();
      let yieldedAt = startedAt;
      const later: string[] = [];
      for (const [identity, lock] of held) {
        if (Date.now() - startedAt > BATCH_MS && folded.length > 0) {
          lock.release();
          held.delete(identity);
          later.push(identity);
          continue;
        }
        const records = this.readIdentity(identity, byIdentity.get(identity) ?? []);
        if (records === undefined) {
          lock.release();
          held.delete(identity);
          continue;
        }
        sources.push(...records);
        folded.push(identity);
        if (Date.now() - yieldedAt > YIELD_EVERY_MS) {
          await nextTurn();
          yieldedAt = Date.now();
        }
      }
      await this.step('read');
      if (folded.length === 0) return [...later, ...identities.slice(next)];

      const archive = writeArchiveAside(dir, base.generation + 1, foldForArchive(sources));
      await this.step('archive-written');
      await nextTurn(); // lets a lost lock be noticed before the commit
      const committed = commitArchive(dir, base, archive, folded, this.ownership);
      this.result.folded.push(...folded);
      await this.step('committed');

      checkStillCurrent(dir, committed, this.ownership);
      this.result.filesRemoved += removeAll(dir, [
        ...archiveFiles.map((entry) => entry.name),
        ...folded.flatMap((identity) => (byIdentity.get(identity) ?? []).map((entry) => entry.name)),
      ]);
      await this.step('deleted');
      checkStillCurrent(dir, committed, this.ownership);
      writeManifestSync(dir, { generation: committed.generation, pending: [] });
      await this.step('settled');
      return [...later, ...identities.slice(next)];
    } finally {
      // Let go only now: a writer of a folded identity starts from nothing, its old values being in the archive.
      for (const lock of held.values()) lock.release();
    }
  }

  private readFiles(files: Listed[]): FileRecords[] {
    return files.map(({ name, file }) => decodeFile(file, readMetricsFile(path.join(this.dir, name)), this.cache));
  }

  /** All of an identity's files or none: a file that cannot be read keeps its identity out. */
  private readIdentity(identity: string, files: Listed[]): FileRecords[] | undefined {
    try {
      return this.readFiles(files);
    } catch (error) {
      if (!(error instanceof FileFormatError)) throw error;
      this.result.kept.push({ identity, reason: error.message });
      return undefined;
    }
  }
}

/**
 * Watches the locks of identities said to be dead but held from elsewhere, for as long as a
 * live holder takes to touch its lock; returns the identities whose locks stayed untouched
 * (and were removed). The others are kept, with the lock and the way out in the reason.
 */
async function watchUntouched(sightings: { identity: string; sighting: LockSighting }[], result: CompactionResult): Promise<string[]> {
  const untouched: string[] = [];
  let waiting = sightings;
  while (waiting.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, WATCH_POLL_MS));
    const still: typeof waiting = [];
    for (const entry of waiting) {
      const fate = followSighting(entry.sighting);
      if (fate === 'removed') untouched.push(entry.identity);
      else if (fate === 'watching') still.push(entry);
      else {
        result.kept.push({
          identity: entry.identity,
          reason: `its lock ${entry.sighting.file} was touched while compaction watched it, so a live process writes as "${entry.identity}". ` +
            'If no process of that identity runs, remove the lock file (or run "prom-multiproc clean" before the workers start).',
        });
      }
    }
    waiting = still;
  }
  return untouched;
}

/**
 * A writer that holds no lock (Python's) but runs, by its pid, and started before its file:
 * whatever compaction was told, folding would delete the file it goes on writing, and every
 * later count of it would be lost. The same evidence makes `clean` keep the file.
 */
function keptForUnlockedWriter(dir: string, identity: string, files: Listed[], result: CompactionResult): boolean {
  for (const { name } of files) {
    const stat = lstatOrUndefined(path.join(dir, name));
    const reason = stat === undefined ? undefined : whyUnlockedWriterRuns(identity, stat);
    if (reason !== undefined) {
      result.kept.push({ identity, reason: `${reason}; folding would lose every count it writes from now on` });
      return true;
    }
  }
  return false;
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Writers that hold no lock of ours are, in practice, Python's prometheus_client, whose
 * collector reads the directory without any lock: its scrapes can fail or double count while
 * a compaction deletes and archives files.
 */
function warnAboutUnlockedWriters(dir: string, byIdentity: Map<string, Listed[]>): void {
  let locked: Set<string>;
  try {
    locked = new Set(readdirSync(dir).map(identityOfLockFile).filter((identity): identity is string => identity !== undefined));
  } catch {
    return;
  }
  const unlocked = [...byIdentity.keys()].filter((identity) => {
    const pid = pidOf(identity);
    return pid !== undefined && pid !== process.pid && !locked.has(identity) && processExists(pid);
  });
  if (unlocked.length === 0) return;
  reportOnce(`compact-unlocked\u0000${dir}`, new Error(
    `compaction of ${dir} found live writers that hold no prom-multiproc lock (pid ${unlocked.slice(0, 5).join(', ')}` +
      `${unlocked.length > 5 ? ', ...' : ''}), likely Python's prometheus_client: if Python's collector scrapes this directory, ` +
      'its scrapes will fail or double count during compaction; scrape with prom-multiproc instead.',
  ));
}

/** Finishes a compaction that crashed: after its commit, delete what it folded; before, its unused archive. */
async function recover(dir: string): Promise<number> {
  const manifest: Manifest = readManifest(dir);
  const current = archiveIdentity(manifest.generation);
  const pending = new Set(manifest.pending);
  const listed = await listMetricsFiles(dir);
  const stale = listed.filter(({ file }) => (isArchiveIdentity(file.id) ? file.id !== current : pending.has(file.id)));
  const removed = removeAll(dir, stale.map((entry) => entry.name));
  removeStaleCommitFiles(dir, manifest.generation);
  if (manifest.pending.length > 0) writeManifestSync(dir, { generation: manifest.generation, pending: [] });
  return removed;
}

function removeAll(dir: string, names: string[]): number {
  let removed = 0;
  for (const name of names) {
    try {
      unlinkSync(path.join(dir, name));
      removed++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return removed;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
