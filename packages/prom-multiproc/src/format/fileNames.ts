// File names carry the metric type, the gauge mode and the process identity:
// counter_<id>.db, histogram_<id>.db, summary_<id>.db, gauge_<mode>_<id>.db.
// Python's collector splits them on `_`, so an identity must not contain one.

export const GAUGE_MODES = [
  'all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum', 'mostrecent', 'livemostrecent',
] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** Which file a series lives in: the type, plus the mode for gauges. */
export type FileKind = 'counter' | 'histogram' | 'summary' | `gauge_${GaugeMode}`;

export interface ParsedFileName {
  type: MetricType;
  /** Set for gauges only. */
  mode?: GaugeMode;
  kind: FileKind;
  id: string;
}

const GAUGE_MODE_SET: ReadonlySet<string> = new Set(GAUGE_MODES);
const IDENTITY_PATTERN = /^[A-Za-z0-9.:@+=-]+$/;

export function isGaugeMode(mode: string): mode is GaugeMode {
  return GAUGE_MODE_SET.has(mode);
}

export function isLiveMode(mode: GaugeMode): boolean {
  return mode.startsWith('live');
}

export function fileKindOf(type: MetricType, mode?: GaugeMode): FileKind {
  return type === 'gauge' ? `gauge_${mode ?? 'all'}` : type;
}

export function fileNameOf(kind: FileKind, id: string): string {
  return `${kind}_${id}.db`;
}

/** Why an identity cannot name a file, or undefined when it can. */
export function identityProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (id.includes('_')) return "it contains '_', which Python's collector uses to split file names";
  if (!IDENTITY_PATTERN.test(id)) return 'it may hold only letters, digits and . : @ + = -';
  return undefined;
}

/** Why a process cannot write under this identity: the name rules, and `archive<N>` is compaction's. */
export function writerIdentityProblem(id: string): string | undefined {
  if (/^archive\d*$/.test(id)) return 'identities "archive" and "archive<N>" name the archives of compacted processes';
  return identityProblem(id);
}

/** The parts of one of our file names, or undefined for any other file (which is then ignored). */
export function parseFileName(name: string): ParsedFileName | undefined {
  if (!name.endsWith('.db')) return undefined;
  const parts = name.slice(0, -3).split('_');
  const [type, second, third] = parts;
  if (type === 'gauge') {
    if (parts.length !== 3 || second === undefined || third === undefined || !isGaugeMode(second)) return undefined;
    if (identityProblem(third) !== undefined) return undefined;
    return { type, mode: second, kind: `gauge_${second}`, id: third };
  }
  if (type === 'counter' || type === 'histogram' || type === 'summary') {
    if (parts.length !== 2 || second === undefined || identityProblem(second) !== undefined) return undefined;
    return { type, kind: type, id: second };
  }
  return undefined;
}

// A new metrics file is written under `<file>.<pid>-<8 hex>.tmp` (the creator's pid) and
// linked into place; no collector reads the name, and a creator killed before it unlinked it
// leaves it behind.
const TEMPORARY_NAME = /^(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

/** The temporary name a process writes `file` under before it links it into place. */
export function temporaryNameOf(file: string, pid: number, nonce: string): string {
  return `${file}.${pid}-${nonce}.tmp`;
}

/** The metrics file name and creator pid of a temporary name of ours, or undefined for any other name. */
export function parseTemporaryName(name: string): { target: string; pid: number } | undefined {
  const match = TEMPORARY_NAME.exec(name);
  if (match === null || parseFileName(match[1]!) === undefined) return undefined;
  return { target: match[1]!, pid: Number(match[2]) };
}
