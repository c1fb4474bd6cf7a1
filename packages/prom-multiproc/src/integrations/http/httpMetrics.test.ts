// HttpMetrics keeps the children of the series it records to, so that a request looks nothing
// up in the metrics' label maps; series that reset() or remove() take away must not be kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../storage/memoryStore.js';
import type { MetricValue } from '../../scrape/exposition.js';
import { HttpMetrics } from './httpMetrics.js';

function valueOf(values: MetricValue[], sampleName?: string): number | undefined {
  return values.find((value) => sampleName === undefined || value.metricName === sampleName)?.value;
}

describe('HttpMetrics keeps its series', () => {
  let serial = 0;
  function metrics(): HttpMetrics {
    serial++;
    const names = { requests: `kept_${serial}_total`, duration: `kept_${serial}_seconds`, inFlight: `kept_${serial}_in_flight` };
    return new HttpMetrics({ store: new MemoryStore(), names });
  }

  it('counts into the same series request after request', async () => {
    const http = metrics();
    for (let i = 0; i < 3; i++) http.begin('GET')('/x', 200);
    http.begin('GET')('/x', 500);
    const requests = (await http.requests.get()).values;
    assert.deepEqual(requests.map((value) => [value.labels, value.value]), [
      [{ method: 'GET', route: '/x', status: '200' }, 3],
      [{ method: 'GET', route: '/x', status: '500' }, 1],
    ]);
    assert.equal(valueOf((await http.duration.get()).values, `${http.duration.name}_count`), 4);
  });

  it('records to new series after reset(), clear() or remove() took the old ones away', async () => {
    const http = metrics();
    http.begin('GET')('/x', 200);
    http.requests.reset();
    http.duration.reset();
    http.inFlight!.reset();
    const end = http.begin('GET');
    assert.equal(valueOf((await http.inFlight!.get()).values), 1, 'in flight after reset()');
    end('/x', 200);
    assert.equal(valueOf((await http.requests.get()).values), 1, 'after reset()');
    assert.equal(valueOf((await http.duration.get()).values, `${http.duration.name}_count`), 1, 'the histogram after reset()');
    assert.equal(valueOf((await http.inFlight!.get()).values), 0, 'in flight after the request ended');

    http.requests.clear();
    http.begin('GET')('/x', 200);
    assert.equal(valueOf((await http.requests.get()).values), 1, 'after clear()');

    http.requests.remove('GET', '/x', '200');
    http.begin('GET')('/x', 200);
    http.begin('GET')('/x', 200);
    assert.equal(valueOf((await http.requests.get()).values), 2, 'after remove()');
  });
});
