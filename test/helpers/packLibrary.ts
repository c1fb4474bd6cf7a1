// `npm pack` of the library as users get it: packed from a copy of the package directory that
// has never been built, so the tarball holds only what packing itself makes, and the shared
// working tree's dist/ is never touched.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './fixtures.js';

export const packageDir = path.join(repoRoot, 'packages', 'prom-multiproc');

/** Runs a command to completion and returns its stdout; fails the test with its output otherwise. */
export function run(command: string, args: string[], options: SpawnSyncOptions & { cwd: string }): string {
  const result = spawnSync(command, args, { encoding: 'utf8', shell: process.platform === 'win32', ...options });
  const output = `${String(result.stdout ?? '')}${String(result.stderr ?? '')}`;
  assert.equal(result.status, 0, `${command} ${args.join(' ')} (in ${options.cwd}) failed:\n${output}${result.error ? String(result.error) : ''}`);
  return String(result.stdout);
}

export function link(target: string, at: string): void {
  mkdirSync(path.dirname(at), { recursive: true });
  symlinkSync(target, at, 'junction');
}

/** Packs an unbuilt copy of the library inside `work` and returns the tarball's path. */
export function packLibrary(work: string): string {
  // The workspace as the package's build sees it, without any build output: the package's
  // sources and scripts, the root files it reads, and the installed node_modules.
  const copy = path.join(work, 'workspace');
  const copiedPackage = path.join(copy, 'packages', 'prom-multiproc');
  const skipped = new Set(['dist', 'node_modules'].map((name) => path.join(packageDir, name)));
  cpSync(packageDir, copiedPackage, { recursive: true, filter: (source) => !skipped.has(source) && !source.endsWith('.tgz') });
  for (const file of ['tsconfig.base.json', 'README.md', 'LICENSE']) cpSync(path.join(repoRoot, file), path.join(copy, file));
  link(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
  link(path.join(packageDir, 'node_modules'), path.join(copiedPackage, 'node_modules'));
  assert.ok(!existsSync(path.join(copiedPackage, 'dist')));

  const packed = path.join(work, 'packed');
  mkdirSync(packed);
  run('npm', ['pack', '--pack-destination', packed, '--loglevel', 'error'], { cwd: copiedPackage, stdio: ['ignore', 'pipe', 'pipe'] });
  const tarballs = readdirSync(packed).filter((name) => name.endsWith('.tgz'));
  assert.equal(tarballs.length, 1, `one tarball expected, got ${tarballs.join(', ')}`);
  return path.join(packed, tarballs[0]!);
}
