// A Fastify app instrumented by fastify-metrics, unmodified, as its README shows (the package
// is named by FASTIFY_METRICS, to run more than one major), plus a counter of the app's own made
// with an ES import of prom-client's default export. Every response names its worker.
import runCluster from './cluster.cjs';

runCluster(async () => {
  const { default: Fastify } = await import('fastify');
  const { default: metricsPlugin } = await import(process.env.FASTIFY_METRICS ?? 'fastify-metrics');
  const { default: client, Counter } = await import('prom-client');
  if (client?.Counter !== Counter) throw new Error("prom-client's default export is not the module with its named exports");

  const jobs = new client.Counter({ name: 'jobs_done_total', help: 'Jobs the app finished' });
  const app = Fastify();
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('X-Worker-Pid', String(process.pid));
    return payload;
  });
  // Scrapes left out of the request metrics, so the counts do not depend on how often they come.
  await app.register(metricsPlugin, { endpoint: '/metrics', routeMetrics: { routeBlacklist: ['/metrics'] } });
  app.get('/hello', async () => 'hello');
  app.get('/items/:id', async (request) => ({ id: request.params.id }));
  app.post('/jobs', async (_request, reply) => {
    jobs.inc();
    reply.code(201);
    return '';
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
});
