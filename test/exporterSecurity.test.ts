// Issue "security", the exporter part: `prom-multiproc serve` / startExporter binds loopback
// unless told otherwise, can require a bearer token or basic-auth users (read from files,
// compared in constant time), refuses request bodies and oversized headers, and answers 503
// with Retry-After beyond its number of concurrent scrapes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Counter, FileStore, startExporter, type RunningExporter } from '../packages/prom-multiproc/src/index.js';
import { EXPORTER_LIMITS } from '../packages/prom-multiproc/src/exporter/exporter.js';
import { repoRoot } from './helpers/fixtures.js';
import { scratchDirectories } from './helpers/scratch.js';

const cli = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
const tempDir = scratchDirectories('prom-multiproc-exporter-sec-');

let dir: string;
const running: RunningExporter[] = [];
before(() => {
  dir = tempDir();
  const store = new FileStore({ dir, identity: '1' });
  new Counter({ name: 'served_total', help: 'Served.', store, registers: [] }).inc(5);
  store.close();
});
after(async () => {
  for (const exporter of running) await exporter.close();
});

async function exporter(options: Partial<Parameters<typeof startExporter>[0]> = {}): Promise<RunningExporter> {
  const started = await startExporter({ dir, port: 0, ...options });
  running.push(started);
  return started;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection, with whatever headers and body the case needs. */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; path?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(options.path ?? '/metrics', url);
    const req = httpRequest(target, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the exporter: where it listens', () => {
  it('binds 127.0.0.1 unless told otherwise', async () => {
    const { server } = await exporter();
    assert.equal((server.address() as { address: string }).address, '127.0.0.1');
  });

  it('binds the address it is given', async () => {
    const { server, url } = await exporter({ host: '0.0.0.0' });
    assert.equal((server.address() as { address: string }).address, '0.0.0.0');
    assert.equal((await send(url.replace('0.0.0.0', '127.0.0.1'))).status, 200);
  });
});

describe('the exporter: bearer token', () => {
  let url: string;
  before(async () => ({ url } = await exporter({ bearerToken: 's3cret-token' })));

  it('serves a request with the token', async () => {
    const answer = await send(url, { headers: { authorization: 'Bearer s3cret-token' } });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^served_total 5$/m);
  });

  for (const [what, header] of [
    ['no Authorization header', undefined],
    ['another token', 'Bearer s3cret-tokeN'],
    ['a prefix of the token', 'Bearer s3cret'],
    ['the token plus more', 'Bearer s3cret-token2'],
    ['the token as basic credentials', basic('s3cret-token', '')],
    ['an empty bearer', 'Bearer '],
  ] as const) {
    it(`refuses ${what} with 401 and a challenge, on every path`, async () => {
      for (const pathname of ['/metrics', '/healthz', '/elsewhere']) {
        const answer = await send(url, { path: pathname, ...(header === undefined ? {} : { headers: { authorization: header } }) });
        assert.equal(answer.status, 401, pathname);
        assert.equal(answer.headers['www-authenticate'], 'Bearer realm="prom-multiproc"');
        assert.doesNotMatch(answer.body, /served_total/);
      }
    });
  }

  it('does not take the token from the query string', async () => {
    assert.equal((await send(url, { path: '/metrics?token=s3cret-token' })).status, 401);
  });
});

describe('the exporter: basic auth', () => {
  let url: string;
  before(async () => ({ url } = await exporter({ basicAuth: [{ user: 'prometheus', password: 'pa:ss wörd' }, { user: 'grafana', password: 'other' }] })));

  it('serves each configured user (a colon and non-ASCII in the password included)', async () => {
    assert.equal((await send(url, { headers: { authorization: basic('prometheus', 'pa:ss wörd') } })).status, 200);
    assert.equal((await send(url, { headers: { authorization: basic('grafana', 'other') } })).status, 200);
  });

  for (const [what, header] of [
    ['a wrong password', basic('prometheus', 'pa:ss word')],
    ['one user with the password of another', basic('grafana', 'pa:ss wörd')],
    ['an unknown user', basic('root', 'other')],
    ['no colon', `Basic ${Buffer.from('prometheus').toString('base64')}`],
    ['garbage', 'Basic %%%'],
    ['a bearer token', 'Bearer other'],
  ] as const) {
    it(`refuses ${what}`, async () => {
      const answer = await send(url, { headers: { authorization: header } });
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers['www-authenticate']), /^Basic realm="prom-multiproc"/);
    });
  }
});

describe('the exporter: request limits', () => {
  let url: string;
  before(async () => ({ url } = await exporter()));

  it('refuses a request body, by length or chunked, with 413 and closes the connection', async () => {
    const sized = await send(url, { headers: { 'content-length': '11' }, body: 'hello world' });
    assert.equal(sized.status, 413);
    assert.equal(sized.headers.connection, 'close');
    const chunked = await send(url, { headers: { 'transfer-encoding': 'chunked' }, body: 'x'.repeat(1000) });
    assert.equal(chunked.status, 413);
  });

  it('refuses other methods with 405', async () => {
    assert.equal((await send(url, { method: 'DELETE' })).status, 405);
  });

  it('refuses headers larger than its limit with 431, and keeps serving', async () => {
    const answer = await send(url, { headers: { 'x-padding': 'x'.repeat(EXPORTER_LIMITS.maxHeaderBytes + 1) } });
    assert.equal(answer.status, 431);
    assert.equal((await send(url)).status, 200);
  });

  it('survives a client that sends half a request and goes away, and garbage', async () => {
    for (const payload of ['GET /metrics HTTP/1.1\r\nHost: x\r\n', '\u0000\u0001\u0002 not http\r\n\r\n', 'GET /' + '%'.repeat(100) + ' HTTP/1.1\r\n\r\n']) {
      await new Promise<void>((resolve) => {
        const address = new URL(url);
        const socket = connect(Number(address.port), address.hostname, () => socket.end(payload));
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
        socket.resume();
      });
    }
    assert.equal((await send(url)).status, 200);
  });

  it('sets header and request timeouts against slow clients', async () => {
    const { server } = await exporter();
    assert.equal(server.headersTimeout, EXPORTER_LIMITS.headersTimeoutMs);
    assert.equal(server.requestTimeout, EXPORTER_LIMITS.requestTimeoutMs);
    assert.equal(server.maxConnections, EXPORTER_LIMITS.maxConnections);
  });
});

describe('the exporter: concurrent scrapes', () => {
  it('answers 503 with Retry-After beyond its limit, and serves again once the scrapes are done', async () => {
    // Enough files that a scrape spans many event-loop turns, so the requests overlap.
    const busy = tempDir();
    for (let i = 0; i < 300; i++) {
      const store = new FileStore({ dir: busy, identity: `w${i}` });
      const counter = new Counter({ name: 'busy_total', help: 'Busy.', labelNames: ['n'], store, registers: [] });
      for (let n = 0; n < 20; n++) counter.labels(String(n)).inc();
      store.close();
    }
    const { url } = await exporter({ dir: busy, maxConcurrentScrapes: 1 });
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(url)));
    const refused = answers.filter((answer) => answer.status === 503);
    const served = answers.filter((answer) => answer.status === 200);
    assert.ok(served.length >= 1, 'at least one scrape is served');
    assert.ok(refused.length >= 1, `at least one of 6 simultaneous scrapes is refused (got ${answers.map((answer) => answer.status).join(', ')})`);
    for (const answer of refused) assert.equal(answer.headers['retry-after'], String(EXPORTER_LIMITS.retryAfterSeconds));
    for (const answer of served) assert.match(answer.body, /^busy_total\{n="0"\} 300$/m);
    assert.equal((await send(url)).status, 200);
  });
});

describe('prom-multiproc serve: credentials options', { timeout: 60_000 }, () => {
  function runServe(args: string[]): Promise<{ url?: string; code: number | null; stderr: string; stop(): Promise<number | null> }> {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--dir', dir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return new Promise((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const match = /on (http:\/\/\S+)\/metrics/.exec(line);
        if (match) {
          resolve({ url: match[1]!, code: null, stderr, stop: () => (child.kill('SIGTERM'), exited) });
        }
      });
      void exited.then((code) => resolve({ code, stderr, stop: () => exited }));
    });
  }

  it('--bearer-token-file: requires the token of the file', async () => {
    const tokenFile = path.join(tempDir(), 'token');
    writeFileSync(tokenFile, 'from-a-file\n', { mode: 0o600 });
    const served = await runServe(['--bearer-token-file', tokenFile]);
    assert.ok(served.url, served.stderr);
    assert.equal((await send(served.url)).status, 401);
    assert.equal((await send(served.url, { headers: { authorization: 'Bearer from-a-file' } })).status, 200);
    assert.equal(await served.stop(), 0);
  });

  it('--basic-auth-file: requires one of the users of the file; warns when others can read the file', async () => {
    const usersFile = path.join(tempDir(), 'users');
    writeFileSync(usersFile, '# scrapers\nprometheus:one\n\nvmagent:two\n');
    chmodSync(usersFile, 0o644);
    const served = await runServe(['--basic-auth-file', usersFile]);
    assert.ok(served.url, served.stderr);
    assert.equal((await send(served.url, { headers: { authorization: basic('vmagent', 'two') } })).status, 200);
    assert.equal((await send(served.url, { headers: { authorization: basic('vmagent', 'one') } })).status, 401);
    assert.equal(await served.stop(), 0);
    assert.match(served.stderr, /can be read by other users \(mode 644\); run "chmod 600/);
  });

  for (const [what, content, message] of [
    ['an empty token file', '', /is empty/],
    ['a token file of two lines', 'a\nb\n', /white space or several lines/],
    ['a basic-auth line without a colon', 'prometheus\n', /is not "user:password"/],
    ['a bcrypt hash', 'prometheus:$2y$05$abcdefghijklmnopqrstuv\n', /hashed password/],
  ] as const) {
    it(`exits with 2, naming the file, for ${what}`, async () => {
      const file = path.join(tempDir(), 'credentials');
      writeFileSync(file, content, { mode: 0o600 });
      const option = what.includes('token') ? '--bearer-token-file' : '--basic-auth-file';
      const result = await runServe([option, file]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }

  it('exits with 2 when given both kinds of credentials, or a bad --max-concurrent-scrapes', async () => {
    const file = path.join(tempDir(), 'token');
    writeFileSync(file, 'x\n', { mode: 0o600 });
    const users = path.join(tempDir(), 'users');
    writeFileSync(users, 'a:b\n', { mode: 0o600 });
    assert.equal((await runServe(['--bearer-token-file', file, '--basic-auth-file', users])).code, 2);
    assert.equal((await runServe(['--max-concurrent-scrapes', '0'])).code, 2);
  });
});
