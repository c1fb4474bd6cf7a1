// Express: the route label is taken when the response's headers are written, so a handler that
// responds and then calls next() keeps its route even when later middleware runs. The hook that
// takes it is installed once on Express's response prototype, shared by every app, sub-app and
// response; these check it against real servers, with other wrappers of writeHead around it.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import express from 'express';
import { expressMetrics } from '../packages/prom-multiproc/src/index.js';
import { counted, listen, runCleanups, send, tempStore } from './helpers/httpTesting.js';

afterEach(runCleanups);

async function expressServer(app: express.Express): Promise<number> {
  return listen(createServer(app));
}

/** A handler that answers and then lets routing go on into the middleware after it. */
function answerThenNext(_req: express.Request, res: express.Response, next: express.NextFunction): void {
  res.send('ok');
  next();
}

/** Middleware that runs after the route has answered (a logger, say). */
function passOn(_req: express.Request, _res: express.Response, next: express.NextFunction): void {
  next();
}

describe('Express: the label when the headers are written', () => {
  it('keeps the route of a handler that answers and then calls next() into later middleware, request after request', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    app.get('/items/:id', answerThenNext);
    app.use(passOn);
    const port = await expressServer(app);
    for (const id of ['1', '2', '3']) assert.equal(await send(port, `/items/${id}`), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /items/:id 200', 3]]));
  });

  it('keeps it in a mounted sub-app, whose responses take the sub-app prototype', async () => {
    const store = tempStore();
    const app = express();
    app.use(expressMetrics({ store }));
    const sub = express();
    sub.get('/things/:id', answerThenNext);
    sub.use(passOn);
    app.use('/sub/:tenant', sub);
    const port = await expressServer(app);
    assert.equal(await send(port, '/sub/a/things/1'), 200);
    assert.equal(await send(port, '/sub/b/things/2'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /sub/:tenant/things/:id 200', 2]]));
  });

  it('keeps it when another middleware wrapped writeHead on the response first, and that wrapper still runs', async () => {
    const store = tempStore();
    const app = express();
    let wrapped = 0;
    // As on-headers (compression, response-time) does: an own writeHead on each response, registered before the metrics.
    app.use((_req, res, next) => {
      const original = res.writeHead;
      res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
        wrapped++;
        return (original as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as typeof res.writeHead;
      next();
    });
    app.use(expressMetrics({ store }));
    app.get('/items/:id', answerThenNext);
    app.use(passOn);
    const port = await expressServer(app);
    assert.equal(await send(port, '/items/1'), 200);
    assert.equal(await send(port, '/items/2'), 200);
    assert.equal(wrapped, 2);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /items/:id 200', 2]]));
  });

  it('leaves responses of apps without the middleware as they were', async () => {
    const store = tempStore();
    const measured = express();
    measured.use(expressMetrics({ store }));
    measured.get('/a', (_req, res) => { res.send('a'); });
    const other = express();
    other.get('/b', (_req, res) => { res.status(201).send('b'); });
    const [measuredPort, otherPort] = [await expressServer(measured), await expressServer(other)];
    assert.equal(await send(measuredPort, '/a'), 200);
    assert.equal(await send(otherPort, '/b'), 201);
    assert.equal(await send(measuredPort, '/a'), 200);
    const { requests } = await counted(store);
    assert.deepEqual(requests, new Map([['GET /a 200', 2]]));
  });
});
