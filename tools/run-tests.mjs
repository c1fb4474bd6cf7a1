#!/usr/bin/env node
// Runs every *.test.ts of the workspace (unit tests beside the code in packages/*/src,
// multi-process and cross-package suites in test/, benchmark self-checks in tools/) with Node's own test runner, loading
// TypeScript through tsx. Node 20's runner takes no globs, so the files are listed here.
// Extra arguments are passed on (e.g. --test-name-pattern=golden).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

function testFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(full));
    else if (entry.name.endsWith('.test.ts')) found.push(relative(root, full));
  }
  return found;
}

const packagesDir = join(root, 'packages');
const files = [
  ...readdirSync(packagesDir).flatMap((name) => testFiles(join(packagesDir, name, 'src'))),
  ...testFiles(join(root, 'test')),
  ...testFiles(join(root, 'tools')),
].sort();
const only = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const flags = process.argv.slice(2).filter((arg) => arg.startsWith('-'));
const selected = only.length > 0 ? files.filter((file) => only.some((part) => file.includes(part))) : files;
if (selected.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...flags, ...selected], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
