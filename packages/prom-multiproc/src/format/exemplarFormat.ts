// The exemplar side file of one process identity: `exemplars_<identity>.pmx` in the shared
// directory, beside its .db files. Not `.db`: Python's collector reads every `*.db` and fails
// on a type it does not know, and ours ignores every name parseFileName rejects.
//
// It holds the process's latest exemplar per sample, keyed by the sample's entry key (the key
// of its .db entry, pythonJson.ts entryKey: a counter's `_total`, a histogram's `_bucket` with
// its `le`). The writer replaces the whole file at once (a temporary name, then a rename), so a
// reader finds the old file or the new one, never a mix. The text is UTF-8 JSON, one exemplar
// a line so that `cat` shows it:
//
//   {"format":"prom-multiproc-exemplars","version":1,"exemplars":[
//   ["[\"jobs\", \"jobs_total\", {\"queue\": \"a\"}, \"Jobs\"]",[["trace_id","abc"]],1,1700000000.123]
//   ]}
//
// Each exemplar is [entry key, label pairs in the order given, value, timestamp in seconds].
// The value is a JSON number, or "NaN", "+Inf", "-Inf", which JSON has no numbers for.

import { identityProblem } from './fileNames.js';

/** One exemplar, as OpenMetrics writes it after a sample: `# {labels} value timestamp`. */
export interface Exemplar {
  /** In the order they were given, which is the order they are written in. */
  labels: Readonly<Record<string, string>>;
  value: number;
  /** Seconds since the epoch. */
  timestamp: number;
}

export const EXEMPLAR_FORMAT = 'prom-multiproc-exemplars';
export const EXEMPLAR_FORMAT_VERSION = 1;

const PREFIX = 'exemplars_';
const SUFFIX = '.pmx';
// Our temporary names (fileNames.temporaryNameOf): `<file>.<creator pid>-<8 hex>.tmp`.
const TEMPORARY_NAME = /^(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

/** A file that does not hold exemplars in this format; the message says what is wrong. */
export class ExemplarFileError extends Error {
  override name = 'ExemplarFileError';
}

export function exemplarFileName(identity: string): string {
  return `${PREFIX}${identity}${SUFFIX}`;
}

/** The identity an exemplar file name carries, or undefined for any other name. */
export function parseExemplarFileName(name: string): string | undefined {
  if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) return undefined;
  const identity = name.slice(PREFIX.length, -SUFFIX.length);
  return identityProblem(identity) === undefined ? identity : undefined;
}

/** The identity and creator pid of a temporary name an exemplar file was written under, or undefined. */
export function parseExemplarTemporaryName(name: string): { identity: string; pid: number } | undefined {
  const match = TEMPORARY_NAME.exec(name);
  if (match === null) return undefined;
  const identity = parseExemplarFileName(match[1]!);
  return identity === undefined ? undefined : { identity, pid: Number(match[2]) };
}

/** An exemplar file, or a temporary name one is written under. */
export function isExemplarFileName(name: string): boolean {
  return parseExemplarFileName(name) !== undefined || parseExemplarTemporaryName(name) !== undefined;
}

function encodeNumber(value: number): number | string {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

function decodeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === '+Inf') return Infinity;
  if (value === '-Inf') return -Infinity;
  return undefined;
}

/** The bytes of a file holding these exemplars. Timestamps must be finite (the writer checks). */
export function encodeExemplarFile(exemplars: Iterable<readonly [string, Exemplar]>): Buffer {
  const lines: string[] = [];
  for (const [key, { labels, value, timestamp }] of exemplars) {
    lines.push(JSON.stringify([key, Object.entries(labels), encodeNumber(value), timestamp]));
  }
  return Buffer.from(
    `{"format":${JSON.stringify(EXEMPLAR_FORMAT)},"version":${EXEMPLAR_FORMAT_VERSION},"exemplars":[\n${lines.join(',\n')}\n]}\n`,
    'utf8',
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The exemplars of one file, by entry key. Throws an ExemplarFileError for anything but a
 * whole, well-formed file of this format (a file is written whole, so a part is never used).
 */
export function decodeExemplarFile(bytes: Uint8Array): Map<string, Exemplar> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ExemplarFileError('it is not UTF-8 text');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ExemplarFileError(`it is not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || (parsed as { format?: unknown }).format !== EXEMPLAR_FORMAT) {
    throw new ExemplarFileError(`it is not a ${EXEMPLAR_FORMAT} file`);
  }
  const { version, exemplars } = parsed as { version?: unknown; exemplars?: unknown };
  if (version !== EXEMPLAR_FORMAT_VERSION) {
    throw new ExemplarFileError(`its format version is ${JSON.stringify(version)}; this reader knows version ${EXEMPLAR_FORMAT_VERSION}`);
  }
  if (!Array.isArray(exemplars)) throw new ExemplarFileError('its "exemplars" is not an array');
  const result = new Map<string, Exemplar>();
  exemplars.forEach((item: unknown, index) => {
    const [key, exemplar] = decodeItem(item, index);
    const earlier = result.get(key);
    if (earlier === undefined || exemplar.timestamp > earlier.timestamp) result.set(key, exemplar);
  });
  return result;
}

function decodeItem(item: unknown, index: number): [string, Exemplar] {
  const bad = (what: string) => new ExemplarFileError(`exemplar ${index}: ${what}`);
  if (!Array.isArray(item) || item.length !== 4) throw bad('is not a 4-element array');
  const [key, pairs, rawValue, timestamp] = item as unknown[];
  if (typeof key !== 'string') throw bad('its entry key is not a string');
  if (!Array.isArray(pairs)) throw bad('its labels are not an array of pairs');
  const entries: [string, string][] = [];
  for (const pair of pairs as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw bad('a label is not a [name, value] pair of strings');
    }
    entries.push([pair[0], pair[1]]);
  }
  const value = decodeNumber(rawValue);
  if (value === undefined) throw bad('its value is not a number');
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw bad('its timestamp is not a finite number');
  // fromEntries defines each label as its own property: a label named __proto__ stays a label.
  return [key, { labels: Object.fromEntries(entries), value, timestamp }];
}
