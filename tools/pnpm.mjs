#!/usr/bin/env node
// Runs the pnpm version pinned in package.json's "packageManager" field, so a machine with
// only Node and npm can build and test the workspace: it uses a pnpm on PATH when that is
// the pinned version, and otherwise fetches the pinned one once through npx.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const { packageManager } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const version = packageManager.replace(/^pnpm@/, '');
const args = process.argv.slice(2);

function run(command, commandArgs) {
  return spawnSync(command, commandArgs, { stdio: 'inherit', cwd: root, shell: false });
}

const onPath = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
const result =
  onPath.status === 0 && onPath.stdout.trim() === version
    ? run('pnpm', args)
    : run('npx', ['--yes', `pnpm@${version}`, ...args]);
if (result.error) {
  console.error(`tools/pnpm.mjs: could not start pnpm ${version}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
