// Keys must be byte-identical to Python's json.dumps, or a Python reader sees another series.
// Three independent checks: an oracle written from the rule, real Python 3 on generated cases,
// and every key of the golden files written by the reference client.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fixturesDir } from '../../../../test/helpers/fixtures.js';
import { readEntries } from './format.js';
import { entryKey, parseEntryKey, pythonJsonString } from './pythonJson.js';

const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f',
};

function hex4(unit: number): string {
  return `\\u${unit.toString(16).padStart(4, '0')}`;
}

/** The rule, written per code point, independently of the implementation's per-unit loop. */
function oracle(text: string): string {
  let out = '"';
  for (const char of text) {
    const point = char.codePointAt(0)!;
    if (SHORT_ESCAPES[point] !== undefined) out += SHORT_ESCAPES[point];
    else if (point >= 0x20 && point < 0x7f) out += char;
    else if (point > 0xffff) {
      const offset = point - 0x10000;
      out += hex4(0xd800 + (offset >> 10)) + hex4(0xdc00 + (offset & 0x3ff));
    } else out += hex4(point); // lone surrogates land here too, as Python writes them
  }
  return `${out}"`;
}

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const trickyUnit = fc.constantFrom(
  '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\x00', '\x1f', '\x7f', '\x80', '\u00e9', '\u2028', '\u2029',
  '\ud800', '\udbff', '\udc00', '\udfff', '\uffff', '\u{1f600}', '\u{10ffff}', '\u{10000}', ' ', '~',
);
const controlOrSurrogate = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }).map((unit) => String.fromCharCode(unit)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
);
/** Printable ASCII, full Unicode, graphemes, arbitrary code units (lone surrogates), and mixes. */
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: anyCodeUnit }),
  fc.string({ unit: fc.oneof(trickyUnit, controlOrSurrogate, anyCodeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) }),
);

describe('pythonJsonString', () => {
  it('follows the escaping rule on any string (oracle)', () => {
    fc.assert(fc.property(anyText, (text) => pythonJsonString(text) === oracle(text)), { numRuns: 3000 });
  });

  it('follows the rule on strings of control characters and lone surrogates', () => {
    fc.assert(fc.property(fc.string({ unit: fc.oneof(controlOrSurrogate, trickyUnit) }), (text) => {
      assert.equal(pythonJsonString(text), oracle(text));
    }), { numRuns: 1000 });
  });

  it('reads back to the same string with JSON.parse', () => {
    fc.assert(fc.property(anyText, (text) => JSON.parse(pythonJsonString(text)) === text), { numRuns: 3000 });
  });

  it('writes printable ASCII only', () => {
    fc.assert(fc.property(anyText, (text) => /^[\x20-\x7e]*$/.test(pythonJsonString(text))), { numRuns: 3000 });
  });

  it('writes the examples as Python does', () => {
    assert.equal(pythonJsonString(''), '""');
    assert.equal(pythonJsonString('plain /path'), '"plain /path"');
    assert.equal(pythonJsonString('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(pythonJsonString('\n\r\t\b\f'), '"\\n\\r\\t\\b\\f"');
    assert.equal(pythonJsonString('\x00\x01\x1f\x7f'), '"\\u0000\\u0001\\u001f\\u007f"');
    assert.equal(pythonJsonString('\u00fc\u65e5\u2028'), '"\\u00fc\\u65e5\\u2028"');
    assert.equal(pythonJsonString('\u{1f600}'), '"\\ud83d\\ude00"');
    assert.equal(pythonJsonString('x\ud800y'), '"x\\ud800y"');
  });
});

describe('entryKey', () => {
  it('writes the separators of json.dumps and sorts label names', () => {
    assert.equal(entryKey('c', 'c_total', ['b', 'a'], ['2', '1'], 'help'), '["c", "c_total", {"a": "1", "b": "2"}, "help"]');
    assert.equal(entryKey('g', 'g', [], [], ''), '["g", "g", {}, ""]');
  });

  it('sorts label names by code point, as Python does, not by UTF-16 unit', () => {
    // U+FFFF < U+1F600 by code point, but its UTF-16 unit 0xFFFF > 0xD83D.
    const key = entryKey('m', 'm', ['\u{1f600}', '\uffff', 'Z', 'a'], ['1', '2', '3', '4'], 'h');
    assert.equal(key, '["m", "m", {"Z": "3", "a": "4", "\\uffff": "2", "\\ud83d\\ude00": "1"}, "h"]');
  });

  it('does not depend on the order labels are given in', () => {
    const labels = fc.uniqueArray(fc.tuple(anyText, anyText), { selector: ([name]) => name, maxLength: 6 });
    fc.assert(fc.property(labels, (pairs) => {
      const reversed = [...pairs].reverse();
      return entryKey('m', 's', pairs.map(([n]) => n), pairs.map(([, v]) => v), 'h')
        === entryKey('m', 's', reversed.map(([n]) => n), reversed.map(([, v]) => v), 'h');
    }));
  });
});

describe('parseEntryKey', () => {
  it('reads back what entryKey wrote', () => {
    const labels = fc.uniqueArray(fc.tuple(anyText, anyText), { selector: ([name]) => name, maxLength: 5 });
    fc.assert(fc.property(anyText, anyText, labels, anyText, (metric, sample, pairs, help) => {
      const parsed = parseEntryKey(entryKey(metric, sample, pairs.map(([n]) => n), pairs.map(([, v]) => v), help));
      assert.equal(parsed.metricName, metric);
      assert.equal(parsed.sampleName, sample);
      assert.equal(parsed.help, help);
      assert.deepEqual({ ...parsed.labels }, Object.fromEntries(pairs));
    }));
  });

  it('keeps a label named __proto__ as a label', () => {
    const parsed = parseEntryKey('["m", "m", {"__proto__": "x"}, "h"]');
    assert.equal(Object.keys(parsed.labels).length, 1);
    assert.equal(parsed.labels['__proto__'], 'x');
  });

  it('rejects keys that are not [string, string, {string: string}, string]', () => {
    for (const bad of ['{}', '[]', '["m", "m", {}]', '["m", "m", {}, "h", 1]', '[1, "m", {}, "h"]', '["m", "m", [], "h"]',
      '["m", "m", null, "h"]', '["m", "m", {"a": 1}, "h"]', '["m", "m", {}, 2]']) {
      assert.throws(() => parseEntryKey(bad), TypeError, bad);
    }
    assert.throws(() => parseEntryKey('["m", '), SyntaxError);
  });
});

/** Runs Python 3 once over all cases; a missing python3 fails (CI has it), it does not skip. */
function runPython(script: string, input: unknown): unknown {
  const result = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error !== undefined) {
    assert.fail(`could not run python3 (${result.error.message}); the differential test needs Python 3 on PATH`);
  }
  assert.equal(result.status, 0, `python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

// Input is read as UTF-8 bytes, so the test does not depend on the locale of the machine.
const PYTHON_KEYS = `
import json, sys
cases = json.loads(sys.stdin.buffer.read().decode('utf-8'))
keys = [json.dumps([c[0], c[1], dict(c[2]), c[3]], sort_keys=True) for c in cases]
sys.stdout.write(json.dumps(keys))
`;

describe('entryKey against Python json.dumps', () => {
  it('matches on 2000 generated keys', () => {
    const labelPairs = fc.uniqueArray(fc.tuple(anyText, anyText), { selector: ([name]) => name, maxLength: 4 });
    const cases = fc.sample(fc.tuple(anyText, anyText, labelPairs, anyText), { numRuns: 2000, seed: 42 });
    const expected = runPython(PYTHON_KEYS, cases) as string[];
    assert.equal(expected.length, cases.length);
    const mismatches = cases.flatMap(([metric, sample, pairs, help], i) => {
      const ours = entryKey(metric, sample, pairs.map(([n]) => n), pairs.map(([, v]) => v), help);
      return ours === expected[i] ? [] : [{ case: cases[i], ours, python: expected[i] }];
    });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${cases.length} keys differ from Python`);
  });
});

describe('golden keys of the reference client', () => {
  it('entryKey(parseEntryKey(key)) reproduces every key byte for byte', () => {
    const root = fixturesDir();
    let checked = 0;
    for (const scenario of readdirSync(root, { withFileTypes: true })) {
      if (!scenario.isDirectory()) continue;
      const filesDir = path.join(root, scenario.name, 'files');
      for (const name of readdirSync(filesDir).filter((file) => file.endsWith('.db'))) {
        for (const { key } of readEntries(readFileSync(path.join(filesDir, name)))) {
          const parsed = parseEntryKey(key);
          // Reversed, so that the order comes from entryKey's sort, not from the file.
          const names = Object.keys(parsed.labels).reverse();
          const rebuilt = entryKey(parsed.metricName, parsed.sampleName, names, names.map((n) => parsed.labels[n]!), parsed.help);
          assert.equal(rebuilt, key, `${scenario.name}/${name}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 1500, `only ${checked} golden keys found`);
  });
});
