#!/usr/bin/env node
// Builds the package twice from one source: ES modules in dist/esm (also the CLI) and
// CommonJS in dist/cjs, each with type declarations, so `import` and `require` both work.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // TypeScript is a dependency of the workspace root, installed by its `npm run setup`.
  console.error('build: TypeScript is not installed; run `npm run build` (or `npm run setup` first) at the repository root');
  process.exit(1);
}

function compile(project) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd: packageDir, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`build: tsc -p ${project} failed`);
    process.exit(result.status ?? 1);
  }
}

rmSync(new URL('dist', new URL('../', import.meta.url)), { recursive: true, force: true });
compile('tsconfig.json');
compile('tsconfig.cjs.json');
// The package is "type": "module"; this marks the CommonJS build as such.
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
const cli = new URL('../dist/esm/exporter/cli.js', import.meta.url);
if (existsSync(cli)) chmodSync(cli, 0o755);
