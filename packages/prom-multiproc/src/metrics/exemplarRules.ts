// What a metric checks before it records an exemplar, as prom-client 15 does, so that code
// moving from it meets the same errors.

/**
 * OpenMetrics allows an exemplar 128 characters of label names and values together, and
 * Prometheus refuses a scrape with a longer one. prom-client counts UTF-16 code units, which
 * is never less than what Prometheus counts (code points), so a set it accepts is never refused.
 */
export const EXEMPLAR_LABELS_MAX_CHARS = 128;

/** Throws a RangeError when the names and values of `labels` are longer than the limit together. */
export function checkExemplarLabels(labels: Readonly<Record<string, string | number>>): void {
  let length = 0;
  for (const [name, value] of Object.entries(labels)) length += name.length + String(value).length;
  if (length > EXEMPLAR_LABELS_MAX_CHARS) {
    throw new RangeError(
      `exemplar labels have ${length} characters of names and values; OpenMetrics allows at most ${EXEMPLAR_LABELS_MAX_CHARS}`,
    );
  }
}
