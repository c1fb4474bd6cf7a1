// Folding is right when it changes nothing the merge shows: merging the archive with the
// remaining files gives what merging all the files gave (dead processes' live gauges aside).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GAUGE_MODES, fileKindOf, isLiveMode, parseFileName, type FileKind, type GaugeMode } from '../../format/fileNames.js';
import { decodeEntries, type FileRecords, type RawEntry } from '../../format/decode.js';
import { mergeFiles, type MetricFamily } from '../../scrape/merge.js';
import { entryKey } from '../../format/pythonJson.js';
import { foldForArchive } from './fold.js';

interface ProcessFiles {
  id: string;
  dead: boolean;
  entries: Map<FileKind, RawEntry[]>;
}

const metricOfKind: Record<string, { name: string; samples: string[]; labels: string[] }> = {
  counter: { name: 'jobs', samples: ['jobs_total'], labels: ['queue'] },
  histogram: { name: 'latency', samples: ['latency_sum', 'latency_bucket'], labels: ['route'] },
  summary: { name: 'size', samples: ['size_count', 'size_sum'], labels: ['kind'] },
};
const gaugeKinds = GAUGE_MODES.map((mode) => fileKindOf('gauge', mode));
const kinds: FileKind[] = ['counter', 'histogram', 'summary', ...gaugeKinds];

function entriesOf(kind: FileKind, label: string, value: number, timestamp: number, bound: string): RawEntry[] {
  if (kind.startsWith('gauge_')) {
    const name = `g_${kind.slice(6)}`;
    return [{ key: entryKey(name, name, ['k'], [label], 'a gauge'), value, timestamp }];
  }
  const { name, samples, labels } = metricOfKind[kind]!;
  return samples.map((sample) =>
    sample.endsWith('_bucket')
      ? { key: entryKey(name, sample, [...labels, 'le'], [label, bound], 'help'), value: Math.abs(Math.round(value)), timestamp: 0 }
      : { key: entryKey(name, sample, labels, [label], 'help'), value, timestamp: 0 },
  );
}

const processArb = fc.record({
  dead: fc.boolean(),
  writes: fc.array(
    fc.record({
      kind: fc.constantFrom(...kinds),
      label: fc.constantFrom('a', 'b', 'ü'),
      // Integers keep sums exact whatever the order of addition.
      value: fc.integer({ min: -1000, max: 1000 }),
      timestamp: fc.constantFrom(0, 1700000000, 1700000001, 1700000002),
      bound: fc.constantFrom('0.1', '1.0', '+Inf'),
    }),
    { maxLength: 12 },
  ),
});

type ProcessSpec = typeof processArb extends fc.Arbitrary<infer T> ? T : never;

function buildProcesses(specs: ProcessSpec[]): ProcessFiles[] {
  // Distinct timestamps: between equal ones the reference lets file order decide, and no
  // order of files is promised (Python's glob returns them as the file system lists them).
  let tick = 0;
  return specs.map((spec, index) => {
    const entries = new Map<FileKind, RawEntry[]>();
    for (const write of spec.writes) {
      const list = entries.get(write.kind) ?? [];
      const timestamp = write.timestamp === 0 ? 0 : write.timestamp + ++tick;
      for (const entry of entriesOf(write.kind, write.label, write.value, timestamp, write.bound)) {
        // One entry per key in a file, as a writer keeps it.
        const existing = list.find((candidate) => candidate.key === entry.key);
        if (existing) {
          existing.value = entry.value;
          existing.timestamp = entry.timestamp;
        } else list.push(entry);
      }
      entries.set(write.kind, list);
    }
    return { id: String(100 + index), dead: spec.dead, entries };
  });
}

function records(id: string, entries: Map<FileKind, RawEntry[]>): FileRecords[] {
  return [...entries].map(([kind, list]) => decodeEntries(parseFileName(`${kind}_${id}.db`)!, list));
}

/** Files in the order the collector reads them (by name), so first-file rules agree. */
function byName(files: FileRecords[]): FileRecords[] {
  const name = (f: FileRecords) => `${f.file.kind}_${f.file.id}.db`;
  return [...files].sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

function canonical(families: MetricFamily[]): string[] {
  return families
    .flatMap((family) => family.samples.map((s) => `${family.type} ${s.name} ${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`))
    .sort();
}

describe('foldForArchive', () => {
  it('leaves the merge unchanged (property)', () => {
    fc.assert(
      fc.property(fc.array(processArb, { minLength: 1, maxLength: 6 }), (specs) => {
        const processes = buildProcesses(specs);
        // A process marked dead has lost its live gauges already; that is markProcessDead's doing.
        for (const process of processes.filter((p) => p.dead)) {
          for (const kind of [...process.entries.keys()]) {
            const mode = kind.startsWith('gauge_') ? (kind.slice(6) as GaugeMode) : undefined;
            if (mode !== undefined && isLiveMode(mode)) process.entries.delete(kind);
          }
        }
        const all = processes.flatMap((p) => records(p.id, p.entries));
        const before = canonical(mergeFiles(byName(all)));

        const archive = foldForArchive(byName(processes.filter((p) => p.dead).flatMap((p) => records(p.id, p.entries))));
        const after = canonical(mergeFiles(byName([...records('archive1', archive), ...processes.filter((p) => !p.dead).flatMap((p) => records(p.id, p.entries))])));
        assert.deepEqual(after, before);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('folds an archive again without changing it', () => {
    const processes = buildProcesses([
      { dead: true, writes: [{ kind: 'gauge_all', label: 'a', value: 3, timestamp: 0, bound: '1.0' }, { kind: 'counter', label: 'a', value: 2, timestamp: 0, bound: '1.0' }] },
      { dead: true, writes: [{ kind: 'gauge_all', label: 'a', value: 5, timestamp: 0, bound: '1.0' }, { kind: 'counter', label: 'a', value: 4, timestamp: 0, bound: '1.0' }] },
    ]);
    const first = foldForArchive(processes.flatMap((p) => records(p.id, p.entries)));
    const second = foldForArchive(records('archive1', first));
    assert.deepEqual(second, first);
    assert.equal(first.get('gauge_all')!.length, 2, 'an all-mode gauge keeps one series per process');
    assert.match(first.get('gauge_all')![0]!.key, /"pid": "100"/);
  });

  it('drops the live gauges of dead processes and never-set mostrecent values', () => {
    const [dead] = buildProcesses([
      { dead: true, writes: [
        { kind: 'gauge_livesum', label: 'a', value: 3, timestamp: 0, bound: '1.0' },
        { kind: 'gauge_mostrecent', label: 'a', value: 9, timestamp: 0, bound: '1.0' },
      ] },
    ]);
    assert.deepEqual(foldForArchive(records(dead!.id, dead!.entries)), new Map());
  });
});
