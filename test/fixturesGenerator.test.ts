// The golden files can be made again: test/fixtures/python-client/generate.py replays each
// scenario's ops.jsonl with the real Python prometheus_client and must write the committed
// files/*.db byte for byte, the same expected.json and the lines of expected.prom.
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturesDir, repoRoot, scenarios } from './helpers/fixtures.js';
import { ensurePythonClient, type PythonClient } from './helpers/python.js';

const generator = path.join(repoRoot, 'test', 'fixtures', 'python-client', 'generate.py');
const GENERATE_TIMEOUT_MS = 60_000;

// Made here rather than with the shared scratch helper: this file needs nothing of the library.
const outRoot = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-fixtures-'));
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(outRoot, { recursive: true, force: true });
});

function generate(client: PythonClient, scenarioDir: string, outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(client.python, [generator, scenarioDir, outDir], { env: client.env, timeout: GENERATE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      running.delete(child);
      if (error) reject(new Error(`generate.py ${path.basename(scenarioDir)} failed: ${error.message}\n${stderr}`));
      else resolve();
    });
    running.add(child);
  });
}

function dbFiles(dir: string): string[] {
  return readdirSync(path.join(dir, 'files')).filter((name) => name.endsWith('.db')).sort();
}

/** Where two files first differ, to name it instead of printing 64 KiB of bytes. */
function firstDifference(committed: Buffer, generated: Buffer): string | undefined {
  const shorter = Math.min(committed.length, generated.length);
  for (let offset = 0; offset < shorter; offset++) {
    if (committed[offset] !== generated[offset]) {
      return `byte ${offset} (0x${offset.toString(16)}): committed 0x${committed[offset]!.toString(16)}, generated 0x${generated[offset]!.toString(16)}`;
    }
  }
  return committed.length === generated.length ? undefined : `length: committed ${committed.length}, generated ${generated.length}`;
}

/**
 * The exposition with its families, and the lines within each, in name order. Python's own
 * collector reads files/ in directory listing order, which the filesystem decides (ext4 hashes
 * names with a seed of its own, tmpfs lists the newest first), and emits families and series in
 * the order it meets them: the committed expected.prom has the order of the machine that made
 * it, the generator's has file name order. Every line must still be the same.
 */
function inNameOrder(exposition: string): string {
  const families: string[][] = [];
  for (const line of exposition.split('\n').filter((text) => text !== '')) {
    if (line.startsWith('# HELP ') || families.length === 0) families.push([]);
    families.at(-1)!.push(line);
  }
  return families
    .map(([help, type, ...samples]) => [help, type, ...samples.sort()].join('\n'))
    .sort()
    .join('\n');
}

describe('generate.py remakes the golden files of the Python client', () => {
  let client: PythonClient;
  before(async () => {
    client = await ensurePythonClient();
  });

  for (const scenario of scenarios()) {
    it(scenario, async () => {
      const committedDir = path.join(fixturesDir(), scenario);
      const outDir = path.join(outRoot, scenario);
      await generate(client, committedDir, outDir);

      assert.deepEqual(dbFiles(outDir), dbFiles(committedDir), 'the same files');
      for (const name of dbFiles(committedDir)) {
        const difference = firstDifference(readFileSync(path.join(committedDir, 'files', name)), readFileSync(path.join(outDir, 'files', name)));
        assert.equal(difference, undefined, `${name}: ${difference} (prometheus_client ${client.version})`);
      }

      const expectedJson = readFileSync(path.join(committedDir, 'expected.json'), 'utf8');
      const generatedJson = readFileSync(path.join(outDir, 'expected.json'), 'utf8');
      assert.deepEqual(JSON.parse(generatedJson), JSON.parse(expectedJson));
      assert.equal(generatedJson, expectedJson, 'expected.json laid out the same');

      const expectedProm = readFileSync(path.join(committedDir, 'expected.prom'), 'utf8');
      const generatedProm = readFileSync(path.join(outDir, 'expected.prom'), 'utf8');
      assert.equal(inNameOrder(generatedProm), inNameOrder(expectedProm));
      assert.equal(generatedProm.endsWith('\n'), expectedProm.endsWith('\n'), 'expected.prom ends as committed');
    });
  }
});
