// Reading a text exposition back into numbers, so that two collectors' outputs (ours renders
// `1`, Python `1.0`; label and family order differ) and a directory's known totals can be
// compared sample by sample before any timing is believed.

/** Sample name and sorted labels → value. */
export type Samples = Map<string, number>;

export function sampleKey(name: string, labels: Record<string, string>): string {
  const pairs = Object.keys(labels).sort().map((label) => `${label}=${JSON.stringify(labels[label])}`);
  return `${name}{${pairs.join(',')}}`;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function sampleValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`not a sample value in ${JSON.stringify(line)}`);
  return value;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The samples whose names `keep` accepts; comments and other families are skipped. */
export function parseExposition(text: string, keep: (sampleName: string) => boolean): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match;
    if (!keep(name!)) continue;
    const labels: Record<string, string> = {};
    for (const [, label, value] of (labelText ?? '').matchAll(LABEL_PAIR)) labels[label!] = unescape(value!);
    const key = sampleKey(name!, labels);
    if (samples.has(key)) throw new Error(`sample ${key} appears twice`);
    samples.set(key, sampleValue(valueText!, line));
  }
  return samples;
}

/** Up to `limit` differences between two sample maps, as lines; empty when they agree. */
export function differences(expected: Samples, actual: Samples, names: { expected: string; actual: string }, limit = 5): string[] {
  const found: string[] = [];
  for (const key of new Set([...expected.keys(), ...actual.keys()])) {
    const a = expected.get(key);
    const b = actual.get(key);
    if (a !== undefined && b !== undefined && Object.is(a, b)) continue;
    if (found.length < limit) found.push(`  ${key}: ${names.expected} ${a ?? '(missing)'}, ${names.actual} ${b ?? '(missing)'}`);
    else return [...found, '  ...'];
  }
  return found;
}

/** The samples of `samples` that `expected` has a name for: counter totals, histogram counts and sums. */
export function restrictToNames(samples: Samples, names: ReadonlySet<string>): Samples {
  return new Map([...samples].filter(([key]) => names.has(key.slice(0, key.indexOf('{')))));
}
