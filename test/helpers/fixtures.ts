// Where the golden files of the reference Python client are: test/fixtures/python-client (its
// README says how they were made), or PYTHON_CLIENT_FIXTURES when set.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function fixturesDir(): string {
  const dir = process.env.PYTHON_CLIENT_FIXTURES ?? path.resolve(repoRoot, 'test', 'fixtures', 'python-client');
  if (!existsSync(dir)) {
    throw new Error(`golden files not found at ${dir}; set PYTHON_CLIENT_FIXTURES to the python-client fixtures folder`);
  }
  return dir;
}

export function scenarios(): string[] {
  const dir = fixturesDir();
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'expected.json')))
    .map((entry) => entry.name)
    .sort();
}

export interface OpMetric {
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  name: string;
  help: string;
  mode?: string;
  labelNames?: string[];
  buckets?: number[];
}

export interface Op {
  pid: number;
  op: 'inc' | 'dec' | 'set' | 'observe' | 'mark_process_dead';
  metric?: OpMetric;
  labels?: Record<string, string>;
  value?: number;
  timestamp?: number;
}

export function readOps(scenario: string): Op[] {
  const file = path.join(fixturesDir(), scenario, 'ops.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Op);
}

export interface ExpectedFamily {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

export function readExpected(scenario: string): ExpectedFamily[] {
  const file = path.join(fixturesDir(), scenario, 'expected.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { families: ExpectedFamily[] }).families;
}
