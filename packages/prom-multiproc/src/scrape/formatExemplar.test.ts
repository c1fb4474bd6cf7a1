import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkExemplarLabels } from '../metrics/exemplarRules.js';
import { formatExemplar } from './formatExemplar.js';

describe('formatExemplar', () => {
  it('writes labels in their order, the value and the timestamp in seconds', () => {
    assert.equal(formatExemplar({ labels: { trace_id: 'abc', span_id: 'x' }, value: 1, timestamp: 1700000000.123 }), ' # {trace_id="abc",span_id="x"} 1 1700000000.123');
    assert.equal(formatExemplar({ labels: {}, value: 0.25, timestamp: 1700000000 }), ' # {} 0.25 1700000000');
  });

  it('escapes label values as a sample\'s, and writes NaN and infinities as OpenMetrics spells them', () => {
    assert.equal(formatExemplar({ labels: { a: 'q"b\\s\nn' }, value: NaN, timestamp: 1 }), ' # {a="q\\"b\\\\s\\nn"} NaN 1');
    assert.equal(formatExemplar({ labels: {}, value: Infinity, timestamp: 1 }), ' # {} +Inf 1');
    assert.equal(formatExemplar({ labels: {}, value: -Infinity, timestamp: 1 }), ' # {} -Inf 1');
  });
});

describe('checkExemplarLabels', () => {
  it('allows 128 characters of names and values together, and throws a RangeError past them', () => {
    checkExemplarLabels({ trace_id: 'x'.repeat(120) });
    checkExemplarLabels({});
    assert.throws(() => checkExemplarLabels({ trace_id: 'x'.repeat(121) }), RangeError);
    assert.throws(() => checkExemplarLabels({ a: 'x'.repeat(60), b: 'y'.repeat(67) }), /129 characters/);
  });
});
