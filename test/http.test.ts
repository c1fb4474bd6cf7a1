// The HTTP adapters (node:http, Express, Fastify, Koa, Hono) against real servers on loopback: every
// request counted once under its route pattern, whatever its outcome.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { createAdaptorServer } from '@hono/node-server';
import Router from '@koa/router';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import {
  HttpMetrics, expressMetrics, fastifyMetrics, honoMetrics, instrumentHandler, koaMetrics, metricsEndpoint, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { abort, counted, listen, onCleanup, portOf, runCleanups, send, tempStore } from './helpers/httpTesting.js';

afterEach(runCleanups);

/** The traffic every adapter gets, and what it must count. */
async function standardTraffic(port: number): Promise<void> {
  assert.equal(await send(port, '/users/1'), 200);
  assert.equal(await send(port, '/users/2?x=1'), 200);
  assert.equal(await send(port, '/users/3', { method: 'POST' }), 405);
  assert.equal(await send(port, '/nope'), 404);
  assert.equal(await send(port, '/wp-admin/setup.php'), 404);
  assert.equal(await send(port, '/boom'), 500);
  await abort(port, '/slow');
  // The aborted request ends on the server side after the client left.
  await new Promise((resolve) => setTimeout(resolve, 300));
}

const EXPECTED = new Map([
  ['GET /users/:id 200', 2],
  ['POST /users/:id 405', 1],
  ['GET <unmatched> 404', 2],
  ['GET /boom 500', 1],
  ['GET /slow 499', 1],
]);

function assertConsistent(families: MetricFamily[], requests: Map<string, number>): void {
  const durations = families.find((family) => family.name === 'http_request_duration_seconds')!;
  const counts = new Map<string, number>();
  for (const [key, value] of requests) {
    const [method, route] = key.split(' ');
    counts.set(`${method} ${route}`, (counts.get(`${method} ${route}`) ?? 0) + value);
  }
  for (const sample of durations.samples.filter((s) => s.name.endsWith('_count'))) {
    assert.equal(sample.value, counts.get(`${sample.labels.method} ${sample.labels.route}`), `histogram _count of ${JSON.stringify(sample.labels)}`);
  }
  const inFlight = families.find((family) => family.name === 'http_requests_in_flight')!;
  assert.equal(inFlight.samples[0]!.value, 0, 'no request is in flight after all ended');
}

describe('HTTP instrumentation', () => {
  it('node:http: counts by route pattern, 404s unmatched, errors as 500, aborts as 499', async () => {
    const store = tempStore();
    const handler = instrumentHandler(
      async (req, res) => {
        const pathname = (req.url ?? '/').split('?')[0]!;
        if (pathname.startsWith('/users/')) {
          res.statusCode = req.method === 'GET' ? 200 : 405;
          res.end();
        } else if (pathname === '/boom') {
          throw new Error('handler failed');
        } else if (pathname === '/slow') {
          setTimeout(() => res.end('late'), 200);
        } else {
          res.statusCode = 404;
          res.end();
        }
      },
      { routes: ['/users/:id', '/boom', '/slow'], store, onError: () => {} },
    );
    const port = await listen(createServer(handler));
    await standardTraffic(port);
    const { requests, families } = await counted(store);
    assert.deepEqual(requests, EXPECTED);
    assertConsistent(families, requests);
  });

  it('Express: route from the matched route and router mount path', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    app.get('/users/:id', (_req, res) => { res.send('user'); });
    app.post('/users/:id', (_req, res) => { res.status(405).end(); });
    app.get('/boom', () => { throw new Error('handler failed'); });
    app.get('/slow', (_req, res) => { setTimeout(() => res.end('late'), 200); });
    const api = express.Router();
    api.get('/items/:item', (_req, res) => { res.send('item'); });
    app.use('/api', api);
    // Express logs handler errors to stderr; keep the test output quiet.
    app.use((_error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(500).end(); });
    const port = await listen(createServer(app));
    await standardTraffic(port);
    assert.equal(await send(port, '/api/items/7'), 200);
    const { requests, families } = await counted(store);
    assert.deepEqual(requests, new Map([...EXPECTED, ['GET /api/items/:item 200', 1]]));
    assertConsistent(families, requests);
  });

  it('Fastify: route from the route url, 404s unmatched', async () => {
    const store = tempStore();
    const app = Fastify();
    await app.register(fastifyMetrics, { store });
    app.get('/users/:id', async () => 'user');
    app.post('/users/:id', async (_request, reply) => reply.code(405).send());
    app.get('/boom', async () => { throw new Error('handler failed'); });
    app.get('/slow', async () => { await new Promise((resolve) => setTimeout(resolve, 200)); return 'late'; });
    await app.listen({ port: 0, host: '127.0.0.1' });
    onCleanup(() => app.close());
    const port = portOf(app.server);
    await standardTraffic(port);
    const { requests, families } = await counted(store);
    assert.deepEqual(requests, EXPECTED);
    assertConsistent(families, requests);
  });

  it('Koa: route from @koa/router\'s matched route, 404s unmatched', async () => {
    const store = tempStore();
    const app = new Koa();
    app.silent = true; // Koa logs handler errors to stderr; keep the test output quiet.
    app.use(koaMetrics({ store }));
    const router = new Router();
    router.get('/users/:id', (ctx) => { ctx.body = 'user'; });
    router.post('/users/:id', (ctx) => { ctx.status = 405; });
    router.get('/boom', () => { throw new Error('handler failed'); });
    router.get('/slow', async (ctx) => { await new Promise((resolve) => setTimeout(resolve, 200)); ctx.body = 'late'; });
    app.use(router.routes());
    const port = await listen(createServer(app.callback()));
    await standardTraffic(port);
    const { requests, families } = await counted(store);
    assert.deepEqual(requests, EXPECTED);
    assertConsistent(families, requests);
  });

  it('Hono: route from the route that answered, 404s unmatched', async () => {
    const store = tempStore();
    const app = new Hono();
    app.use(honoMetrics({ store }));
    app.get('/users/:id', (c) => c.text('user'));
    app.post('/users/:id', (c) => c.body(null, 405));
    app.get('/boom', () => { throw new Error('handler failed'); });
    app.get('/slow', async (c) => { await new Promise((resolve) => setTimeout(resolve, 200)); return c.text('late'); });
    app.onError((_error, c) => c.body(null, 500)); // Hono logs handler errors by default; keep the output quiet.
    const port = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    await standardTraffic(port);
    const { requests, families } = await counted(store);
    assert.deepEqual(requests, EXPECTED);
    assertConsistent(families, requests);
  });

  it('shares one set of metrics between adapters and counts each request once', async () => {
    const store = tempStore();
    const metrics = new HttpMetrics({ store });
    const end = metrics.begin('GET');
    end('/a', 200);
    end('/a', 500);
    metrics.begin('BREW')(undefined, 418);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /a 200', 1], ['OTHER <unmatched> 418', 1]]));
  });

  it('serves /metrics as text or OpenMetrics by the Accept header', async () => {
    const store = tempStore();
    const metrics = new HttpMetrics({ store });
    metrics.begin('GET')('/x', 200);
    const endpoint = metricsEndpoint({ dir: store.dir });
    const port = await listen(createServer((req, res) => void endpoint.handle(req, res)));
    const text = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.match(text.headers.get('content-type')!, /^text\/plain; version=0.0.4/);
    assert.match(await text.text(), /^http_requests_total\{method="GET",route="\/x",status="200"\} 1$/m);
    const open = await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    assert.match(open.headers.get('content-type')!, /^application\/openmetrics-text/);
    const body = await open.text();
    assert.match(body, /^# TYPE http_requests counter$/m);
    assert.match(body, /# EOF\n$/);
  });
});
