#!/usr/bin/env node
// Puts the repository's README.md and LICENSE into the package directory while it is packed
// (`node scripts/packFiles.mjs add` on prepack), and takes them out again afterwards
// (`remove` on postpack), so the tarball carries them and the repository keeps one copy of each.
// Both copies are in this package's .gitignore.
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';

const files = ['README.md', 'LICENSE'];
const root = new URL('../../../', import.meta.url);
const packageDir = new URL('../', import.meta.url);
const action = process.argv[2];

for (const file of files) {
  const source = new URL(file, root);
  const copy = new URL(file, packageDir);
  if (action === 'add') {
    if (!existsSync(source)) {
      console.error(`packFiles: ${file} not found at the repository root; the package needs it`);
      process.exit(1);
    }
    copyFileSync(source, copy);
  } else if (action === 'remove') {
    // Only a copy of the root file is ours to remove.
    if (existsSync(copy) && existsSync(source) && readFileSync(copy).equals(readFileSync(source))) rmSync(copy);
  } else {
    console.error('usage: node scripts/packFiles.mjs add|remove');
    process.exit(2);
  }
}
