// Temporary directories removed after the file's tests, and the library's warnings captured
// instead of printed: the scaffolding several suites share.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { setProblemReporter } from '../../packages/prom-multiproc/src/index.js';

/** A function that makes a fresh directory named with `prefix`; all are removed after the tests. */
export function scratchDirectories(prefix: string): () => string {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}

/** The messages the library reports while this file's tests run (it prints none of them). */
export function capturedWarnings(): string[] {
  const warnings: string[] = [];
  before(() => setProblemReporter((problem) => warnings.push(problem.message)));
  after(() => setProblemReporter(undefined));
  return warnings;
}
