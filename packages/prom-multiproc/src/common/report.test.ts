// How problems reach the operator: by default as Node process warnings that read as warnings
// of this library; through setProblemReporter wherever the caller wants them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { reportOnce, setProblemReporter } from './report.js';

const REPORT = new URL('./report.ts', import.meta.url).href;

describe('reportOnce', () => {
  after(() => setProblemReporter(undefined));

  it('prints a process warning named PromMultiprocWarning, without a code', () => {
    const script = `import { reportOnce } from ${JSON.stringify(REPORT)};
      reportOnce('k', new Error('the directory is odd')); reportOnce('k', new Error('the directory is odd'));`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const warnings = run.stderr.split('\n').filter((line) => line.startsWith('(node:'));
    assert.deepEqual(warnings, [`(node:${run.pid}) PromMultiprocWarning: the directory is odd`]);
  });

  it('hands the error to a reporter that was set, once per key', () => {
    const seen: Error[] = [];
    setProblemReporter((error) => seen.push(error));
    const problem = new Error('once only');
    assert.equal(reportOnce('report-test-key', problem), true);
    assert.equal(reportOnce('report-test-key', problem), false);
    assert.deepEqual(seen, [problem]);
  });
});
