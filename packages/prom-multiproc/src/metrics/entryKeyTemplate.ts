import { entryKey, pythonJsonString } from '../format/pythonJson.js';
import type { EntryKeySource } from '../storage/store.js';

/**
 * The entry keys of one sample of a metric (its name, label names and help fixed), for any label
 * values. The text around the values is learnt once from entryKey itself, with a marker in place
 * of each value, so a key is a single join of that text and the values' JSON: one flat string,
 * where entryKey sorts the label names and builds the key from many small pieces each time (a
 * few KB of garbage per key, and a tree of pieces the store would keep).
 */
export class EntryKeyTemplate implements EntryKeySource<readonly string[]> {
  /** The fixed text before each value, and after the last one. */
  private readonly pieces: readonly string[] | undefined;
  /** For each value in the key, its index among the label values (the key sorts them by name). */
  private readonly order: readonly number[] = [];
  private lastValues: Map<string, EntryKeySource<readonly string[]>> | undefined;

  constructor(
    private readonly metricName: string,
    private readonly sampleName: string,
    readonly labelNames: readonly string[],
    private readonly help: string,
  ) {
    const markers = labelNames.map((_, i) => pythonJsonString(`\u0001${i}\u0001`));
    const key = entryKey(metricName, sampleName, labelNames, labelNames.map((_, i) => `\u0001${i}\u0001`), help);
    const found = markers.map((marker, i) => ({ at: key.indexOf(marker), length: marker.length, label: i }));
    // A marker that is not found once and only once (a help text that holds one) leaves the
    // template unused: keys are then entryKey's own.
    if (found.some(({ at }, i) => at < 0 || key.indexOf(markers[i]!, at + 1) >= 0)) return;
    found.sort((a, b) => a.at - b.at);
    const pieces: string[] = [];
    let from = 0;
    for (const { at, length } of found) {
      pieces.push(key.slice(from, at));
      from = at + length;
    }
    pieces.push(key.slice(from));
    this.pieces = pieces;
    this.order = found.map(({ label }) => label);
  }

  /** The keys of this template whose last label has `value`, from the values of the others (a bucket's, by its le). */
  withLastValue(value: string): EntryKeySource<readonly string[]> {
    this.lastValues ??= new Map();
    let source = this.lastValues.get(value);
    if (source === undefined) {
      source = { keyOf: (values) => this.keyOf([...values, value]) };
      this.lastValues.set(value, source);
    }
    return source;
  }

  /** entryKey(metricName, sampleName, labelNames, values, help), for values in labelNames order. */
  keyOf(values: readonly string[]): string {
    const pieces = this.pieces;
    if (pieces === undefined) return flatString(entryKey(this.metricName, this.sampleName, this.labelNames, values, this.help));
    const parts: string[] = [pieces[0]!];
    for (let i = 0; i < this.order.length; i++) parts.push(pythonJsonString(values[this.order[i]!]!), pieces[i + 1]!);
    return parts.join('');
  }
}

/**
 * The same text as one flat string: a store keeps every key for as long as its series lives,
 * and a key built by concatenation is a tree of its pieces, several times its length. Entry
 * keys are ASCII (Python's json.dumps escapes the rest), so UTF-8 round-trips them.
 */
export function flatString(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
