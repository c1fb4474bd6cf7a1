// A merged family as prom-client's object: what every registry that serves the merge renders.

import type { MetricObject, MetricValue } from './exposition.js';
import type { MetricFamily } from './merge.js';
import { parsePythonFloat } from '../format/pythonFloat.js';

/** How a histogram's `le` is written: Python's float text (`1.0`) or prom-client's number text (`1`). */
export type BoundStyle = 'python' | 'prom-client';

function promClientBound(le: string): string {
  const bound = parsePythonFloat(le);
  return bound === Infinity ? '+Inf' : `${bound}`;
}

/**
 * A merged family as prom-client's object, under the names Python's collector gives it (a
 * counter's family is named with `_total`, which prom-client's OpenMetrics output moves to
 * the samples).
 */
export function familyObject(family: MetricFamily, bounds: BoundStyle = 'python'): MetricObject {
  const name = family.type === 'counter' ? `${family.name}_total` : family.name;
  const values: MetricValue[] = family.samples.map((sample) => {
    const labels = bounds === 'prom-client' && family.type === 'histogram' && sample.labels.le !== undefined
      ? { ...sample.labels, le: promClientBound(sample.labels.le) }
      : sample.labels;
    const value: MetricValue = { labels, value: sample.value };
    if (sample.name !== name) value.metricName = sample.name;
    return value;
  });
  return { name, help: family.help, type: family.type, values, aggregator: 'sum' };
}
