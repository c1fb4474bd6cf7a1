// The names of generation claims, apart from commit.ts: cleanDirectory recognises them
// without loading the compaction code.
export const CLAIM_PREFIX = '.prom-multiproc-generation-';

/** Whether `name` is a compaction's claim of an archive generation (`clean` removes them with the archives). */
export function isGenerationClaim(name: string): boolean {
  return name.startsWith(CLAIM_PREFIX) && /^\d+$/.test(name.slice(CLAIM_PREFIX.length));
}
