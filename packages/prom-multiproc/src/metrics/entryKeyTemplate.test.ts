// A template's keys must be entryKey's to the byte: a key that differs is another series.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { entryKey } from '../format/pythonJson.js';
import { EntryKeyTemplate, flatString } from './entryKeyTemplate.js';

// Texts with what JSON escapes (quotes, backslashes, controls, non-ASCII, astral) and the markers' own bytes.
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '"', '\\', '\u0001', '\u00010\u0001', '\u00011\u0001', 'é', '😀', 'le', '+Inf', 'a b'),
);
const labelName = fc.oneof(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/), fc.constantFrom('le', 'quantile', 'pid', 'Z', 'a'));

describe('EntryKeyTemplate', () => {
  it('makes the keys entryKey makes, for any names, values and help', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(labelName, { maxLength: 5 }).chain((names) =>
          fc.tuple(fc.constant(names), fc.array(fc.array(text, { minLength: names.length, maxLength: names.length }), { minLength: 1, maxLength: 4 })),
        ),
        text,
        ([names, valueSets], help) => {
          const template = new EntryKeyTemplate('metric_x', 'metric_x_bucket', names, help);
          for (const values of valueSets) {
            assert.equal(template.keyOf(values), entryKey('metric_x', 'metric_x_bucket', names, values, help));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('still makes entryKey\'s keys when the help text holds a marker', () => {
    const template = new EntryKeyTemplate('m', 'm_total', ['b', 'a'], 'see \u00010\u0001 and \u00011\u0001');
    assert.equal(template.keyOf(['x', 'y']), entryKey('m', 'm_total', ['b', 'a'], ['x', 'y'], 'see \u00010\u0001 and \u00011\u0001'));
  });

  it('orders the labels by name, as sort_keys does, whatever their order in labelNames', () => {
    const template = new EntryKeyTemplate('h', 'h_bucket', ['route', 'le', 'method'], 'Help.');
    assert.equal(template.keyOf(['/a', '0.5', 'GET']), '["h", "h_bucket", {"le": "0.5", "method": "GET", "route": "/a"}, "Help."]');
  });

  it('flatString keeps the text', () => {
    let built = '["a", ';
    for (let i = 0; i < 5; i++) built += `"${i}", `;
    assert.equal(flatString(built), built);
  });
});
