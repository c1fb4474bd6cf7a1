// The key of every entry is `json.dumps([metric_name, sample_name, labels, help], sort_keys=True)`
// as Python writes it. JSON.stringify differs (it keeps non-ASCII as is, writes no spaces after
// separators, and escapes DEL differently), and a key that differs by one byte is a different
// series to a Python reader, so the encoding is done here by hand.

const HEX = '0123456789abcdef';

/** A string as Python's json.dumps writes it with ensure_ascii=True (the default). */
export function pythonJsonString(text: string): string {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // Printable ASCII other than `"` and `\` is copied as is, in runs.
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    out += text.slice(runStart, i) + escapeCodeUnit(code);
    runStart = i + 1;
  }
  return out + text.slice(runStart) + '"';
}

function escapeCodeUnit(code: number): string {
  switch (code) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    default:
      // Everything else, astral characters included, is one \uXXXX per UTF-16 code unit;
      // a JavaScript string already holds astral characters as surrogate pairs, as Python writes them.
      return `\\u${HEX[(code >> 12) & 15]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`;
  }
}

/**
 * The entry key for one series. `labelNames` and `labelValues` are parallel; the labels are
 * written sorted by name, as sort_keys=True does.
 */
export function entryKey(
  metricName: string,
  sampleName: string,
  labelNames: readonly string[],
  labelValues: readonly string[],
  help: string,
): string {
  const order = labelNames.map((_, i) => i).sort((a, b) => compareCodePoints(labelNames[a]!, labelNames[b]!));
  const labels = order
    .map((i) => `${pythonJsonString(labelNames[i]!)}: ${pythonJsonString(labelValues[i]!)}`)
    .join(', ');
  return `[${pythonJsonString(metricName)}, ${pythonJsonString(sampleName)}, {${labels}}, ${pythonJsonString(help)}]`;
}

/** What every entry key of the metric `metricName` starts with (reset() finds its entries by it). */
export function metricKeyPrefix(metricName: string): string {
  return `[${pythonJsonString(metricName)}, `;
}

/** The metric name an entry key starts with (see metricKeyPrefix): a valid name has nothing escaped. */
export function metricNameOfKey(key: string): string {
  return key.slice(2, key.indexOf('"', 2));
}

/** Python compares strings by code point; label names are ASCII, but keep the rule exact. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done) return cb.done ? 0 : -1;
    if (cb.done) return 1;
    const diff = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

export interface ParsedKey {
  metricName: string;
  sampleName: string;
  labels: Record<string, string>;
  help: string;
}

/** Reads a key back. Throws a SyntaxError or TypeError that the caller turns into a file error. */
export function parseEntryKey(key: string): ParsedKey {
  const parsed: unknown = JSON.parse(key);
  if (!Array.isArray(parsed) || parsed.length !== 4) {
    throw new TypeError('key is not a 4-element JSON array');
  }
  const [metricName, sampleName, labels, help] = parsed as unknown[];
  if (typeof metricName !== 'string' || typeof sampleName !== 'string' || typeof help !== 'string') {
    throw new TypeError('key names or help are not strings');
  }
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new TypeError('key labels are not a JSON object');
  }
  // No prototype, so a label named "__proto__" stays a label.
  const stringLabels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(labels)) {
    if (typeof value !== 'string') throw new TypeError(`label ${name} is not a string`);
    stringLabels[name] = value;
  }
  return { metricName, sampleName, labels: stringLabels, help };
}
