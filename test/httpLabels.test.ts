// Labels a dashboard can trust: every request under a bounded route pattern (mounted and nested
// Express routers, arrays of paths, static files), the exclusions, path normalization, extra
// labels and grouped status codes, for node:http, Express, Fastify, Koa and Hono, against real servers.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { createAdaptorServer } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import Router from '@koa/router';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import {
  HttpMetrics, expressMetrics, fastifyMetrics, honoMetrics, instrumentHandler, koaMetrics, metricsEndpoint, normalizeIds,
  type FileStore, type HttpMetricsOptions,
} from '../packages/prom-multiproc/src/index.js';
import {
  abort, counted, fetchText, inFlightIn, listen, onCleanup, portOf, runCleanups, send, sleep, tempStore,
} from './helpers/httpTesting.js';

afterEach(runCleanups);

function staticDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-static-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Express apps end with an error handler so that handler errors stay off the test output. */
function quietErrors(app: express.Express): void {
  app.use((_error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(500).end(); });
}

async function expressServer(app: express.Express): Promise<number> {
  return listen(createServer(app));
}

async function koaServer(app: Koa): Promise<number> {
  return listen(createServer(app.callback()));
}

async function honoServer(app: Hono): Promise<number> {
  return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
}

async function fastifyServer(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  onCleanup(() => app.close());
  return portOf(app.server);
}

/** A /metrics handler that writes this process's pending values first, so a scrape sees them. */
function scrapeHandler(store: FileStore) {
  const endpoint = metricsEndpoint({ dir: store.dir });
  onCleanup(() => endpoint.close());
  return (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    store.flush();
    return endpoint.handle(req, res);
  };
}

describe('Express route labels', () => {
  it('labels a router mounted on a path with parameters with the full pattern, one series for every tenant', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const tenant = express.Router();
    tenant.get('/orders/:orderId', (_req, res) => { res.send('order'); });
    tenant.get('/', (_req, res) => { res.send('tenant'); });
    app.use('/tenants/:tenantId', tenant);
    const port = await expressServer(app);
    assert.equal(await send(port, '/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/tenants/bob/orders/2'), 200);
    assert.equal(await send(port, '/tenants/carol'), 200);
    assert.equal(await send(port, '/tenants/dave/'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /tenants/:tenantId/orders/:orderId 200', 2],
      ['GET /tenants/:tenantId 200', 2],
    ]));
  });

  it('labels nested routers and mounted sub-apps with the full pattern at every depth', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const issues = express.Router();
    issues.get('/:number', (_req, res) => { res.send('issue'); });
    const repos = express.Router();
    repos.use('/issues', issues);
    repos.get('/', (_req, res) => { res.send('repo'); });
    const orgs = express.Router();
    orgs.use('/repos/:repo', repos);
    app.use('/orgs/:org', orgs);
    const shop = express();
    shop.get('/items/:item', (_req, res) => { res.send('item'); });
    app.use('/shops/:shop', shop);
    const port = await expressServer(app);
    assert.equal(await send(port, '/orgs/acme/repos/rocket/issues/7'), 200);
    assert.equal(await send(port, '/orgs/globex/repos/laser/issues/8'), 200);
    assert.equal(await send(port, '/orgs/acme/repos/rocket'), 200);
    assert.equal(await send(port, '/shops/corner/items/3'), 200);
    assert.equal(await send(port, '/orgs/acme/nothing-here'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /orgs/:org/repos/:repo/issues/:number 200', 2],
      ['GET /orgs/:org/repos/:repo 200', 1],
      ['GET /shops/:shop/items/:item 200', 1],
      ['GET <unmatched> 404', 1],
    ]));
  });

  it('labels a route or mount with an array of paths with the one path that matched', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    app.get(['/songs/:id', '/tracks/:id'], (_req, res) => { res.send('song'); });
    const things = express.Router();
    things.get('/things/:thing', (_req, res) => { res.send('thing'); });
    app.use(['/v1/:account', '/v2/:account'], things);
    const port = await expressServer(app);
    assert.equal(await send(port, '/songs/1'), 200);
    assert.equal(await send(port, '/tracks/2'), 200);
    assert.equal(await send(port, '/tracks/3'), 200);
    assert.equal(await send(port, '/v1/a/things/1'), 200);
    assert.equal(await send(port, '/v2/b/things/2'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /songs/:id 200', 1],
      ['GET /tracks/:id 200', 2],
      ['GET /v1/:account/things/:thing 200', 1],
      ['GET /v2/:account/things/:thing 200', 1],
    ]));
  });

  it('labels files served by express.static with the mount path and /*, and misses and middleware 404s as unmatched', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    app.use('/assets', express.static(staticDir({ 'app.js': 'x', 'css/site.css': 'y' })));
    app.use(express.static(staticDir({ 'robots.txt': 'z' })));
    app.use('/api', (_req, res) => { res.status(404).json({ error: 'no such endpoint' }); });
    const port = await expressServer(app);
    assert.equal(await send(port, '/assets/app.js'), 200);
    assert.equal(await send(port, '/assets/css/site.css'), 200);
    assert.equal(await send(port, '/robots.txt'), 200);
    assert.equal(await send(port, '/assets/missing.js'), 404);
    // A catch-all middleware's 404 is a request nothing answered, as Express's own 404 is.
    assert.equal(await send(port, '/api/nope'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /assets/* 200', 2],
      ['GET /* 200', 1],
      ['GET <unmatched> 404', 2],
    ]));
  });

  it('counts a 404 from a catch-all route as unmatched, and labels its other answers with its pattern', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    app.get('/users/:id', (_req, res) => { res.send('user'); });
    const api = express.Router();
    api.all('*path', (_req, res) => { res.status(404).json({ error: 'no such endpoint' }); });
    app.use('/api', api);
    app.get('/{*page}', (_req, res) => { res.send('index.html'); });
    const port = await expressServer(app);
    assert.equal(await send(port, '/users/1'), 200);
    assert.equal(await send(port, '/api/nope'), 404);
    assert.equal(await send(port, '/api/v2/nope', { method: 'POST' }), 404);
    assert.equal(await send(port, '/settings/profile'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /users/:id 200', 1],
      ['GET <unmatched> 404', 1],
      ['POST <unmatched> 404', 1],
      ['GET /{*page} 200', 1],
    ]));
  });

  it('counts an error in a mounted router under its route, whichever error handler answers', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const tenant = express.Router();
    tenant.get('/fail/:n', () => { throw new Error('handler failed'); });
    tenant.get('/slow/:n', (_req, res) => { setTimeout(() => res.end('late'), 200); });
    app.use('/tenants/:tenantId', tenant);
    quietErrors(app);
    const port = await expressServer(app);
    assert.equal(await send(port, '/tenants/alice/fail/1'), 500);
    assert.equal(await send(port, '/tenants/bob/fail/2'), 500);
    await abort(port, '/tenants/carol/slow/3');
    await sleep(300);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /tenants/:tenantId/fail/:n 500', 2],
      ['GET /tenants/:tenantId/slow/:n 499', 1],
    ]));
  });

  it('labels an answer from a router.param callback with the route it belongs to', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const tenant = express.Router();
    tenant.param('orderId', (_req, res, next, id) => { if (id === 'missing') res.status(404).send(); else next(); });
    tenant.get('/orders/:orderId', (_req, res) => { res.send('order'); });
    app.use('/tenants/:tenantId', tenant);
    const port = await expressServer(app);
    assert.equal(await send(port, '/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/tenants/alice/orders/missing'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /tenants/:tenantId/orders/:orderId 200', 1],
      ['GET /tenants/:tenantId/orders/:orderId 404', 1],
    ]));
  });

  it('keeps the route of a handler that responds and then calls next()', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const tenant = express.Router();
    tenant.get('/ping/:n', (_req, res, next) => { res.send('pong'); next(); });
    app.use('/tenants/:tenantId', tenant);
    const port = await expressServer(app);
    assert.equal(await send(port, '/tenants/alice/ping/1'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /tenants/:tenantId/ping/:n 200', 1]]));
  });
});

describe('Fastify route labels', () => {
  it('labels routes of plugins registered with prefixes that have parameters with the full pattern', async () => {
    const store = tempStore();
    const app = Fastify();
    await app.register(fastifyMetrics, { store });
    await app.register(async (tenant) => {
      tenant.get('/orders/:orderId', async () => 'order');
      await tenant.register(async (repos) => {
        repos.get('/issues/:number', async () => 'issue');
      }, { prefix: '/repos/:repo' });
    }, { prefix: '/tenants/:tenantId' });
    const port = await fastifyServer(app);
    assert.equal(await send(port, '/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/tenants/bob/orders/2'), 200);
    assert.equal(await send(port, '/tenants/bob/repos/r/issues/3'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /tenants/:tenantId/orders/:orderId 200', 2],
      ['GET /tenants/:tenantId/repos/:repo/issues/:number 200', 1],
    ]));
  });
});

describe('Koa route labels', () => {
  it('labels routes of nested @koa/router routers mounted on paths with parameters with the full pattern', async () => {
    const store = tempStore();
    const app = new Koa();
    app.use(koaMetrics({ store }));
    const repos = new Router();
    repos.get('/issues/:number', (ctx) => { ctx.body = 'issue'; });
    const tenant = new Router();
    tenant.get('/orders/:orderId', (ctx) => { ctx.body = 'order'; });
    tenant.use('/repos/:repo', repos.routes());
    const root = new Router();
    root.use('/tenants/:tenantId', tenant.routes());
    root.get(['/songs/:id', '/tracks/:id'], (ctx) => { ctx.body = 'song'; });
    app.use(root.routes());
    const port = await koaServer(app);
    assert.equal(await send(port, '/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/tenants/bob/orders/2'), 200);
    assert.equal(await send(port, '/tenants/bob/repos/r/issues/3'), 200);
    assert.equal(await send(port, '/songs/1'), 200);
    assert.equal(await send(port, '/tracks/2'), 200);
    assert.equal(await send(port, '/nope'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /tenants/:tenantId/orders/:orderId 200', 2],
      ['GET /tenants/:tenantId/repos/:repo/issues/:number 200', 1],
      ['GET /songs/:id 200', 1],
      ['GET /tracks/:id 200', 1],
      ['GET <unmatched> 404', 1],
    ]));
  });
});

describe('Hono route labels', () => {
  it('labels routes of sub-apps mounted on paths with parameters with the full pattern', async () => {
    const store = tempStore();
    const app = new Hono();
    app.use(honoMetrics({ store }));
    const tenant = new Hono();
    tenant.get('/orders/:orderId', (c) => c.text('order'));
    app.route('/tenants/:tenantId', tenant);
    const port = await honoServer(app);
    assert.equal(await send(port, '/tenants/alice/orders/1'), 200);
    assert.equal(await send(port, '/tenants/bob/orders/2'), 200);
    assert.equal(await send(port, '/nope'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /tenants/:tenantId/orders/:orderId 200', 2], ['GET <unmatched> 404', 1]]));
  });

  it('labels files served by middleware with its path, and misses as unmatched', async () => {
    const store = tempStore();
    const app = new Hono();
    app.use(honoMetrics({ store }));
    const root = staticDir({ 'static/app.js': 'x' });
    app.use('/static/*', serveStatic({ root: path.relative(process.cwd(), root) }));
    const port = await honoServer(app);
    assert.equal(await send(port, '/static/app.js'), 200);
    assert.equal(await send(port, '/static/missing.js'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /static/* 200', 1], ['GET <unmatched> 404', 1]]));
  });
});

/** The options every adapter takes, with label functions that read only what all requests have. */
type SharedOptions = Pick<HttpMetricsOptions, 'excludeRoutes' | 'groupStatusCodes'> & {
  extraLabels?: Record<string, (request: { headers: IncomingHttpHeaders }) => string | undefined>;
};

/** One app per framework with the same routes, instrumented with the given options. */
interface Framework {
  name: string;
  start(store: FileStore, options: SharedOptions): Promise<number>;
}

// Routes every framework serves: /users/:id (200, or 201 on POST), /health, /internal/:part,
// /debug/*, /boom (500), /slow (200 after 200 ms), /metrics (the scrape); anything else is 404.
const frameworks: Framework[] = [
  {
    name: 'node:http',
    async start(store, options) {
      const scrape = scrapeHandler(store);
      const handler = instrumentHandler(
        async (req, res) => {
          const pathname = (req.url ?? '/').split('?')[0]!;
          if (pathname === '/metrics') return scrape(req, res);
          if (/^\/users\/[^/]+$/.test(pathname)) {
            res.statusCode = req.method === 'POST' ? 201 : 200;
            res.end('user');
          } else if (pathname === '/health' || /^\/internal\/[^/]+$/.test(pathname) || pathname.startsWith('/debug/')) {
            res.end('ok');
          } else if (pathname === '/boom') {
            throw new Error('handler failed');
          } else if (pathname === '/slow') {
            setTimeout(() => res.end('late'), 200);
          } else {
            res.statusCode = 404;
            res.end();
          }
        },
        { routes: ['/users/:id', '/health', '/internal/:part', '/debug/*', '/boom', '/slow', '/metrics'], store, onError: () => {}, ...options },
      );
      return listen(createServer(handler));
    },
  },
  {
    name: 'Express',
    async start(store, options) {
      const app = express();
      app.use(expressMetrics({ store, ...options }));
      const scrape = scrapeHandler(store);
      app.get('/metrics', (req, res) => { void scrape(req, res); });
      app.get('/users/:id', (_req, res) => { res.send('user'); });
      app.post('/users/:id', (_req, res) => { res.status(201).send('user'); });
      app.get('/health', (_req, res) => { res.send('ok'); });
      app.get('/internal/:part', (_req, res) => { res.send('ok'); });
      app.get('/debug/*rest', (_req, res) => { res.send('ok'); });
      app.get('/boom', () => { throw new Error('handler failed'); });
      app.get('/slow', (_req, res) => { setTimeout(() => res.end('late'), 200); });
      quietErrors(app);
      return expressServer(app);
    },
  },
  {
    name: 'Fastify',
    async start(store, options) {
      const app = Fastify();
      await app.register(fastifyMetrics, { store, ...options });
      const scrape = scrapeHandler(store);
      app.get('/metrics', async (request, reply) => {
        reply.hijack();
        await scrape(request.raw, reply.raw);
      });
      app.get('/users/:id', async () => 'user');
      app.post('/users/:id', async (_request, reply) => reply.code(201).send('user'));
      app.get('/health', async () => 'ok');
      app.get('/internal/:part', async () => 'ok');
      app.get('/debug/*', async () => 'ok');
      app.get('/boom', async () => { throw new Error('handler failed'); });
      app.get('/slow', async () => { await sleep(200); return 'late'; });
      return fastifyServer(app);
    },
  },
  {
    name: 'Koa',
    async start(store, options) {
      const app = new Koa();
      app.silent = true; // Koa logs handler errors to stderr; keep the test output quiet.
      app.use(koaMetrics({ store, ...options }));
      const scrape = scrapeHandler(store);
      const router = new Router();
      router.get('/metrics', async (ctx) => { ctx.respond = false; await scrape(ctx.req, ctx.res); });
      router.get('/users/:id', (ctx) => { ctx.body = 'user'; });
      router.post('/users/:id', (ctx) => { ctx.status = 201; ctx.body = 'user'; });
      router.get('/health', (ctx) => { ctx.body = 'ok'; });
      router.get('/internal/:part', (ctx) => { ctx.body = 'ok'; });
      router.get('/debug/*rest', (ctx) => { ctx.body = 'ok'; });
      router.get('/boom', () => { throw new Error('handler failed'); });
      router.get('/slow', async (ctx) => { await sleep(200); ctx.body = 'late'; });
      app.use(router.routes());
      return koaServer(app);
    },
  },
  {
    name: 'Hono',
    async start(store, options) {
      const app = new Hono();
      // Hono's request has no headers object: the label functions get one made from its headers.
      const extraLabels = Object.fromEntries(Object.entries(options.extraLabels ?? {}).map(([name, read]) => [
        name, (c: { req: { raw: Request } }) => read({ headers: Object.fromEntries(c.req.raw.headers) }),
      ]));
      app.use(honoMetrics({ store, ...options, extraLabels }));
      const endpoint = metricsEndpoint({ dir: store.dir });
      onCleanup(() => endpoint.close());
      app.get('/metrics', async (c) => {
        store.flush();
        const { contentType, body } = await endpoint.render(c.req.header('accept'));
        return c.body(body, 200, { 'content-type': contentType });
      });
      app.get('/users/:id', (c) => c.text('user'));
      app.post('/users/:id', (c) => c.text('user', 201));
      app.get('/health', (c) => c.text('ok'));
      app.get('/internal/:part', (c) => c.text('ok'));
      app.get('/debug/*', (c) => c.text('ok'));
      app.get('/boom', () => { throw new Error('handler failed'); });
      app.get('/slow', async (c) => { await sleep(200); return c.text('late'); });
      app.onError((_error, c) => c.body(null, 500)); // Hono logs handler errors by default; keep the output quiet.
      return honoServer(app);
    },
  },
];

for (const framework of frameworks) {
  describe(`${framework.name}: exclusions, normalization, extra labels, grouped status`, () => {
    it('does not count /metrics, and a scrape never sees itself in the in-flight gauge', async () => {
      const store = tempStore();
      const port = await framework.start(store, {});
      assert.equal(await send(port, '/users/1'), 200);
      for (const pathname of ['/metrics', '/metrics?debug=1', '/metrics']) {
        const body = await fetchText(port, pathname);
        assert.equal(inFlightIn(body), 0, `the in-flight gauge during a scrape of ${pathname}`);
      }
      const { requests } = await counted(store);
      assert.deepEqual(requests, new Map([['GET /users/:id 200', 1]]));
    });

    it('excludeRoutes: exact paths, route patterns and regular expressions are neither counted nor in flight', async () => {
      const store = tempStore();
      const port = await framework.start(store, { excludeRoutes: ['/health', '/internal/:part', /^\/debug\//] });
      assert.equal(await send(port, '/health'), 200);
      assert.equal(await send(port, '/health?probe=1'), 200);
      assert.equal(await send(port, '/internal/a'), 200);
      assert.equal(await send(port, '/debug/pprof/heap'), 200);
      assert.equal(await send(port, '/users/1'), 200);
      // The user's list replaces the default one, so /metrics counts now.
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200);
      const { requests, families } = await counted(store);
      assert.deepEqual(requests, new Map([['GET /users/:id 200', 1], ['GET /metrics 200', 1]]));
      const inFlight = families.find((family) => family.name === 'http_requests_in_flight')!;
      assert.equal(inFlight.samples[0]!.value, 0);
    });

    it('extraLabels: label values taken from the request, the same label names on every series', async () => {
      const store = tempStore();
      const port = await framework.start(store, { extraLabels: { plan: (req) => req.headers['x-plan'] as string | undefined } });
      assert.equal(await send(port, '/users/1', { headers: { 'x-plan': 'pro' } }), 200);
      assert.equal(await send(port, '/users/2', { headers: { 'x-plan': 'pro' } }), 200);
      assert.equal(await send(port, '/users/3', { headers: { 'x-plan': 'free' } }), 200);
      assert.equal(await send(port, '/nope'), 404);
      const { requests, families } = await counted(store, ['plan']);
      assert.deepEqual(requests, new Map([
        ['GET /users/:id 200 pro', 2],
        ['GET /users/:id 200 free', 1],
        ['GET <unmatched> 404 ', 1],
      ]));
      const durations = families.find((family) => family.name === 'http_request_duration_seconds')!;
      for (const sample of durations.samples) assert.deepEqual(Object.keys(sample.labels).filter((name) => name !== 'le').sort(), ['method', 'plan', 'route']);
    });

    it('groupStatusCodes: status counted as 2xx, 4xx, 5xx (aborted requests as 4xx)', async () => {
      const store = tempStore();
      const port = await framework.start(store, { groupStatusCodes: true });
      assert.equal(await send(port, '/users/1'), 200);
      assert.equal(await send(port, '/users/1', { method: 'POST' }), 201);
      assert.equal(await send(port, '/users/2'), 200);
      assert.equal(await send(port, '/nope'), 404);
      assert.equal(await send(port, '/boom'), 500);
      await abort(port, '/slow');
      await sleep(300);
      const { requests } = await counted(store);
      assert.deepEqual(requests, new Map([
        ['GET /users/:id 2xx', 2],
        ['POST /users/:id 2xx', 1],
        ['GET <unmatched> 4xx', 1],
        ['GET /boom 5xx', 1],
        ['GET /slow 4xx', 1],
      ]));
    });
  });
}

describe('normalizePath: a label for requests no route pattern names', () => {
  it('node:http without route patterns: ids normalized, 404s stay unmatched', async () => {
    const store = tempStore();
    const handler = instrumentHandler((req, res) => {
      res.statusCode = req.url!.startsWith('/users/') || req.url!.startsWith('/orders/') ? 200 : 404;
      res.end();
    }, { store, normalizePath: normalizeIds });
    const port = await listen(createServer(handler));
    assert.equal(await send(port, '/users/12'), 200);
    assert.equal(await send(port, '/users/13?tab=1'), 200);
    assert.equal(await send(port, '/orders/3f2c1a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60/items/7'), 200);
    assert.equal(await send(port, '/wp-admin/setup.php'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /users/:id 200', 2],
      ['GET /orders/:id/items/:id 200', 1],
      ['GET <unmatched> 404', 1],
    ]));
  });

  it('node:http: route patterns first, normalizePath for the rest', async () => {
    const store = tempStore();
    const handler = instrumentHandler((_req, res) => { res.end(); }, {
      store, routes: ['/users/:id'], normalizePath: (pathname) => (pathname.startsWith('/docs/') ? '/docs/*' : undefined),
    });
    const port = await listen(createServer(handler));
    assert.equal(await send(port, '/users/1'), 200);
    assert.equal(await send(port, '/docs/a/b'), 200);
    assert.equal(await send(port, '/other'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /users/:id 200', 1], ['GET /docs/* 200', 1], ['GET <unmatched> 200', 1]]));
  });

  it('Express: requests answered by middleware rather than a route', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store, normalizePath: normalizeIds }));
    app.get('/users/:name', (_req, res) => { res.send('user'); });
    app.use((req, res, next) => { if (req.path.startsWith('/legacy/')) res.send('legacy'); else next(); });
    const port = await expressServer(app);
    assert.equal(await send(port, '/users/7'), 200);
    assert.equal(await send(port, '/legacy/items/41'), 200);
    assert.equal(await send(port, '/legacy/items/42'), 200);
    assert.equal(await send(port, '/nope/1'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([
      ['GET /users/:name 200', 1],
      ['GET /legacy/items/:id 200', 2],
      ['GET <unmatched> 404', 1],
    ]));
  });

  it('Fastify: a not-found handler that answers 200 (a single-page app) gets the normalized path', async () => {
    const store = tempStore();
    const app = Fastify();
    await app.register(fastifyMetrics, { store, normalizePath: (pathname) => (pathname.startsWith('/app/') ? '/app/*' : undefined) });
    app.get('/users/:id', async () => 'user');
    app.setNotFoundHandler(async (request, reply) => (request.url.startsWith('/app/') ? reply.send('index.html') : reply.code(404).send()));
    const port = await fastifyServer(app);
    assert.equal(await send(port, '/app/settings/profile'), 200);
    assert.equal(await send(port, '/app/inbox'), 200);
    assert.equal(await send(port, '/wp-login.php'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /app/* 200', 2], ['GET <unmatched> 404', 1]]));
  });
});

describe('normalizePath in Koa and Hono', () => {
  it('Koa: an app without a router', async () => {
    const store = tempStore();
    const app = new Koa();
    app.use(koaMetrics({ store, normalizePath: normalizeIds }));
    app.use((ctx) => { if (ctx.path.startsWith('/items/')) ctx.body = 'item'; });
    const port = await koaServer(app);
    assert.equal(await send(port, '/items/1'), 200);
    assert.equal(await send(port, '/items/2'), 200);
    assert.equal(await send(port, '/nope'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /items/:id 200', 2], ['GET <unmatched> 404', 1]]));
  });

  it('Hono: a not-found handler that answers 200 (a single-page app) gets the normalized path', async () => {
    const store = tempStore();
    const app = new Hono();
    app.use(honoMetrics({ store, normalizePath: (pathname) => (pathname.startsWith('/app/') ? '/app/*' : undefined) }));
    app.get('/users/:id', (c) => c.text('user'));
    app.notFound((c) => (c.req.path.startsWith('/app/') ? c.text('index.html') : c.body(null, 404)));
    const port = await honoServer(app);
    assert.equal(await send(port, '/app/settings'), 200);
    assert.equal(await send(port, '/app/inbox/3'), 200);
    assert.equal(await send(port, '/wp-login.php'), 404);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /app/* 200', 2], ['GET <unmatched> 404', 1]]));
  });
});

describe('HttpMetrics label names', () => {
  it('are the same in every process, whatever the order of the extra labels', () => {
    const store = tempStore();
    const one = new HttpMetrics({ store, names: { requests: 'a_total', duration: 'a_seconds', inFlight: 'a_in_flight' }, extraLabels: { zone: () => 'z', plan: () => 'p' } });
    const two = new HttpMetrics({ store, names: { requests: 'b_total', duration: 'b_seconds', inFlight: 'b_in_flight' }, extraLabels: { plan: () => 'p', zone: () => 'z' } });
    assert.deepEqual(one.requests.labelNames, ['method', 'route', 'status', 'plan', 'zone']);
    assert.deepEqual(two.requests.labelNames, one.requests.labelNames);
    assert.deepEqual(one.duration.labelNames, ['method', 'route', 'plan', 'zone']);
  });
});
