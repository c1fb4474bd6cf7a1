// An exemplar as OpenMetrics writes it after its sample's value:
//   jobs_total{queue="a"} 3 # {trace_id="abc"} 1 1700000000.123
// Label values escaped as the sample's are; the value as prom-client writes values, except
// NaN as the grammar spells it; the timestamp in seconds, as JavaScript writes the number.

import type { Exemplar } from '../format/exemplarFormat.js';

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** ` # {labels} value timestamp`, to append to the sample's line. */
export function formatExemplar({ labels, value, timestamp }: Exemplar): string {
  const pairs = Object.entries(labels).map(([name, text]) => `${name}="${escapeLabelValue(text)}"`);
  return ` # {${pairs.join(',')}} ${numberText(value)} ${numberText(timestamp)}`;
}
