// The stress and chaos runs start dozens of writer processes. Under tsx each start costs about
// a second of CPU (esbuild, transforms), which on a two-core CI runner is most of the run, so
// the writer and the library sources are transpiled once per run with TypeScript's
// transpileModule (types erased, nothing else changed) into a temporary directory laid out
// like the repository, and the writers run there under plain node in about 0.2 s.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { repoRoot } from './fixtures.js';

const SOURCES = [path.join('packages', 'prom-multiproc', 'src')];
const HELPERS_DIR = path.join('test', 'helpers');

function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(relative));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(relative);
  }
  return found;
}

let built: string | undefined;

/** The path of a transpiled test/helpers/stress*.ts, e.g. compiledHelper('stressWriter') (built on first use, removed at exit). */
export function compiledHelper(name: string): string {
  return path.join(build(), HELPERS_DIR, `${name}.js`);
}

/** The writer of the stress and chaos runs. */
export function compiledWriter(): string {
  return compiledHelper('stressWriter');
}

function build(): string {
  if (built !== undefined) return built;
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-stress-build-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  // Bare imports (prom-client, commander) resolve through the repository's node_modules.
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const helpers = readdirSync(path.join(repoRoot, HELPERS_DIR))
    .filter((name) => (name.startsWith('stress') || name === 'afterWritten.ts') && name.endsWith('.ts'))
    .map((name) => path.join(HELPERS_DIR, name));
  for (const file of [...SOURCES.flatMap(sourceFiles), ...helpers]) {
    const output = ts.transpileModule(readFileSync(path.join(repoRoot, file), 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = path.join(dir, file.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
  // The package's own dependencies (commander) sit in its node_modules, beside src/.
  symlinkSync(path.join(repoRoot, 'packages', 'prom-multiproc', 'node_modules'), path.join(dir, 'packages', 'prom-multiproc', 'node_modules'), 'dir');
  built = dir;
  return built;
}
