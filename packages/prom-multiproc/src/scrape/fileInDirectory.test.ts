import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileInDirectory } from './fileInDirectory.js';

describe('fileInDirectory', () => {
  it('is path.join for a listed name, whatever the directory looks like', () => {
    const dirs = ['/tmp/metrics', '/tmp/metrics/', '/tmp//metrics/./', 'relative/dir', './rel', '.', '', '/', '/a/b/../c', '..', '../up/'];
    for (const name of ['counter_w1.db', 'gauge_livesum_4242.db']) {
      for (const dir of dirs) assert.equal(fileInDirectory(dir, name), path.join(dir, name), `${dir} + ${name}`);
      // Back and forth between directories, as a registry reading two would.
      for (const dir of [...dirs].reverse()) assert.equal(fileInDirectory(dir, name), path.join(dir, name), `${dir} + ${name}`);
    }
  });
});
