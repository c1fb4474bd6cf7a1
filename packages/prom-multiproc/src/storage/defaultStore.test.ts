// Where the default store writes: the directory variables of the environment.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setProblemReporter } from '../common/report.js';
import { directoryFromEnvironment } from './defaultStore.js';

describe('directoryFromEnvironment', () => {
  const reports: string[] = [];
  setProblemReporter((error) => reports.push(error.message));
  after(() => setProblemReporter(undefined));

  it('prefers PROM_MULTIPROC_DIR, then PROMETHEUS_MULTIPROC_DIR', () => {
    assert.equal(directoryFromEnvironment({ PROMETHEUS_MULTIPROC_DIR: '/run/py' }), '/run/py');
    assert.equal(directoryFromEnvironment({ PROM_MULTIPROC_DIR: '/run/node', PROMETHEUS_MULTIPROC_DIR: '/run/node/' }), '/run/node');
    assert.equal(directoryFromEnvironment({}), undefined);
    assert.deepEqual(reports, [], 'one directory, however spelled, is no problem');
  });

  it('warns once when the two name different directories, naming both', () => {
    const env = { PROM_MULTIPROC_DIR: '/run/env-test-node', PROMETHEUS_MULTIPROC_DIR: '/run/env-test-python' };
    assert.equal(directoryFromEnvironment(env), '/run/env-test-node');
    assert.equal(directoryFromEnvironment(env), '/run/env-test-node');
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(reports[0]!, /PROM_MULTIPROC_DIR=\/run\/env-test-node .*PROMETHEUS_MULTIPROC_DIR=\/run\/env-test-python/);
    assert.match(reports[0]!, /Python/);
  });
});
