// Bucket bounds end up in keys as text, so the text must be Python's to the byte: spot values
// at the edges of each notation, and real Python 3 on a couple of thousand generated doubles.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { floatToGoString, pythonFloatRepr } from './pythonFloat.js';

describe('pythonFloatRepr', () => {
  const cases: [number, string][] = [
    [1, '1.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [0.005, '0.005'],
    [0.1, '0.1'],
    [1 / 3, '0.3333333333333333'],
    [-1.5, '-1.5'],
    [100, '100.0'],
    [12345.678, '12345.678'],
    // Positional from 1e-4 up to (not including) 1e16.
    [0.0001, '0.0001'],
    [0.00012, '0.00012'],
    [1e-5, '1e-05'],
    [2.5e-5, '2.5e-05'],
    [1.5e-7, '1.5e-07'],
    [1e15, '1000000000000000.0'],
    [9999999999999998, '9999999999999998.0'],
    [2 ** 53, '9007199254740992.0'],
    [1e16, '1e+16'],
    [123456789012345680, '1.2345678901234568e+17'],
    [1e22, '1e+22'],
    [-1e16, '-1e+16'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ];
  for (const [value, text] of cases) {
    it(`writes ${text}`, () => assert.equal(pythonFloatRepr(value), text));
  }
});

describe('floatToGoString', () => {
  const cases: [number, string][] = [
    [1e7, '1e+07'],
    [1.5e8, '1.5e+08'],
    [1234567, '1.234567e+06'],
    [12345678.9, '1.23456789e+07'],
    // Six digits before the point stay positional; 1e6 has seven.
    [999999, '999999.0'],
    [999999.5, '999999.5'],
    [1e6, '1e+06'],
    [1000000.5, '1.0000005e+06'],
    // The reference writes "e+0" and then the exponent, so two-digit exponents get three digits.
    [1e10, '1e+010'],
    [2.5e15, '2.5e+015'],
    // From 1e16 on, repr is already in exponent form and is kept.
    [1e16, '1e+16'],
    // Only positive values change.
    [-1e7, '-10000000.0'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
    [0.005, '0.005'],
    [1, '1.0'],
    [0, '0.0'],
  ];
  for (const [value, text] of cases) {
    it(`writes ${text}`, () => assert.equal(floatToGoString(value), text));
  }
});

// The bound rule written from its description (the reference client is not installed):
// repr, except the specials, and a positive number with seven or more digits before the
// point moved to exponent form with "e+0" in front of the exponent.
const PYTHON_FLOATS = `
import json, math, struct, sys

def go_string(x):
    if math.isnan(x):
        return 'NaN'
    if math.isinf(x):
        return '+Inf' if x > 0 else '-Inf'
    text = repr(x)
    point = text.find('.')
    if x <= 0 or point <= 6:
        return text
    digits = (text[:point] + text[point + 1:]).rstrip('0')
    mantissa = digits[0] + ('.' + digits[1:] if len(digits) > 1 else '')
    return mantissa + 'e+0' + str(point - 1)

values = [struct.unpack('<d', bytes.fromhex(bits))[0] for bits in json.loads(sys.stdin.read())]
sys.stdout.write(json.dumps([[repr(x), go_string(x)] for x in values]))
`;

/** The exact bits, since JSON loses -0, NaN and the infinities. */
function bitsOf(value: number): string {
  const buffer = Buffer.alloc(8);
  buffer.writeDoubleLE(value);
  return buffer.toString('hex');
}

const interestingDouble = fc.oneof(
  fc.double(),
  fc.double({ min: 1e5, max: 1e17, noNaN: true }),
  fc.double({ min: 1e-6, max: 1e-3, noNaN: true }),
  fc.integer({ min: -400, max: 400 }).map((exponent) => Number(`1e${exponent}`)),
  fc.tuple(fc.integer({ min: 1, max: 99999 }), fc.integer({ min: -12, max: 20 })).map(([digits, exponent]) => Number(`${digits}e${exponent}`)),
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }),
  fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 5e-324, Number.MAX_VALUE, Number.EPSILON, 1e16 - 2, 1e16, 1e-4, 9.999999999999999e-5),
);

describe('pythonFloatRepr and floatToGoString against Python', () => {
  it('match repr() and the bound rule on 2000 generated doubles', () => {
    const values = fc.sample(interestingDouble, { numRuns: 2000, seed: 42 });
    const result = spawnSync('python3', ['-c', PYTHON_FLOATS], { input: JSON.stringify(values.map(bitsOf)), encoding: 'utf8' });
    if (result.error !== undefined) {
      assert.fail(`could not run python3 (${result.error.message}); the differential test needs Python 3 on PATH`);
    }
    assert.equal(result.status, 0, `python3 failed: ${result.stderr}`);
    const expected = JSON.parse(result.stdout) as [string, string][];
    assert.equal(expected.length, values.length);
    const mismatches = values.flatMap((value, i) => {
      const ours = [pythonFloatRepr(value), floatToGoString(value)];
      return ours[0] === expected[i]![0] && ours[1] === expected[i]![1] ? [] : [{ bits: bitsOf(value), ours, python: expected[i] }];
    });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${values.length} differ from Python`);
  });
});
