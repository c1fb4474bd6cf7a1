// The text of a scrape, from prom-client's metric objects ({ name, help, type, values }), in
// the Prometheus text format or OpenMetrics, written as prom-client 15 writes them so that a
// migrated application's output does not change. Two deliberate differences: NaN is written
// `NaN` (prom-client writes `Nan`, which OpenMetrics parsers reject), and an OpenMetrics HELP
// text has its `"` escaped, as that grammar requires.

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export type LabelSet = Record<string, string | number>;

export interface Exemplar {
  labelSet: LabelSet;
  value: number;
  timestamp: number;
}

/** One sample of a metric object, as prom-client's get() returns it. */
export interface MetricValue {
  value: number;
  labels?: LabelSet;
  /** The sample's name when it is not the metric's (`x_bucket`, `x_sum`, ...). */
  metricName?: string;
  exemplar?: Exemplar | null;
  /** prom-client's histograms keep a series' labels here, apart from `le`. */
  sharedLabels?: LabelSet;
}

export interface MetricObject {
  name: string;
  help: string;
  type: string;
  values: MetricValue[];
  aggregator?: string;
}

export interface RenderOptions {
  openMetrics: boolean;
  /** A registry's default labels: added to every sample that does not have them. */
  defaultLabels?: LabelSet;
}

/** Prometheus' number text, as prom-client writes it (except NaN, see above). */
export function valueText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return `${value}`;
}

function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(value: string | number): string {
  return typeof value === 'string' ? escapeText(value).replace(/"/g, '\\"') : `${value}`;
}

function labelPairs(labels: LabelSet, except?: LabelSet): string[] {
  const pairs: string[] = [];
  for (const name of Object.keys(labels)) {
    if (except !== undefined && Object.prototype.hasOwnProperty.call(except, name)) continue;
    pairs.push(`${name}="${escapeLabelValue(labels[name]!)}"`);
  }
  return pairs;
}

/** The name prom-client gives a counter's family in OpenMetrics: without `_total`. */
export function openMetricsCounterName(name: string): string {
  return name.endsWith('_total') ? name.slice(0, -6) : name;
}

/**
 * A histogram as prom-client's registry renders it (its getForPromString()): a bucket's `le` in
 * `labels`, the series' own labels in `sharedLabels`, so that default labels come between them.
 */
export function withSharedLabels(metric: MetricObject): MetricObject {
  if (metric.type !== 'histogram') return metric;
  const values = metric.values.map(({ labels = {}, ...value }): MetricValue => {
    const { le, ...shared } = labels;
    return { ...value, labels: le === undefined ? {} : { le }, sharedLabels: shared };
  });
  return { ...metric, values };
}

/** One metric's lines (HELP, TYPE, samples), without a trailing newline. */
export function renderMetric(metric: MetricObject, { openMetrics, defaultLabels }: RenderOptions): string {
  const isCounterInOpenMetrics = openMetrics && metric.type === 'counter';
  const name = escapeText(isCounterInOpenMetrics ? openMetricsCounterName(metric.name) : metric.name);
  const help = openMetrics ? escapeText(String(metric.help)).replace(/"/g, '\\"') : escapeText(String(metric.help));
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${metric.type}`];
  const hasDefaults = defaultLabels !== undefined && Object.keys(defaultLabels).length > 0;
  for (const sample of metric.values ?? []) {
    let sampleName = sample.metricName ?? name;
    if (isCounterInOpenMetrics) sampleName = `${sampleName}_total`;
    let labels = sample.labels ?? {};
    // The sample's own labels first, then the defaults it lacks (prom-client's order).
    if (hasDefaults) labels = { ...labels, ...defaultLabels, ...labels };
    const shared = sample.sharedLabels;
    const parts = labelPairs(labels, shared);
    if (shared !== undefined) parts.push(...labelPairs(shared));
    let line = parts.length > 0 ? `${sampleName}{${parts.join(',')}} ${valueText(sample.value)}` : `${sampleName} ${valueText(sample.value)}`;
    const exemplar = sample.exemplar;
    if (openMetrics && exemplar !== undefined && exemplar !== null) {
      line += ` # {${labelPairs(exemplar.labelSet).join(',')}} ${valueText(exemplar.value)} ${exemplar.timestamp}`;
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** A whole scrape from the metrics' rendered texts. */
export function joinMetrics(texts: readonly string[], openMetrics: boolean): string {
  return openMetrics ? `${texts.join('\n')}\n# EOF\n` : `${texts.join('\n\n')}\n`;
}
