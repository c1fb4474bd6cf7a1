import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as promClient from 'prom-client';
import { validateMetricName } from './validateMetricName.js';

describe('validateMetricName', () => {
  it('accepts letters, digits, _ and : not starting with a digit', () => {
    for (const name of ['a', '_', ':', 'http_requests_total', 'job:rate5m', 'A9_:z']) assert.equal(validateMetricName(name), true, name);
  });

  it('rejects empty names, a leading digit and other characters', () => {
    for (const name of ['', '9a', 'a-b', 'a.b', 'a b', 'é', 'a\n']) assert.equal(validateMetricName(name), false, JSON.stringify(name));
  });

  it('answers as prom-client does, strings and non-strings alike', () => {
    const values = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'Z', '_', ':', '0', '9', '-', ' ', '\n', '.', 'é') }),
      fc.string(),
      fc.constantFrom<unknown>(undefined, null, 0, 12, true, {}, ['a']),
    );
    fc.assert(fc.property(values, (name) => {
      assert.equal(validateMetricName(name as string), promClient.validateMetricName(name as string));
    }), { numRuns: 3000 });
  });
});
