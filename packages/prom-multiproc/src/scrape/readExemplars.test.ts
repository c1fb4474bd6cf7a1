import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { entryKey } from '../format/pythonJson.js';
import { setProblemReporter } from '../common/report.js';
import { encodeExemplarFile } from '../format/exemplarFormat.js';
import { readDirectoryExemplars } from './readExemplars.js';

const counterKey = entryKey('jobs', 'jobs_total', [], [], 'Jobs done');

describe('readDirectoryExemplars', () => {
  const warnings: string[] = [];
  let dir: string;
  before(() => {
    setProblemReporter((error) => warnings.push(error.message));
    dir = fs.mkdtempSync(path.join(tmpdir(), 'pm-read-exemplars-'));
  });
  after(() => {
    setProblemReporter(undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, trace: string, timestamp: number) =>
    fs.writeFileSync(path.join(dir, name), encodeExemplarFile([[counterKey, { labels: { trace_id: trace }, value: 1, timestamp }]]));

  it('merges the exemplar files of the directory and nothing else; bad ones are reported by name and left out', () => {
    write('exemplars_w1.pmx', 'one', 10);
    write('exemplars_w2.pmx', 'two', 30);
    // Not ours to read: a temporary name, a .db file, a lookalike name.
    write('exemplars_w3.pmx.123-0a0b0c0d.tmp', 'temporary', 99);
    write('exemplars_w4.db', 'db', 99);
    write('exemplars_a_b.pmx', 'bad identity', 99);
    fs.writeFileSync(path.join(dir, 'exemplars_w5.pmx'), 'garbage');
    // A symlink planted in the shared directory is not followed.
    const outside = path.join(dir, 'outside.json');
    write('outside.json', 'outside', 99);
    fs.symlinkSync(outside, path.join(dir, 'exemplars_w6.pmx'));
    // Nor does a FIFO block the scrape.
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'exemplars_w7.pmx')]).status, 0);

    warnings.length = 0;
    const merged = readDirectoryExemplars(dir);
    assert.deepEqual([...merged].map(([key, exemplar]) => [key, exemplar.labels.trace_id]), [[counterKey, 'two']]);
    const named = (name: string) => warnings.some((message) => message.includes(path.join(dir, name)));
    assert.ok(named('exemplars_w5.pmx'), warnings.join('\n'));
    assert.ok(named('exemplars_w6.pmx'), warnings.join('\n'));
    assert.ok(named('exemplars_w7.pmx'), warnings.join('\n'));
    assert.ok(!named('exemplars_w1.pmx') && !named('exemplars_w2.pmx'), warnings.join('\n'));
  });

  it('gives no exemplars, and reports, for a directory it cannot list', () => {
    warnings.length = 0;
    assert.equal(readDirectoryExemplars(path.join(dir, 'missing')).size, 0);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.includes(path.join(dir, 'missing')));
  });
});
