// The Pushgateway client against a local HTTP(S) server that records each request, side by
// side with prom-client's client: same method, path, headers and body, same results and errors.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { globalRegister } from '../scrape/promRegistry.js';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Counter, Gauge, Pushgateway as PromClientPushgateway, Registry } from 'prom-client';
import { Pushgateway, setPushgatewayDefaultRegistry, type PushableRegistry, type PushgatewayOptions } from './pushgateway.js';
import { MultiprocessRegistry } from '../scrape/registry.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Answer {
  status: number;
  body: string;
}

interface Gateway {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A server that records every request and answers `answer(request)`, or never when it gives undefined. */
async function startGateway(answer: (request: Received) => Answer | undefined = () => ({ status: 202, body: '' }), tls?: https.ServerOptions): Promise<Gateway> {
  const received: Received[] = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      received.push(request);
      const reply = answer(request);
      if (reply !== undefined) res.writeHead(reply.status).end(reply.body);
    });
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    received,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A request as the gateway sees it, with the framing headers (which differ on purpose) left out and the body decoded. */
function seen(request: Received): { method: string; url: string; headers: http.IncomingHttpHeaders; text: string } {
  const { host: _host, connection: _connection, 'content-length': _length, 'transfer-encoding': _chunked, ...headers } = request.headers;
  const gzipped = request.headers['content-encoding'] === 'gzip' && request.body.length > 0;
  return { method: request.method, url: request.url, headers, text: (gzipped ? gunzipSync(request.body) : request.body).toString('utf8') };
}

type Call = 'pushAdd' | 'push' | 'delete';
type Outcome = { ok: { status: number | undefined; body: unknown } } | { error: string };

interface Client {
  pushAdd(params?: unknown): Promise<{ resp?: unknown; body?: unknown }>;
  push(params?: unknown): Promise<{ resp?: unknown; body?: unknown }>;
  delete(params?: unknown): Promise<{ resp?: unknown; body?: unknown }>;
}

async function outcomeOf(client: Client, call: Call, params: unknown): Promise<Outcome> {
  try {
    const { resp, body } = await client[call](params);
    return { ok: { status: (resp as http.IncomingMessage).statusCode, body } };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function sampleRegistry(): Registry {
  const registry = new Registry();
  new Counter({ name: 'batch_jobs_total', help: 'Jobs done, "quoted" and ünïcode.', labelNames: ['queue'], registers: [registry] }).inc({ queue: 'mail' }, 3);
  new Gauge({ name: 'batch_last_success_seconds', help: 'Last success.', registers: [registry] }).set(1700000000.5);
  return registry;
}

/**
 * Runs the same call with our client and prom-client's, each against its own recording
 * server, and checks both sent the same request and got the same outcome.
 */
async function sideBySide(
  call: Call, params: unknown, options: (url: string) => { gatewayUrl: string; options?: PushgatewayOptions },
  answer?: (request: Received) => Answer | undefined,
): Promise<{ ours: Received[]; outcome: Outcome }> {
  const registry = sampleRegistry();
  const results = [];
  for (const make of [
    (url: string, given?: PushgatewayOptions) => new Pushgateway(url, given, registry),
    (url: string, given?: PushgatewayOptions) => new PromClientPushgateway(url, given, registry),
  ]) {
    const gateway = await startGateway(answer);
    try {
      const built = options(gateway.url);
      // Each client gets its own copy: prom-client's changes the headers object it is given.
      const given = built.options === undefined ? undefined : structuredClone(built.options);
      const outcome = await outcomeOf(make(built.gatewayUrl, given) as Client, call, params);
      results.push({ received: gateway.received, outcome });
    } finally {
      await gateway.close();
    }
  }
  const [ours, theirs] = results;
  assert.deepEqual(ours!.outcome, theirs!.outcome);
  assert.deepEqual(ours!.received.map(seen), theirs!.received.map(seen));
  return { ours: ours!.received, outcome: ours!.outcome };
}

const plain = (url: string) => ({ gatewayUrl: url });

describe('Pushgateway, side by side with prom-client', () => {
  it('pushAdd POSTs the registry\'s text exposition to /metrics/job/<job> and resolves with the response and its body', async () => {
    const { ours, outcome } = await sideBySide('pushAdd', { jobName: 'batch' }, plain, () => ({ status: 202, body: 'accepted' }));
    assert.equal(ours.length, 1);
    assert.equal(ours[0]!.method, 'POST');
    assert.equal(ours[0]!.url, '/metrics/job/batch');
    assert.equal(ours[0]!.body.toString(), await sampleRegistry().metrics());
    assert.deepEqual(outcome, { ok: { status: 202, body: 'accepted' } });
  });

  it('push PUTs and delete DELETEs without a body', async () => {
    const put = await sideBySide('push', { jobName: 'batch' }, plain);
    assert.equal(put.ours[0]!.method, 'PUT');
    assert.match(put.ours[0]!.body.toString(), /^batch_jobs_total\{queue="mail"\} 3$/m);
    const deleted = await sideBySide('delete', { jobName: 'batch' }, plain);
    assert.equal(deleted.ours[0]!.method, 'DELETE');
    assert.equal(deleted.ours[0]!.body.length, 0);
  });

  it('encodes the job and the groupings into the path, in the groupings\' order', async () => {
    const groupings = { instance: 'host:9100/a b', 'zone/é': 'eu?x=1#y', shard: 3 };
    const { ours } = await sideBySide('push', { jobName: 'nightly/backup', groupings }, plain);
    assert.equal(ours[0]!.url, '/metrics/job/nightly%2Fbackup/instance/host%3A9100%2Fa%20b/zone%2F%C3%A9/eu%3Fx%3D1%23y/shard/3');
  });

  it('keeps the gateway URL\'s path, drops its query and fragment, and a bare / adds nothing', async () => {
    const prefixed = await sideBySide('pushAdd', { jobName: 'j' }, (url) => ({ gatewayUrl: `${url}/proxy/pushgateway?token=x#frag` }));
    assert.equal(prefixed.ours[0]!.url, '/proxy/pushgateway/metrics/job/j');
    const slash = await sideBySide('pushAdd', { jobName: 'j' }, (url) => ({ gatewayUrl: `${url}/` }));
    assert.equal(slash.ours[0]!.url, '/metrics/job/j');
    // A trailing slash doubles, as with prom-client.
    const trailing = await sideBySide('pushAdd', { jobName: 'j' }, (url) => ({ gatewayUrl: `${url}/base/` }));
    assert.equal(trailing.ours[0]!.url, '/base//metrics/job/j');
  });

  it('throws at once without a jobName, unless requireJobName is false; then it pushes to /metrics', async () => {
    const registry = sampleRegistry();
    for (const call of ['pushAdd', 'push', 'delete'] as const) {
      for (const params of [undefined, {}, { jobName: '' }, { groupings: { a: 'b' } }]) {
        // A throw, not a rejected promise: assert.throws fails on a returned promise.
        assert.throws(() => new Pushgateway('http://127.0.0.1:1', {}, registry)[call](params as never), { message: 'Missing jobName parameter' });
        assert.throws(() => (new PromClientPushgateway('http://127.0.0.1:1', {}, registry) as Client)[call](params), { message: 'Missing jobName parameter' });
      }
    }
    const { ours } = await sideBySide('pushAdd', { groupings: { ignored: 'without a job' } }, (url) => ({ gatewayUrl: url, options: { requireJobName: false } }));
    assert.equal(ours[0]!.url, '/metrics');
  });

  it('passes the options to the request: headers, and user:password of the URL as basic auth', async () => {
    const { ours } = await sideBySide('push', { jobName: 'j' }, (url) => ({
      gatewayUrl: url.replace('://', '://us%40er:p%3Ass@'),
      options: { headers: { 'X-Tenant': 'blue', 'Content-Type': 'text/plain; version=0.0.4' } },
    }));
    assert.equal(ours[0]!.headers.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    assert.equal(ours[0]!.headers['x-tenant'], 'blue');
  });

  it('gzips the body when the headers say Content-Encoding: gzip, and drops that header for DELETE', async () => {
    const options = (url: string) => ({ gatewayUrl: url, options: { headers: { 'Content-Encoding': 'gzip' } } });
    const pushed = await sideBySide('pushAdd', { jobName: 'j' }, options);
    assert.equal(pushed.ours[0]!.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(pushed.ours[0]!.body).toString(), await sampleRegistry().metrics());
    const deleted = await sideBySide('delete', { jobName: 'j' }, options);
    assert.equal(deleted.ours[0]!.headers['content-encoding'], undefined);
  });

  it('rejects an answer of 400 or more with its status and body, and resolves a redirect as prom-client does', async () => {
    const failed = await sideBySide('push', { jobName: 'j' }, plain, () => ({ status: 500, body: 'storage full' }));
    assert.deepEqual(failed.outcome, { error: 'push failed with status 500, storage full' });
    const refused = await sideBySide('delete', { jobName: 'j' }, plain, () => ({ status: 404, body: '' }));
    assert.deepEqual(refused.outcome, { error: 'push failed with status 404, ' });
    const moved = await sideBySide('push', { jobName: 'j' }, plain, () => ({ status: 301, body: 'elsewhere' }));
    assert.deepEqual(moved.outcome, { ok: { status: 301, body: 'elsewhere' } });
  });

  it('gives up on a gateway that does not answer within the timeout option', async () => {
    const { outcome } = await sideBySide('push', { jobName: 'j' }, (url) => ({ gatewayUrl: url, options: { timeout: 200 } }), () => undefined);
    assert.deepEqual(outcome, { error: 'Pushgateway request timed out' });
  });
});

describe('Pushgateway, beyond prom-client', () => {
  it('rejects when nothing listens', async () => {
    const gateway = await startGateway();
    const url = gateway.url;
    await gateway.close();
    await assert.rejects(new Pushgateway(url, {}, sampleRegistry()).push({ jobName: 'j' }), { code: 'ECONNREFUSED' });
  });

  it('rejects with the registry\'s error, and connects nowhere, when metrics() fails', async () => {
    const gateway = await startGateway();
    try {
      const failing: PushableRegistry = { contentType: 'text/plain', metrics: () => Promise.reject(new Error('collect failed')) };
      await assert.rejects(new Pushgateway(gateway.url, {}, failing).pushAdd({ jobName: 'j' }), { message: 'collect failed' });
      assert.equal(gateway.received.length, 0);
    } finally {
      await gateway.close();
    }
  });

  it('recognises gzip in any letter case, and leaves the caller\'s headers as they were', async () => {
    const gateway = await startGateway();
    try {
      const headers = { 'content-encoding': 'GZip' };
      const client = new Pushgateway(gateway.url, { headers }, sampleRegistry());
      await client.push({ jobName: 'j' });
      await client.delete({ jobName: 'j' });
      await client.push({ jobName: 'j' });
      const [first, deleted, again] = gateway.received;
      assert.equal(gunzipSync(first!.body).toString(), await sampleRegistry().metrics());
      assert.equal(deleted!.headers['content-encoding'], undefined);
      assert.equal(gunzipSync(again!.body).toString(), await sampleRegistry().metrics());
      assert.deepEqual(headers, { 'content-encoding': 'GZip' });
    } finally {
      await gateway.close();
    }
  });

  it('pushes the registry wired as the default when given none, and says so when none is wired', async () => {
    // The library wires the global register when it loads; unwired, the constructor says what is missing.
    setPushgatewayDefaultRegistry(undefined);
    assert.throws(() => new Pushgateway('http://127.0.0.1:1'), { message: /Pushgateway needs a registry/ });
    const gateway = await startGateway();
    const registry = sampleRegistry();
    let asked = 0;
    setPushgatewayDefaultRegistry(() => {
      asked++;
      return registry;
    });
    try {
      const client = new Pushgateway(gateway.url);
      assert.equal(client.registry, registry);
      await client.pushAdd({ jobName: 'j' });
      assert.equal(gateway.received[0]!.body.toString(), await registry.metrics());
      assert.equal(asked, 1);
    } finally {
      setPushgatewayDefaultRegistry(globalRegister);
      await gateway.close();
    }
  });

  it('speaks HTTPS when the URL says so, with the TLS options given', async (t) => {
    const certDir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-push-tls-'));
    t.after(() => rmSync(certDir, { recursive: true, force: true }));
    try {
      await promisify(execFile)('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'),
      ]);
    } catch (error) {
      t.skip(`no openssl to make a certificate: ${(error as Error).message}`);
      return;
    }
    const cert = readFileSync(path.join(certDir, 'cert.pem'));
    const gateway = await startGateway(undefined, { key: readFileSync(path.join(certDir, 'key.pem')), cert });
    try {
      const { resp } = await new Pushgateway(gateway.url, { ca: cert }, sampleRegistry()).push({ jobName: 'secure' });
      assert.equal(resp.statusCode, 202);
      assert.equal(gateway.received[0]!.url, '/metrics/job/secure');
      // Without the CA the certificate is refused: the request really went through TLS.
      await assert.rejects(new Pushgateway(gateway.url, {}, sampleRegistry()).push({ jobName: 'secure' }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    } finally {
      await gateway.close();
    }
  });
});

describe('Pushgateway with the merge of a multiprocess directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-push-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A separate process that counts `n` jobs into the directory under `identity`, then exits. */
  async function runWriter(identity: string, n: number): Promise<void> {
    const fileStore = new URL('../storage/fileStore.js', import.meta.url).href;
    const counter = new URL('../metrics/counter.js', import.meta.url).href;
    const code = `
      const { FileStore } = await import(${JSON.stringify(fileStore)});
      const { Counter } = await import(${JSON.stringify(counter)});
      const store = new FileStore({ dir: ${JSON.stringify(dir)}, identity: ${JSON.stringify(identity)} });
      new Counter({ name: 'pushed_jobs_total', help: 'Jobs done by the workers.', labelNames: ['queue'], store, registers: [] }).inc({ queue: 'mail' }, ${n});
      store.flush();
      store.close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [status] = await once(child, 'exit') as [number | null];
      assert.equal(status, 0, `writer ${identity} failed: ${stderr}`);
    } finally {
      child.kill('SIGKILL');
    }
  }

  before(async () => {
    await Promise.all([runWriter('w1', 2), runWriter('w2', 5)]);
  });

  it('pushes every process\'s values, summed, in one request', async () => {
    const gateway = await startGateway();
    const registry = new MultiprocessRegistry({ dir });
    try {
      await new Pushgateway(gateway.url, {}, registry).push({ jobName: 'workers' });
      const body = gateway.received[0]!.body.toString();
      assert.match(body, /^pushed_jobs_total\{queue="mail"\} 7$/m);
      assert.equal(body, await registry.metrics());
    } finally {
      registry.close();
      await gateway.close();
    }
  });
});
