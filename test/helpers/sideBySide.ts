// For tests that run the same calls on prom-client and on prom-multiproc in one process: each
// test starts with both global registries empty and no multiprocess directory in the environment.
import { afterEach, beforeEach } from 'node:test';
import * as promClient from 'prom-client';
import { register } from '../../packages/prom-multiproc/src/index.js';

export function emptyRegistersAroundEachTest(): void {
  const clear = () => {
    promClient.register.clear();
    register.clear();
  };
  beforeEach(() => {
    delete process.env.PROM_MULTIPROC_DIR;
    delete process.env.PROMETHEUS_MULTIPROC_DIR;
    clear();
  });
  afterEach(clear);
}
