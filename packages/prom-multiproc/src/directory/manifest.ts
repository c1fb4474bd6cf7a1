// Which archive generation is current, and which folded files may still be on disk.
//
// Compaction commits by replacing this small file (write aside, rename): before the
// rename the old archive and the dead processes' files are the truth, after it the new
// archive is, and the folded files that are still there are ignored until they are deleted.
// A scrape reads it before and after reading the directory and starts over if it changed,
// so it sees one side of a commit or the other, never both, without taking a lock.

import type * as Crypto from 'node:crypto';
import { builtin } from '../common/builtins.js';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ParsedFileName } from '../format/fileNames.js';

export const MANIFEST_NAME = '.prom-multiproc-archive.json';

export interface Manifest {
  /** The current archive files are `<kind>_archive<generation>.db`. */
  generation: number;
  /** Identities folded into the current archive whose files may not be deleted yet. */
  pending: string[];
}

export const EMPTY_MANIFEST: Manifest = { generation: 0, pending: [] };

/**
 * Identities of archive files, which hold the folded values of processes that are gone
 * (see lifecycle/compaction/compact.ts). An `all`-mode gauge archive keeps each process's id in a `pid` label.
 */
export function isArchiveIdentity(id: string): boolean {
  return /^archive\d*$/.test(id);
}

export function archiveIdentity(generation: number): string {
  return `archive${generation}`;
}

/** Synchronous: a scrape reads it twice, and a small file costs less than a thread-pool round trip. */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST_NAME);
  // Most directories have none: asking first is cheaper than the exception a failed open makes.
  if (statSync(file, { throwIfNoEntry: false }) === undefined) return EMPTY_MANIFEST;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_MANIFEST;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<Manifest>;
  if (!Number.isInteger(parsed.generation) || !Array.isArray(parsed.pending)) {
    throw new Error(`${path.join(dir, MANIFEST_NAME)} is not a compaction manifest`);
  }
  return { generation: parsed.generation!, pending: parsed.pending.map(String) };
}

export function sameManifest(a: Manifest, b: Manifest): boolean {
  return a.generation === b.generation && a.pending.join('\u0000') === b.pending.join('\u0000');
}

/**
 * Writes the manifest atomically: aside, then renamed over the old one. Not fsynced: the
 * steps guard against the compactor dying, which leaves the page cache intact; a machine
 * crash loses the workers' unsynced values as well, and the directory usually lives on tmpfs.
 */
export function writeManifestSync(dir: string, manifest: Manifest): void {
  const target = path.join(dir, MANIFEST_NAME);
  // Unique to this write: a compactor that lost the directory lock may be writing too (lifecycle/compaction/commit.ts).
  const aside = `${target}.tmp-${process.pid}-${builtin<typeof Crypto>('node:crypto').randomBytes(4).toString('hex')}`;
  writeFileSync(aside, `${JSON.stringify(manifest)}\n`, { mode: 0o640 });
  renameSync(aside, target);
}

/** Whether a listed file belongs in the merge under `manifest`. */
export function visibleUnder(manifest: Manifest): (file: ParsedFileName) => boolean {
  const current = archiveIdentity(manifest.generation);
  const pending = new Set(manifest.pending);
  return (file) => (isArchiveIdentity(file.id) ? file.id === current : !pending.has(file.id));
}
