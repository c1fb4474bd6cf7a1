// prom-client's metric aggregators: how the samples of one metric, taken from several
// registries (one per cluster worker, as getMetricsAsJSON gives them), become one metric.
// Samples are grouped by sample name and label set; each group gives one sample, with the
// labels of its first member and no timestamp or exemplar, in the order groups first appear.

export type AggregatorName = 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average';

/** One sample as getMetricsAsJSON gives it. */
export interface SampleJson {
  value: number;
  labels: Readonly<Record<string, string | number | undefined>>;
  /** A histogram's or summary's sample name (`x_bucket`, `x_sum`, ...). */
  metricName?: string;
}

/** One metric as getMetricsAsJSON gives it (its `type` is kept as it comes). */
export interface MetricJson {
  name: string;
  help: string;
  type: unknown;
  aggregator?: string;
  values: readonly SampleJson[];
}

export interface AggregatedSample {
  value: number;
  labels: SampleJson['labels'];
  metricName?: string;
}

export interface AggregatedMetric<M extends MetricJson = MetricJson> {
  help: string;
  name: string;
  type: M['type'];
  values: AggregatedSample[];
  aggregator: M['aggregator'];
}

/** The same metric from several registries, as one; undefined leaves the metric out. */
export type Aggregator = <M extends MetricJson>(metrics: readonly M[]) => AggregatedMetric<M> | undefined;

/** An aggregator that applies `combine` to each group of samples (same name, same labels). */
export function AggregatorFactory(combine: (samples: SampleJson[]) => number): Aggregator {
  return <M extends MetricJson>(metrics: readonly M[]): AggregatedMetric<M> | undefined => {
    const first = metrics[0];
    if (first === undefined) return undefined;
    const groups = new Map<string, SampleJson[]>();
    for (const metric of metrics) {
      for (const sample of metric.values) {
        const key = sampleKey(sample);
        const group = groups.get(key);
        if (group === undefined) groups.set(key, [sample]);
        else group.push(sample);
      }
    }
    const values: AggregatedSample[] = [];
    for (const group of groups.values()) {
      const head = group[0]!;
      const aggregated: AggregatedSample = { value: combine(group), labels: head.labels };
      if (head.metricName) aggregated.metricName = head.metricName;
      values.push(aggregated);
    }
    return { help: first.help, name: first.name, type: first.type, values, aggregator: first.aggregator };
  };
}

/**
 * Which group a sample belongs to: its name and its labels in name order, values as strings
 * (1 and '1' are one series), labels whose value is undefined left out, as prom-client groups
 * them. Unlike prom-client's key, no label value can make two different label sets collide
 * (`{a: '1,b:2'}` and `{a: '1', b: '2'}` stay apart).
 */
function sampleKey(sample: SampleJson): string {
  const pairs: string[] = [];
  for (const name of Object.keys(sample.labels).sort()) {
    const value = sample.labels[name];
    if (value !== undefined) pairs.push(name, String(value));
  }
  return JSON.stringify([sample.metricName ?? null, ...pairs]);
}

export const aggregators: Record<AggregatorName, Aggregator> = {
  sum: AggregatorFactory((samples) => samples.reduce((total, sample) => total + sample.value, 0)),
  first: AggregatorFactory((samples) => samples[0]!.value),
  omit: () => undefined,
  average: AggregatorFactory((samples) => samples.reduce((total, sample) => total + sample.value, 0) / samples.length),
  min: AggregatorFactory((samples) => samples.reduce((least, sample) => Math.min(least, sample.value), Infinity)),
  max: AggregatorFactory((samples) => samples.reduce((most, sample) => Math.max(most, sample.value), -Infinity)),
};
