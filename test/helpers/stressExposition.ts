// A strict reader of the two exposition formats, for tests that must know a scrape is
// well-formed and not merely that it contains some line: every line has to be a HELP, TYPE,
// sample (or, in OpenMetrics, the final # EOF), every sample has to belong to the family
// announced before it, and escapes are undone exactly as Prometheus undoes them.
//
//   text 0.0.4   HELP escapes \\ and \n; label values \\ \" \n; blank lines allowed
//   OpenMetrics  HELP and label values escape \\ \" \n; no blank lines; ends with "# EOF\n"

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

export type ExpositionFormat = 'text' | 'openmetrics';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset', 'gaugehistogram']);
const SUFFIXES: Record<string, string[]> = {
  counter: ['_total', '_created', ''],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['_sum', '_count', '_created', ''],
};

export class ExpositionError extends Error {
  override name = 'ExpositionError';
}

function unescape(text: string, quoteEscaped: boolean, where: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = text[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else if (next === '"' && quoteEscaped) out += '"';
    else throw new ExpositionError(`${where}: invalid escape \\${next ?? '(end)'}`);
  }
  return out;
}

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ExpositionError(`${where}: "${text}" is not a sample value`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `start` (the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = start + 1;
  if (line[i] === '}') return { labels, end: i + 1 };
  for (;;) {
    const name = LABEL_NAME.exec(line.slice(i))?.[0];
    if (name === undefined) throw new ExpositionError(`${where}: expected a label name at column ${i}`);
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new ExpositionError(`${where}: expected =" after label ${name}`);
    i += 2;
    let raw = '';
    while (i < line.length && line[i] !== '"') {
      if (line[i] === '\\') raw += line[i++];
      raw += line[i++] ?? '';
    }
    if (line[i] !== '"') throw new ExpositionError(`${where}: unterminated value of label ${name}`);
    i++;
    if (name in labels) throw new ExpositionError(`${where}: label ${name} appears twice`);
    labels[name] = unescape(raw, true, `${where}, label ${name}`);
    if (line[i] === '}') return { labels, end: i + 1 };
    if (line[i] !== ',') throw new ExpositionError(`${where}: expected , or } after label ${name}`);
    i++;
  }
}

function belongsTo(family: ParsedFamily, sampleName: string): boolean {
  const suffixes = SUFFIXES[family.type] ?? [''];
  return suffixes.some((suffix) => sampleName === family.name + suffix);
}

/** Every family of an exposition; throws ExpositionError naming the line of the first fault. */
export function parseExposition(body: string, format: ExpositionFormat): ParsedFamily[] {
  if (!body.endsWith('\n')) throw new ExpositionError('the exposition does not end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (format === 'openmetrics') {
    if (lines.at(-1) !== '# EOF') throw new ExpositionError('OpenMetrics exposition does not end with # EOF');
    lines.pop();
  }
  const families: ParsedFamily[] = [];
  const seen = new Set<string>();
  let current: ParsedFamily | undefined;
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line.slice(0, 120))}`;
    if (line === '') {
      if (format === 'openmetrics') throw new ExpositionError(`${where}: blank line in OpenMetrics`);
      return;
    }
    const meta = /^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest = ''] = meta as unknown as [string, string, string, string | undefined];
      if (METRIC_NAME.exec(name)?.[0] !== name) throw new ExpositionError(`${where}: invalid metric name`);
      if (current?.name !== name) {
        if (seen.has(name)) throw new ExpositionError(`${where}: family ${name} appears twice`);
        seen.add(name);
        current = { name, type: 'untyped', help: '', samples: [] };
        families.push(current);
      }
      if (kind === 'HELP') current.help = unescape(rest, format === 'openmetrics', where);
      else if (!TYPES.has(rest)) throw new ExpositionError(`${where}: unknown type ${rest}`);
      else current.type = rest;
      return;
    }
    if (line.startsWith('#')) throw new ExpositionError(`${where}: unexpected comment`);
    const name = METRIC_NAME.exec(line)?.[0];
    if (name === undefined) throw new ExpositionError(`${where}: not a sample line`);
    let i = name.length;
    let labels: Record<string, string> = Object.create(null) as Record<string, string>;
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, where));
    if (line[i] !== ' ') throw new ExpositionError(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length > 2 || parts[0] === undefined) throw new ExpositionError(`${where}: unexpected text after the value`);
    const value = parseValue(parts[0], where);
    if (current === undefined || !belongsTo(current, name)) {
      throw new ExpositionError(`${where}: sample ${name} outside its family (current: ${current?.name ?? 'none'})`);
    }
    current.samples.push({ name, labels: { ...labels }, value });
  });
  return families;
}

/** `name{a="x",b="y"}` with labels sorted: one key per series, whatever the output order. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const pairs = Object.keys(labels).sort().map((label) => `${label}=${JSON.stringify(labels[label])}`);
  return `${name}{${pairs.join(',')}}`;
}

/** Every sample of the exposition by series key; a series given twice is an error. */
export function seriesValues(families: ParsedFamily[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const family of families) {
    for (const sample of family.samples) {
      const key = seriesKey(sample.name, sample.labels);
      if (values.has(key)) throw new ExpositionError(`series ${key} appears twice`);
      values.set(key, sample.value);
    }
  }
  return values;
}
