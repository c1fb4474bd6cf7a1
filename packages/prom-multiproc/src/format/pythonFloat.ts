// Python's float formatting, which the reference client writes into keys (the `le` label of
// histogram buckets) and which its collector shows. JavaScript and Python both print the
// shortest digits that round-trip; they differ only in where they switch to exponent form and
// in how they write it.

import { FileFormatError } from './format.js';

/** Python's `repr(float)`: `1.0`, `0.005`, `2.5e-05`, `1e+16`, `inf`, `nan`. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';

  const sign = x < 0 ? '-' : '';
  // toExponential() without a precision gives the shortest round-trip digits, like repr.
  const [mantissa = '', exponentText = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);

  // repr uses positional notation for decimal exponents -4 <= e < 16.
  if (exponent < -4 || exponent >= 16) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exponent < 0 ? '-' : '+';
    const expDigits = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${digits[0]}${fraction}e${expSign}${expDigits}`;
  }
  if (exponent < 0) {
    return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  }
  const integerDigits = exponent + 1;
  if (digits.length <= integerDigits) {
    return `${sign}${digits.padEnd(integerDigits, '0')}.0`;
  }
  return `${sign}${digits.slice(0, integerDigits)}.${digits.slice(integerDigits)}`;
}

/**
 * The reference client's `floatToGoString`: the text of a bucket bound in the `le` label.
 * Python's repr, except `+Inf`/`-Inf`/`NaN`, and positive values with more than six digits
 * before the point in Go's exponent form (`1e+07`, `1.5e+08`), except that the exponent always
 * follows `e+0` (`1e+010`), as in the reference.
 */
export function floatToGoString(x: number): string {
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (Number.isNaN(x)) return 'NaN';
  const repr = pythonFloatRepr(x);
  const dot = repr.indexOf('.');
  if (x > 0 && dot > 6) {
    const mantissa = `${repr[0]}.${repr.slice(1, dot)}${repr.slice(dot + 1)}`.replace(/[0.]+$/, '');
    return `${mantissa}e+0${dot - 1}`;
  }
  return repr;
}

/** Python's float(): also accepts inf, +Inf, -inf, nan in any case. */
export function parsePythonFloat(text: string): number {
  const trimmed = text.trim();
  const lower = trimmed.toLowerCase();
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (trimmed === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) {
    throw new FileFormatError(`"${text}" is not a number`);
  }
  return Number(trimmed);
}
