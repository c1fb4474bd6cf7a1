import type * as Util from 'node:util';
import { builtin } from '../common/builtins.js';
import { MetricConfigurationError } from '../common/errors.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function checkMetricName(name: unknown): string {
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) {
    throw new MetricConfigurationError(
      `invalid metric name ${JSON.stringify(name)}: it must match ${METRIC_NAME.source} (letters, digits, '_' and ':', not starting with a digit)`,
    );
  }
  return name;
}

export function checkHelp(metricName: string, help: unknown): string {
  if (typeof help !== 'string') {
    throw new MetricConfigurationError(`metric ${metricName} needs a help text (the "help" option, a string)`);
  }
  return help;
}

export function checkLabelNames(metricName: string, labelNames: unknown, reserved: readonly string[]): string[] {
  if (labelNames === undefined) return [];
  if (!Array.isArray(labelNames)) {
    throw new MetricConfigurationError(`labelNames of ${metricName} must be an array of strings`);
  }
  const seen = new Set<string>();
  for (const label of labelNames as unknown[]) {
    if (typeof label !== 'string' || !LABEL_NAME.test(label)) {
      throw new MetricConfigurationError(`invalid label name ${JSON.stringify(label)} in ${metricName}: it must match ${LABEL_NAME.source}`);
    }
    if (label.startsWith('__')) {
      throw new MetricConfigurationError(`label name ${label} in ${metricName} starts with "__", which Prometheus reserves`);
    }
    if (reserved.includes(label)) {
      throw new MetricConfigurationError(`label name ${label} is reserved in ${metricName}: ${reservedReason(label)}`);
    }
    if (seen.has(label)) throw new MetricConfigurationError(`label name ${label} appears twice in ${metricName}`);
    seen.add(label);
  }
  return [...(labelNames as string[])];
}

function reservedReason(label: string): string {
  switch (label) {
    case 'le': return 'histograms use it for bucket bounds';
    case 'quantile': return 'summaries use it for quantiles';
    case 'pid': return 'the multiprocess merge adds it to gauges to tell processes apart';
    default: return 'the library uses it';
  }
}

/** A label value as it is stored: a string (numbers are accepted and converted, as prom-client does). */
export function labelValue(metricName: string, label: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  throw new MetricConfigurationError(
    `label ${label} of ${metricName} has ${value === undefined ? 'no value' : `a value of type ${typeof value}`}; label values must be strings or numbers`,
  );
}

export function checkBuckets(metricName: string, buckets: unknown): number[] {
  if (!Array.isArray(buckets) || buckets.length === 0) {
    throw new MetricConfigurationError(`buckets of ${metricName} must be a non-empty array of numbers`);
  }
  const bounds = (buckets as unknown[]).map((bound) => {
    if (typeof bound !== 'number' || Number.isNaN(bound)) {
      throw new MetricConfigurationError(`bucket bound ${JSON.stringify(bound)} of ${metricName} is not a number`);
    }
    return bound;
  });
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i - 1]! < bounds[i]!)) {
      throw new MetricConfigurationError(`buckets of ${metricName} must be strictly increasing; ${bounds[i - 1]} comes before ${bounds[i]}`);
    }
  }
  if (bounds[bounds.length - 1] !== Infinity) bounds.push(Infinity);
  if (bounds.length < 2) throw new MetricConfigurationError(`${metricName} needs at least one finite bucket bound`);
  return bounds;
}

/**
 * A rejected value or delta, in prom-client's words ("Value is not a valid number: ...") after
 * the metric's name; a string is shown quoted, so "5" does not read as the number 5.
 */
export function invalidNumber(metricName: string, what: 'Value' | 'Delta', value: unknown, rule: string): MetricConfigurationError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : builtin<typeof Util>('node:util').inspect(value, { depth: 1, breakLength: Infinity });
  return new MetricConfigurationError(`${metricName}: ${what} is not a valid number: ${shown}${rule === '' ? '' : `; ${rule}`}`);
}
