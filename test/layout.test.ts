// The library's folders are layers (packages/prom-multiproc/src/README.md): a module imports
// only from its own folder and the folders below it, never from one above. Every import of
// every module is read here (static, re-exports, import() and require()), so an upward one
// fails the test, named with its file and what it imports.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const src = fileURLToPath(new URL('../packages/prom-multiproc/src/', import.meta.url));

/** Lowest first: each folder may import from itself and from the folders before it. */
const LAYERS = [
  'common', 'format', 'sketch', 'directory', 'storage', 'lifecycle', 'scrape', 'metrics', 'integrations', 'exporter',
] as const;
/** The one module at the top of the tree: the package's entry point, above every folder. */
const ENTRY = 'index.ts';

/** A module's layer (its first folder), the entry point's (above all), or undefined where no module belongs. */
function rankOf(file: string): number | undefined {
  if (file === ENTRY) return LAYERS.length;
  const folder = file.split('/')[0]!;
  const rank = (LAYERS as readonly string[]).indexOf(folder);
  return rank >= 0 && file.includes('/') ? rank : undefined;
}

/** Where a module sits, as the messages name it: its folder, or the entry point. */
function placeOf(file: string): string {
  return file.includes('/') ? `${file.split('/')[0]}/` : file;
}

/** What breaks the order in `modules` (path under src → its text), one line per offence. */
function layoutViolations(modules: ReadonlyMap<string, string>): string[] {
  const violations: string[] = [];
  for (const [file, text] of modules) {
    const rank = rankOf(file);
    if (rank === undefined) {
      violations.push(`${file}: not in a layer folder (${LAYERS.join(', ')}); only ${ENTRY} stays at the top`);
      continue;
    }
    // Unit tests may read back through a higher layer (a writer's test scrapes what it wrote).
    if (file.endsWith('.test.ts')) continue;
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
      const targetRank = target.startsWith('../') ? undefined : rankOf(target);
      if (targetRank === undefined) {
        violations.push(`${file}: imports '${specifier}', outside the library's layers`);
      } else if (targetRank > rank) {
        violations.push(`${file}: imports '${specifier}' from ${placeOf(target)}, a layer above ${placeOf(file)}`);
      }
    }
  }
  return violations;
}

function sourceModules(dir = src, modules = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceModules(full, modules);
    else if (entry.name.endsWith('.ts')) modules.set(path.relative(src, full).split(path.sep).join('/'), readFileSync(full, 'utf8'));
  }
  return modules;
}

describe('source layout', () => {
  it('every module imports only from its own layer and the layers below it', () => {
    const modules = sourceModules();
    assert.ok(modules.size > 50, `found ${modules.size} modules under ${src}`);
    assert.deepEqual(layoutViolations(modules), []);
  });

  it('every folder of src is one of the layers, and every layer is a folder', () => {
    const folders = readdirSync(src, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    assert.deepEqual([...folders].sort(), [...LAYERS].sort());
  });

  it('names the file and the import that goes upward, or leaves the layers', () => {
    const modules = new Map([
      ['format/format.ts', "import { x } from '../scrape/merge.js';\nexport const y = await import('./pythonJson.js');"],
      ['storage/store.ts', "export type { Cell } from './cell.js';\nimport type { Z } from '../lifecycle/processes.js';"],
      ['scrape/merge.ts', "import { a } from '../format/format.js';\nconst b = require('../index.js');"],
      ['common/errors.ts', "import '../../../test/helpers/fixtures.js';"],
      ['loose.ts', ''],
      ['format/format.test.ts', "import { x } from '../scrape/merge.js';"],
      [ENTRY, "export * from './exporter/cli.js';"],
    ]);
    assert.deepEqual(layoutViolations(modules), [
      "format/format.ts: imports '../scrape/merge.js' from scrape/, a layer above format/",
      "storage/store.ts: imports '../lifecycle/processes.js' from lifecycle/, a layer above storage/",
      "scrape/merge.ts: imports '../index.js' from index.ts, a layer above scrape/",
      "common/errors.ts: imports '../../../test/helpers/fixtures.js', outside the library's layers",
      `loose.ts: not in a layer folder (${LAYERS.join(', ')}); only ${ENTRY} stays at the top`,
    ]);
  });
});
