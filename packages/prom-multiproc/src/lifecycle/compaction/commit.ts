// The commit of one archive generation, and the guard that makes it safe against a second
// compactor. The directory lock keeps compactors apart, but a holder that stalled past its
// stale time may have lost it without knowing (see directoryLock.ts). Before anything of a
// new generation becomes visible, the committer proves that generation is still its to make:
//
//   - the lock was not reported lost;
//   - the manifest still names the generation the fold started from (compare-and-swap);
//   - it creates the generation's claim file with O_EXCL: of two compactors that started from
//     the same generation, exactly one gets it, and the other gives up.
//
// Only then are the archive files, written aside, renamed into place and the manifest
// replaced: a synchronous run of a few system calls, so no stall of its own event loop can
// let another compactor in between. Claims older than the current generation are removed
// by the next compaction; a claim beyond it whose compactor died before committing is
// removed once it is older than the lock's stale time.

import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { fileNameOf, type FileKind } from '../../format/fileNames.js';
import { CLAIM_PREFIX } from './generationClaim.js';
import { encodeFile } from '../../format/format.js';
import type { RawEntry } from '../../format/decode.js';
import { DIRECTORY_LOCK_STALE_MS, type LockOwnership } from '../../directory/directoryLock.js';
import { archiveIdentity, readManifest, writeManifestSync, type Manifest } from '../../directory/manifest.js';

const ASIDE_PREFIX = '.archive-';
// As the workers' files: the owner writes, the group (a scraper of the service's group) reads.
const FILE_MODE = 0o640;

/** A compaction that found, before committing, that another compactor may have taken over. */
export class CompactionLostError extends Error {
  override name = 'CompactionLostError';
}

/** Archive files written aside, under names no collector reads, ready to be renamed into place. */
export interface ArchiveAside {
  generation: number;
  files: { aside: string; target: string }[];
}

export function writeArchiveAside(dir: string, generation: number, entries: Map<FileKind, RawEntry[]>): ArchiveAside {
  const identity = archiveIdentity(generation);
  const unique = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const files: ArchiveAside['files'] = [];
  try {
    for (const [kind, kindEntries] of entries) {
      const aside = path.join(dir, `${ASIDE_PREFIX}${kind}-${unique}.tmp`);
      files.push({ aside, target: path.join(dir, fileNameOf(kind, identity)) });
      writeFileSync(aside, encodeFile(kindEntries), { mode: FILE_MODE });
    }
  } catch (error) {
    discardAside({ generation, files });
    throw error;
  }
  return { generation, files };
}

export function discardAside({ files }: ArchiveAside): void {
  for (const { aside } of files) unlinkQuietly(aside);
}

/**
 * Makes `archive` the current generation, with `pending` folded identities, if the fold that
 * made it started from `base` and still owns the directory; otherwise discards it and throws
 * CompactionLostError. Synchronous from the checks to the manifest.
 */
export function commitArchive(dir: string, base: Manifest, archive: ArchiveAside, pending: string[], ownership: LockOwnership): Manifest {
  const next: Manifest = { generation: archive.generation, pending };
  try {
    if (ownership.lost !== undefined) throw new CompactionLostError(`the directory lock was lost (${ownership.lost.message})`);
    const current = readManifest(dir);
    if (current.generation !== base.generation || archive.generation !== base.generation + 1) {
      throw new CompactionLostError(`another compaction committed generation ${current.generation} meanwhile`);
    }
    if (!claimGeneration(dir, archive.generation)) {
      throw new CompactionLostError(`another compaction claimed generation ${archive.generation} first`);
    }
  } catch (error) {
    discardAside(archive);
    throw error;
  }
  for (const { aside, target } of archive.files) renameSync(aside, target);
  writeManifestSync(dir, next);
  return next;
}

export { isGenerationClaim } from './generationClaim.js';

/**
 * After a commit, before each step that acts on it (deleting the folded files, settling the
 * manifest): throws CompactionLostError when the directory has moved on without this
 * compactor (its lock lost, another compaction committed since). The next compaction's
 * recovery then finishes what this one committed; acting on a later generation would undo it.
 */
export function checkStillCurrent(dir: string, committed: Manifest, ownership: LockOwnership): void {
  if (ownership.lost !== undefined) {
    throw new CompactionLostError(`the directory lock was lost after generation ${committed.generation} was committed (${ownership.lost.message})`);
  }
  const current = readManifest(dir);
  if (current.generation !== committed.generation) {
    throw new CompactionLostError(`another compaction committed generation ${current.generation} after this one committed ${committed.generation}`);
  }
}

function claimGeneration(dir: string, generation: number): boolean {
  try {
    closeSync(openSync(path.join(dir, `${CLAIM_PREFIX}${generation}`), 'wx', FILE_MODE));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes the claims no compactor can still need: those of generations before the current
 * one, and those beyond it that are older than the lock's stale time (their compactor died
 * between claim and commit). Also removes archives written aside and never renamed.
 */
export function removeStaleCommitFiles(dir: string, current: number): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.startsWith(ASIDE_PREFIX) && name.endsWith('.tmp')) {
      if (olderThan(file, now, DIRECTORY_LOCK_STALE_MS)) unlinkQuietly(file);
      continue;
    }
    if (!name.startsWith(CLAIM_PREFIX)) continue;
    const generation = Number(name.slice(CLAIM_PREFIX.length));
    if (!Number.isInteger(generation)) continue;
    if (generation < current || (generation > current && olderThan(file, now, DIRECTORY_LOCK_STALE_MS))) unlinkQuietly(file);
  }
}

function olderThan(file: string, now: number, ms: number): boolean {
  const stat = statSync(file, { throwIfNoEntry: false });
  return stat !== undefined && now - stat.mtimeMs > ms;
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already.
  }
}
