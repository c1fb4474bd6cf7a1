// prom-client's validateMetricName: whether a name is a valid Prometheus metric name.
// (validation.ts checks and throws for our own metrics; this only answers.)

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function validateMetricName(name: string): boolean {
  // RegExp.test turns a non-string into a string, as prom-client's does (undefined passes as 'undefined').
  return METRIC_NAME.test(name);
}
