// express-prom-bundle's own cluster setup, as its README shows: the workers record with
// autoregister off, and the primary serves the metrics of them all through clusterMetrics()
// (prom-client's AggregatorRegistry) on a port of its own. Prints {"port", "metricsPort"} once
// every worker and the metrics server listen.
const cluster = require('node:cluster');
const express = require('express');
const promBundle = require('express-prom-bundle');
const promClient = require('prom-client');

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 2);
  let listening = 0;
  let port;
  let metricsPort;
  const ready = () => {
    if (listening === workers && metricsPort !== undefined) console.log(JSON.stringify({ port, metricsPort }));
  };
  cluster.on('listening', (_worker, address) => {
    listening++;
    port = address.port;
    ready();
  });
  cluster.on('exit', (worker, code, signal) => console.log(JSON.stringify({ exit: worker.process.pid, code, signal })));
  for (let i = 0; i < workers; i++) cluster.fork();

  const metricsApp = express();
  metricsApp.use('/metrics', promBundle.clusterMetrics());
  const server = metricsApp.listen(0, '127.0.0.1', () => {
    metricsPort = server.address().port;
    ready();
  });
  process.on('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  new promClient.AggregatorRegistry();
  const jobs = new promClient.Counter({ name: 'jobs_done_total', help: 'Jobs the app finished' });
  const app = express();
  app.use((_req, res, next) => {
    res.setHeader('X-Worker-Pid', String(process.pid));
    next();
  });
  app.use(promBundle({ autoregister: false, includeMethod: true, includePath: true }));
  app.get('/hello', (_req, res) => res.send('hello'));
  app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
  app.post('/jobs', (_req, res) => {
    jobs.inc();
    res.status(201).end();
  });
  app.listen(0, '127.0.0.1');
}
