// The NestJS example (examples/nestjs) as a user runs it: its own process, a metrics directory,
// real requests; the scrape labels them with Nest's full route patterns.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';
import { fetchText, inFlightIn, send } from './helpers/httpTesting.js';

const exampleDir = path.join(repoRoot, 'examples', 'nestjs');

function requestCounts(exposition: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of exposition.matchAll(/^http_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\S+)$/gm)) {
    counts.set(`${match[1]} ${match[2]} ${match[3]}`, Number(match[4]));
  }
  return counts;
}

describe('the NestJS example', () => {
  let app: ChildProcess;
  let dir: string;
  let port = 0;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pm-nest-'));
    app = spawn(process.execPath, ['--import', 'tsx', path.join(exampleDir, 'main.ts')], {
      cwd: repoRoot,
      env: { ...process.env, PORT: '0', PROM_MULTIPROC_DIR: dir, TSX_TSCONFIG_PATH: path.join(exampleDir, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the example did not listen in 30 s')), 30_000);
      app.once('exit', (code) => reject(new Error(`the example exited with ${code}`)));
      createInterface({ input: app.stdout! }).on('line', (line) => {
        const { listening } = JSON.parse(line) as { listening?: number };
        if (listening !== undefined) {
          clearTimeout(timer);
          resolve(listening);
        }
      });
    });
  });

  after(() => {
    app?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('labels requests with the global prefix, controller and method paths; 404s of unknown paths unmatched', async () => {
    assert.equal(await send(port, '/api/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/api/tenants/bob/orders/2'), 200);
    assert.equal(await send(port, '/api/tenants/bob/orders/missing'), 404);
    assert.equal(await send(port, '/api/health'), 200);
    assert.equal(await send(port, '/api/nope'), 404);
    // Values reach the files at the end of the server's event-loop turn.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const scrape = await fetchText(port, '/metrics');
    assert.deepEqual(requestCounts(scrape), new Map([
      ['GET /api/tenants/:tenantId/orders/:orderId 200', 2],
      ['GET /api/tenants/:tenantId/orders/:orderId 404', 1],
      ['GET <unmatched> 404', 1],
    ]));
    assert.equal(inFlightIn(scrape), 0);
  });
});
