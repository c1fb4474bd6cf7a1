// Compaction: fold the files of processes that are gone into one archive file per kind, so
// that the number of files is bounded by the live processes (plus the archives), whatever the
// history. The order of the steps is what makes a crash at any point harmless:
//
//   1. recover     finish what a crashed compaction committed (delete its folded files)
//   2. read        the current archive and the dead processes' files
//   3. write       the new archive generation, aside from the current one (invisible until 4)
//   4. commit      the manifest names the new generation and the folded identities
//   5. delete      the old generation and the folded files
//   6. settle      the manifest's list of folded identities is emptied
//
// Before 4 the merge reads the old archive and the files; after it, the new archive, and the
// folded files are ignored until deleted. Scrapes never see both (manifest.ts).

import { promises as fsp, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { listMetricsFiles } from '../collector.js';
import { fileNameOf, type FileKind, type ParsedFileName } from '../fileNames.js';
import { FileFormatError, encodeFile } from '../format.js';
import { decodeFile, isArchiveIdentity, type FileRecords, type KeyCache } from '../merge.js';
import { readMetricsFile } from '../readMetricsFile.js';
import { isIdentityLocked, removeLockIfDead } from '../identityLock.js';
import { reportOnce } from '../report.js';
import { withDirectoryLock } from './directoryLock.js';
import { foldForArchive } from './fold.js';
import { archiveIdentity, readManifest, writeManifestSync, type Manifest } from './manifest.js';

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
  /** Called after each step; tests use it to kill the compactor at every point. */
  onStep?: (step: CompactionStep) => void | Promise<void>;
}

export interface CompactionResult {
  /** Identities whose files were folded into the archive. */
  folded: string[];
  /** Files removed, folded files and superseded archives together. */
  filesRemoved: number;
  /** The archive generation now current. */
  generation: number;
}

/** Whether the process behind an identity is gone, as far as this host can tell. */
export function pidIsGone(id: string): boolean {
  const match = /^(\d+)(?:-t\d+)?$/.exec(id);
  if (match === null) return false; // not a pid: only the process manager can tell
  const pid = Number(match[1]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function compactDirectory(dir: string, options: CompactOptions = {}): Promise<CompactionResult> {
  return withDirectoryLock(dir, async () => {
    const step = async (name: CompactionStep) => options.onStep?.(name);
    let filesRemoved = await recover(dir);
    await step('recovered');

    const manifest = readManifest(dir);
    const listed = await listMetricsFiles(dir);
    const told = new Set(options.dead ?? []);
    const byIdentity = new Map<string, { name: string; file: ParsedFileName }[]>();
    for (const entry of listed) {
      if (isArchiveIdentity(entry.file.id)) continue;
      const known = byIdentity.get(entry.file.id) ?? [];
      known.push(entry);
      byIdentity.set(entry.file.id, known);
    }
    // A live writer holds its identity's lock (identityLock.ts): whatever else says it is dead,
    // its files are not folded, or the values it goes on writing would be lost.
    const candidates = [...byIdentity.keys()].filter(
      (id) => (told.has(id) || ((options.detectDeadPids ?? true) && pidIsGone(id))) && !isIdentityLocked(dir, id),
    );
    if (candidates.length === 0) return { folded: [], filesRemoved, generation: manifest.generation };

    const cache: KeyCache = new Map();
    const current = archiveIdentity(manifest.generation);
    const sources: FileRecords[] = await readAll(dir, listed.filter((entry) => entry.file.id === current), cache);
    const folded: string[] = [];
    const candidateFiles = await Promise.all(
      candidates.sort().map(async (id) => {
        // All of an identity's files or none: a file that cannot be read keeps its process out.
        try {
          return { id, records: await readAll(dir, byIdentity.get(id)!, cache) };
        } catch (error) {
          if (!(error instanceof FileFormatError)) throw error;
          reportOnce(`compact\u0000${dir}\u0000${id}`, new Error(`compaction left the files of ${id} in ${dir} alone: ${error.message}`));
          return undefined;
        }
      }),
    );
    for (const candidate of candidateFiles) {
      if (candidate === undefined) continue;
      sources.push(...candidate.records);
      folded.push(candidate.id);
    }
    await step('read');
    if (folded.length === 0) return { folded, filesRemoved, generation: manifest.generation };

    const next: Manifest = { generation: manifest.generation + 1, pending: folded };
    writeArchive(dir, archiveIdentity(next.generation), foldForArchive(sources));
    await step('archive-written');

    writeManifestSync(dir, next);
    await step('committed');

    filesRemoved += removeAll(dir, [
      ...listed.filter((entry) => entry.file.id === current).map((entry) => entry.name),
      ...folded.flatMap((id) => byIdentity.get(id)!.map((entry) => entry.name)),
    ]);
    for (const id of folded) removeLockIfDead(dir, id);
    await step('deleted');

    writeManifestSync(dir, { generation: next.generation, pending: [] });
    await step('settled');
    return { folded, filesRemoved, generation: next.generation };
  });
}

async function readAll(dir: string, files: { name: string; file: ParsedFileName }[], cache: KeyCache): Promise<FileRecords[]> {
  // One file at a time: a compaction of thousands of dead workers must not open them all at once.
  return files.map(({ name, file }) => decodeFile(file, readMetricsFile(path.join(dir, name)), cache));
}

/** Finishes a compaction that crashed: after its commit, delete what it folded; before, its unused archive. */
async function recover(dir: string): Promise<number> {
  const manifest = readManifest(dir);
  const current = archiveIdentity(manifest.generation);
  const pending = new Set(manifest.pending);
  const listed = await listMetricsFiles(dir);
  const stale = listed.filter(({ file }) => (isArchiveIdentity(file.id) ? file.id !== current : pending.has(file.id)));
  const removed = removeAll(dir, stale.map((entry) => entry.name));
  for (const name of await fsp.readdir(dir)) {
    if (name.startsWith('.archive-')) removeAll(dir, [name]); // an archive written aside, never renamed
  }
  if (manifest.pending.length > 0) writeManifestSync(dir, { generation: manifest.generation, pending: [] });
  return removed;
}

function writeArchive(dir: string, identity: string, entries: Map<FileKind, { key: string; value: number; timestamp: number }[]>): void {
  for (const [kind, kindEntries] of entries) {
    const target = path.join(dir, fileNameOf(kind, identity));
    // Written under a name no collector reads, then renamed into place whole.
    const aside = path.join(dir, `.archive-${kind}-${process.pid}.tmp`);
    writeFileSync(aside, encodeFile(kindEntries), { mode: 0o644 });
    renameSync(aside, target);
  }
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
