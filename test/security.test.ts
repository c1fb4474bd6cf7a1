// Issue "security": nothing let in. A hostile user who can write the metrics directory cannot
// make a worker write elsewhere (symlinks, hard links, FIFOs planted under its file names);
// files are created 0640; an unsafe directory is reported with the fix; `clean` and
// `mark-dead` remove only the library's regular files, inside the directory; and no label
// value or help text can add a line or a series to the exposition, in the text format or in
// OpenMetrics, as checked by a strict parser, by promtool, and by a real Prometheus scraping it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  Counter, FileStore, Gauge, Histogram, MultiprocessRegistry, cleanDirectory, markProcessDead, startExporter,
} from '../packages/prom-multiproc/src/index.js';
import { repoRoot } from './helpers/fixtures.js';
import { ensurePrometheus, startPrometheus, type PrometheusTools } from './helpers/prometheusServer.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { parseExposition, seriesKey, type ParsedFamily } from './helpers/stressExposition.js';

const cli = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
const tempDir = scratchDirectories('prom-multiproc-security-');
const warnings = capturedWarnings();

function warningsSince(mark: number): string[] {
  return warnings.slice(mark);
}

const isRoot = process.getuid?.() === 0;
const posix = process.platform !== 'win32';

describe('worker files in a directory others can write', { skip: posix ? false : 'POSIX file modes and links' }, () => {
  it('creates every file 0640 (less what the umask removes)', () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: '7' });
    new Counter({ name: 'mode_total', help: 'h', store, registers: [] }).inc();
    new Gauge({ name: 'mode_gauge', help: 'h', multiprocessMode: 'livesum', store, registers: [] }).set(1);
    new Histogram({ name: 'mode_seconds', help: 'h', store, registers: [] }).observe(1);
    store.close();
    const files = ['counter_7.db', 'gauge_livesum_7.db', 'histogram_7.db'];
    for (const name of files) assert.equal(statSync(path.join(dir, name)).mode & 0o777, 0o640 & ~process.umask(), name);
  });

  // What a hostile user plants under the name a worker is about to open, aimed at a file of the victim's.
  const plants: { what: string; plant(file: string, victim: string): void; reason: RegExp }[] = [
    { what: 'a symlink to a file outside the directory', plant: (file, victim) => symlinkSync(victim, file), reason: /ELOOP|symbolic link/ },
    { what: 'a dangling symlink to a path outside the directory', plant: (file, victim) => symlinkSync(`${victim}.new`, file), reason: /ELOOP|symbolic link/ },
    { what: 'a hard link to a file outside the directory', plant: (file, victim) => linkSync(victim, file), reason: /hard links/ },
    { what: 'a FIFO', plant: (file) => assert.equal(spawnSync('mkfifo', [file]).status, 0), reason: /not a regular file/ },
  ];
  for (const { what, plant, reason } of plants) {
    it(`does not write through ${what} planted under its file name; inc() still works`, () => {
      const dir = tempDir();
      const victim = path.join(tempDir(), 'victim.conf');
      writeFileSync(victim, 'precious\n');
      plant(path.join(dir, 'counter_9.db'), victim);
      const mark = warnings.length;
      const store = new FileStore({ dir, identity: '9' });
      const counter = new Counter({ name: 'planted_total', help: 'h', store, registers: [] });
      counter.inc(3);
      store.flush();
      store.close();
      assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the victim file is untouched');
      assert.equal(existsSync(`${victim}.new`), false, 'nothing was created outside the directory');
      const about = warningsSince(mark).filter((message) => message.includes('counter_9.db'));
      assert.equal(about.length, 1, about.join('\n'));
      assert.match(about[0]!, reason);
    });
  }
});

describe('the directory\'s owner and mode are checked', { skip: posix ? false : 'POSIX file modes' }, () => {
  function warningsFor(dir: string, mode: number, setup: (dir: string) => void = () => {}): string[] {
    chmodSync(dir, mode);
    setup(dir);
    const mark = warnings.length;
    new FileStore({ dir, identity: '1' }).close();
    return warningsSince(mark).filter((message) => message.includes(dir));
  }

  it('says nothing about a directory only its owner can write (0700, 0750, 0755)', () => {
    for (const mode of [0o700, 0o750, 0o755]) assert.deepEqual(warningsFor(tempDir(), mode), [], mode.toString(8));
  });

  it('warns once when every user can write it, with the fix', () => {
    const dir = tempDir();
    const found = warningsFor(dir, 0o777);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0]!, /every local user can write the metrics directory .* \(mode 0777, no sticky bit\).*chmod o-w/);
    new FileStore({ dir, identity: '2' }).close();
    assert.equal(warnings.filter((message) => message.includes(dir)).length, 1, 'once per directory, not per store');
  });

  it('warns about squatting in a sticky world-writable directory (1777, like /tmp)', () => {
    const found = warningsFor(tempDir(), 0o1777);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0]!, /every local user can create files in the metrics directory .*mode 1777/);
  });

  it('warns when the group can write it without the sticky bit (0770), not with it (1770)', () => {
    assert.match(warningsFor(tempDir(), 0o770).join('\n'), /members of group \d+ can write .*chmod g-w/);
    assert.deepEqual(warningsFor(tempDir(), 0o1770), []);
  });

  it('warns when another user owns it', { skip: isRoot ? false : 'chown needs root' }, () => {
    const found = warningsFor(tempDir(), 0o755, (dir) => chownSync(dir, 65534, 65534));
    assert.match(found.join('\n'), /belongs to uid 65534, not to this process's uid 0/);
  });

  it('the exporter checks the directory it serves too', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const mark = warnings.length;
    const exporter = await startExporter({ dir, port: 0 });
    await exporter.close();
    assert.match(warningsSince(mark).join('\n'), /every local user can write the metrics directory/);
  });
});

describe('clean and mark-dead remove only the library\'s regular files, inside the directory', { skip: posix ? false : 'symlinks' }, () => {
  function layout(): { dir: string; outside: string; outsideFiles: string[] } {
    const dir = tempDir();
    const outside = tempDir();
    const outsideFiles = ['target-counter', 'target-gauge', 'target-hardlink', 'target-lock'].map((name) => path.join(outside, name));
    for (const file of outsideFiles) writeFileSync(file, `${path.basename(file)}\n`);
    // Identities w1 and w4, not pids: clean keeps a file named by the pid of a running process (1 and 4 are).
    writeFileSync(path.join(dir, 'counter_w1.db'), Buffer.alloc(64));
    writeFileSync(path.join(dir, 'gauge_livesum_w1.db'), Buffer.alloc(64));
    symlinkSync(outsideFiles[0]!, path.join(dir, 'counter_2.db'));
    symlinkSync(outsideFiles[1]!, path.join(dir, 'gauge_livesum_3.db'));
    linkSync(outsideFiles[2]!, path.join(dir, 'counter_w4.db'));
    symlinkSync(outsideFiles[3]!, path.join(dir, '.lock-5'));
    symlinkSync(outside, path.join(dir, 'gauge_liveall_6.db'));
    mkdirSync(path.join(dir, 'histogram_7.db'));
    writeFileSync(path.join(dir, 'histogram_7.db', 'inside'), 'x');
    for (const name of ['notes.txt', 'counter_1.db.bak', 'counter_1.db.corrupt-1', 'counter_x_y.db', '.hidden']) writeFileSync(path.join(dir, name), 'keep\n');
    return { dir, outside, outsideFiles };
  }

  function assertOutsideIntact(outsideFiles: string[]): void {
    for (const file of outsideFiles) assert.equal(readFileSync(file, 'utf8'), `${path.basename(file)}\n`, `${file} untouched`);
  }

  it('cleanDirectory: removes the regular metrics files, keeps links, directories and other names, follows nothing', () => {
    const { dir, outsideFiles } = layout();
    const { removed } = cleanDirectory(dir);
    assert.deepEqual(removed.map((file) => path.basename(file)).sort(), ['counter_w1.db', 'counter_w4.db', 'gauge_livesum_w1.db']);
    assertOutsideIntact(outsideFiles);
    for (const kept of ['counter_2.db', 'gauge_livesum_3.db', '.lock-5', 'gauge_liveall_6.db', 'histogram_7.db', 'notes.txt', 'counter_1.db.bak', 'counter_1.db.corrupt-1', 'counter_x_y.db', '.hidden']) {
      assert.ok(existsSync(path.join(dir, kept)) || lstatSync(path.join(dir, kept)).isSymbolicLink(), `${kept} is kept`);
    }
    assert.ok(existsSync(path.join(dir, 'histogram_7.db', 'inside')), 'nothing is removed inside a directory named like a file');
  });

  it('markProcessDead: removes a dead process\'s regular live-gauge files only, follows nothing', () => {
    const { dir, outsideFiles } = layout();
    assert.deepEqual(markProcessDead('w1', dir).map((file) => path.basename(file)), ['gauge_livesum_w1.db']);
    assert.deepEqual(markProcessDead('3', dir), []);
    assert.deepEqual(markProcessDead('6', dir), []);
    assertOutsideIntact(outsideFiles);
    assert.ok(lstatSync(path.join(dir, 'gauge_livesum_3.db')).isSymbolicLink());
    assert.ok(existsSync(path.join(dir, 'counter_w1.db')), 'counters stay');
  });

  it('markProcessDead: an identity cannot name a path', () => {
    const dir = tempDir();
    const parent = path.dirname(dir);
    for (const identity of ['../x', 'a/b', '/etc/passwd', '..\\x', '']) {
      assert.throws(() => markProcessDead(identity, dir), /identity|cannot mark/, identity);
    }
    // Dots are allowed in an identity, but only ever make a name inside the directory.
    writeFileSync(path.join(parent, 'gauge_livesum_...db'), 'outside\n');
    assert.deepEqual(markProcessDead('..', dir), []);
    assert.equal(readFileSync(path.join(parent, 'gauge_livesum_...db'), 'utf8'), 'outside\n');
    rmSync(path.join(parent, 'gauge_livesum_...db'));
  });

  it('cleanDirectory refuses a symlink to a directory, and the file system root', () => {
    const real = tempDir();
    writeFileSync(path.join(real, 'counter_1.db'), Buffer.alloc(64));
    const link = path.join(tempDir(), 'link');
    symlinkSync(real, link);
    assert.throws(() => cleanDirectory(link), /symbolic link/);
    assert.ok(existsSync(path.join(real, 'counter_1.db')));
    assert.throws(() => cleanDirectory(path.parse(process.cwd()).root), /file system root/);
  });

  it('the CLI does the same: clean and mark-dead follow nothing', () => {
    const { dir, outsideFiles } = layout();
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args, '--dir', dir], { encoding: 'utf8' });
    assert.equal(run('mark-dead', '3').status, 0);
    assert.equal(run('clean').status, 0);
    assertOutsideIntact(outsideFiles);
    assert.equal(run('mark-dead', '../x').status, 2, 'an identity that is a path is a usage error');
  });
});

// Label values and help texts an attacker controls (a route, a user agent, an error message).
const HOSTILE_VALUES = [
  'a"b', 'c\\d', 'e\nf', '}{', '# HELP x y', 'é中😀', '', 'a,b=c', '\\n', '\\"', '"', '\\', '\r\t', '\u0000nul', '\ud800x',
  'x"} 1\ninjected_total{evil="1"} 99\n# EOF\n',
];
const HOSTILE_HELP = 'Help "quoted", back\\slash, new\nline\n# TYPE evil counter\nevil 1';

function hostileDirectory(): string {
  const dir = tempDir();
  const store = new FileStore({ dir, identity: '1' });
  const counter = new Counter({ name: 'hostile_total', help: HOSTILE_HELP, labelNames: ['value'], store, registers: [] });
  const gauge = new Gauge({ name: 'hostile_gauge', help: HOSTILE_HELP, labelNames: ['value'], multiprocessMode: 'max', store, registers: [] });
  const histogram = new Histogram({ name: 'hostile_seconds', help: HOSTILE_HELP, labelNames: ['value'], buckets: [1], store, registers: [] });
  HOSTILE_VALUES.forEach((value, i) => {
    counter.labels(value).inc(i + 1);
    gauge.labels(value).set(i + 1);
    histogram.labels(value).observe(i);
  });
  store.close();
  return dir;
}

/** What a value becomes in UTF-8: a lone surrogate turns into U+FFFD on the way out. */
const asSent = (value: string) => Buffer.from(value, 'utf8').toString('utf8');

function checkFamilies(families: ParsedFamily[], format: 'text' | 'openmetrics'): void {
  const names = families.map((family) => family.name).filter((name) => name.startsWith('hostile'));
  assert.deepEqual(names, format === 'text' ? ['hostile_total', 'hostile_gauge', 'hostile_seconds'] : ['hostile', 'hostile_gauge', 'hostile_seconds']);
  assert.deepEqual(families.filter((family) => !family.name.startsWith('hostile') && !family.name.startsWith('prom_multiproc_')), [], 'no injected family');
  for (const family of families.filter((each) => each.name.startsWith('hostile'))) {
    assert.equal(family.help, HOSTILE_HELP, `${family.name} help`);
    const values = new Set(family.samples.map((sample) => sample.labels.value));
    assert.deepEqual([...values].sort(), HOSTILE_VALUES.map(asSent).sort(), `${family.name} label values`);
  }
  const counter = families.find((family) => family.name.startsWith('hostile') && family.type === 'counter')!;
  assert.equal(counter.samples.length, HOSTILE_VALUES.length, 'one series per value, none injected');
  HOSTILE_VALUES.forEach((value, i) => {
    assert.equal(counter.samples.find((sample) => sample.labels.value === asSent(value))?.value, i + 1, JSON.stringify(value));
  });
}

/** The exposition as a client receives it: encoded to UTF-8 and decoded again. */
async function exposition(dir: string, format: 'text' | 'openmetrics'): Promise<string> {
  const contentType = format === 'text' ? Registry.PROMETHEUS_CONTENT_TYPE : Registry.OPENMETRICS_CONTENT_TYPE;
  return asSent(await new MultiprocessRegistry({ dir, contentType }).metrics());
}


describe('escaping: no label value or help text adds a line or a series', { timeout: 90_000 }, () => {
  let dir: string;
  let tools: PrometheusTools | string;
  before(async () => {
    dir = hostileDirectory();
    // Installs them where it can (tools/ensure-prometheus.mjs); where it cannot, the test that needs them says why it skips.
    tools = await ensurePrometheus().catch((error: Error) => error.message);
  });

  for (const format of ['text', 'openmetrics'] as const) {
    it(`${format}: parses back, strictly, to exactly the values and help that went in`, async () => {
      checkFamilies(parseExposition(await exposition(dir, format), format), format);
    });
  }

  it('text: promtool check metrics accepts it', async (t) => {
    if (typeof tools === 'string') return t.skip(tools);
    const result = spawnSync(tools.promtool, ['check', 'metrics'], { input: await exposition(dir, 'text'), encoding: 'utf8' });
    // promtool's lint also complains about naming style (exit 3); a parse error is exit 1.
    assert.notEqual(result.status, 1, `${result.stdout}${result.stderr}`);
    assert.doesNotMatch(`${result.stdout}${result.stderr}`, /error while linting|parse error|text format parsing error/i);
  });

  it('OpenMetrics: a quote in HELP is escaped, as the OpenMetrics grammar requires', async () => {
    const help = (await exposition(dir, 'openmetrics')).split('\n').filter((line) => line.startsWith('# HELP hostile'));
    for (const line of help) assert.doesNotMatch(line.replace(/\\\\|\\"/g, ''), /"/, line);
  });

  it('a real Prometheus scraping both formats stores exactly these series and help texts', async (t) => {
    if (typeof tools === 'string') return t.skip(tools);
    const text = await exposition(dir, 'text');
    const openMetrics = await exposition(dir, 'openmetrics');
    const target: Server = createServer((req, res) => {
      const om = req.url === '/om';
      res.setHeader('Content-Type', om ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
      res.end(om ? openMetrics : text);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const targetPort = (target.address() as AddressInfo).port;
    const prometheus = await startPrometheus(tools.prometheus, tempDir(), ['text', 'om'].map((job) => ({
      name: job, target: `127.0.0.1:${targetPort}`, metricsPath: `/${job}`,
    })));
    try {
      const api = async (query: string) => ((await (await fetch(`${prometheus.url}/api/v1/${query}`)).json()) as { data: unknown }).data;
      type Series = Record<string, string>[];
      let series: Series = [];
      for (const deadline = Date.now() + 45_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 500))) {
        try {
          series = (await api(`series?match[]=${encodeURIComponent('{__name__=~"hostile.*"}')}`)) as Series;
          const jobs = new Set(series.map((labels) => labels.job));
          if (jobs.has('text') && jobs.has('om') && series.length >= 2 * HOSTILE_VALUES.length) break;
        } catch {
          // not listening yet
        }
      }
      const targets = (await api('targets')) as { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
      for (const active of targets.activeTargets) assert.deepEqual([active.health, active.lastError], ['up', ''], `job ${active.labels.job}`);
      for (const job of ['text', 'om']) {
        const counters = series.filter((labels) => labels.job === job && labels.__name__ === 'hostile_total');
        // Prometheus treats an empty label value as no label.
        assert.deepEqual(counters.map((labels) => labels.value ?? '').sort(), HOSTILE_VALUES.map(asSent).sort(), `${job}: the counter's label values`);
        const keys = series.filter((labels) => labels.job === job).map(({ job: _job, instance: _instance, __name__: name, ...labels }) => seriesKey(name!, labels));
        assert.ok(keys.every((key) => key.startsWith('hostile')), `${job}: only hostile_* series`);
        const metadata = (await api(`targets/metadata?match_target=${encodeURIComponent(`{job="${job}"}`)}`)) as { metric: string; help: string }[];
        const helps = metadata.filter((entry) => entry.metric.startsWith('hostile'));
        assert.ok(helps.length >= 3, `${job}: metadata of the three families`);
        for (const entry of helps) assert.equal(entry.help, HOSTILE_HELP, `${job}: help of ${entry.metric}`);
      }
      t.diagnostic(`Prometheus stored ${series.length} series from the text and OpenMetrics scrapes, with the values exactly as written`);
    } finally {
      await prometheus.stop();
      target.close();
    }
  });
});
