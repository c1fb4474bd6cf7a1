// An Express app instrumented by express-prom-bundle, unmodified, as its README shows, plus a
// counter of the app's own made with require('prom-client'). Every response names its worker.
const runCluster = require('./cluster.cjs');

runCluster(() => {
  const express = require('express');
  const promBundle = require('express-prom-bundle');
  const client = require('prom-client');

  const jobs = new client.Counter({ name: 'jobs_done_total', help: 'Jobs the app finished' });
  const app = express();
  app.use((_req, res, next) => {
    res.setHeader('X-Worker-Pid', String(process.pid));
    next();
  });
  app.use(promBundle({
    includeMethod: true,
    includePath: true,
    metricType: process.env.METRIC_TYPE ?? 'histogram',
    promClient: { collectDefaultMetrics: {} },
  }));
  app.get('/hello', (_req, res) => res.send('hello'));
  app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
  app.post('/jobs', (_req, res) => {
    jobs.inc();
    res.status(201).end();
  });
  app.listen(0, '127.0.0.1');
});
