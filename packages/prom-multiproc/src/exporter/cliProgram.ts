// The prom-multiproc command's parser (commander) and its commands: argument parsing and printing
// only; the work is the library's. cli.ts runs a plain `scrape --dir` without loading it.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { EXIT_USAGE, commandOutcome } from './cliOutcome.js';
import { printScrape } from './cliScrape.js';
import { identityProblem } from '../format/fileNames.js';
import { EXPORTER_LIMITS } from './exporterLimits.js';
import { readBasicAuthFile, readBearerTokenFile } from './exporterAuth.js';
// Each command loads what it runs when it runs (import() in its action): a one-shot `scrape`
// would otherwise spend a good part of its time loading the exporter (its HTTP server and
// middleware), compaction and the rest. The environment's directory too: reading it is the
// writer side's (storage/defaultStore.ts), a dozen modules that --dir does without.

/** The text after a command's options: where the directory comes from, exit codes, examples. */
function helpAfter(examples: string[], note?: string): string {
  return [
    '',
    'The directory is --dir, else PROM_MULTIPROC_DIR, else PROMETHEUS_MULTIPROC_DIR.',
    ...(note === undefined ? [] : ['', note]),
    '',
    'Exit codes:',
    '  0  success',
    '  1  failure (the directory cannot be read, created or cleaned; the message says why)',
    '  2  usage error (unknown command or option, no directory given)',
    '',
    examples.length === 1 ? 'Example:' : 'Examples:',
    ...examples.map((example) => `  $ ${example}`),
  ].join('\n');
}

async function directoryOf(command: Command): Promise<string> {
  const dir = (command.opts() as { dir?: string }).dir ?? (await import('../storage/defaultStore.js')).directoryFromEnvironment();
  if (dir === undefined || dir === '') {
    command.error('no metrics directory: pass --dir <path>, or set PROM_MULTIPROC_DIR (or PROMETHEUS_MULTIPROC_DIR)', {
      exitCode: EXIT_USAGE,
      code: 'prom-multiproc.noDirectory',
    });
  }
  return dir;
}

/**
 * The directory, checked before any work: a command meeting a missing or unusable directory
 * deep inside would name a file in it, or (the compactors' lock) retry for half a minute.
 */
async function usableDirectory(command: Command, use: 'read' | 'change'): Promise<string> {
  const dir = await directoryOf(command);
  // A missing path throws ENOENT here, which explain() words with the fix.
  if (!statSync(dir).isDirectory()) {
    throw new MultiprocessDirectoryError(`${dir} is not a directory; pass the metrics directory with --dir or PROM_MULTIPROC_DIR`, dir);
  }
  try {
    accessSync(dir, use === 'change' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.X_OK);
  } catch {
    const uid = process.getuid?.() ?? '?';
    throw new MultiprocessDirectoryError(
      use === 'change'
        ? `${dir} is not writable by this user (uid ${uid}); ${command.name()} changes files there: run it as the user that writes the metrics, or change the directory's permissions`
        : `${dir} is not readable by this user (uid ${uid}); run ${command.name()} as the user that writes the metrics, or in its group`,
      dir,
    );
  }
  return dir;
}

async function clean(_options: unknown, command: Command): Promise<void> {
  const dir = await directoryOf(command);
  const existed = existsSync(dir);
  const { cleanDirectory } = await import('../lifecycle/processes.js');
  const result = cleanDirectory(dir);
  if (!existed) console.log(`created ${result.dir}`);
  else console.log(`removed ${result.removed.length} metrics file${result.removed.length === 1 ? '' : 's'} from ${result.dir}`);
  for (const { file, reason } of result.kept) console.log(`kept ${file}: ${reason}`);
}

async function scrape(options: { openmetrics?: boolean }, command: Command): Promise<void> {
  await printScrape(await directoryOf(command), options.openmetrics === true);
}

function processIdentity(id: string): string {
  const problem = identityProblem(id);
  if (problem !== undefined) throw new InvalidArgumentError(`Not a process identity: ${problem}.`);
  return id;
}

async function markDead(id: string, _options: unknown, command: Command): Promise<void> {
  // The library treats a missing directory as "nothing to remove"; here it is more likely a typo.
  const dir = await usableDirectory(command, 'change');
  const { markProcessDead } = await import('../lifecycle/processes.js');
  const removed = markProcessDead(id, dir);
  if (removed.length === 0) console.log(`no live gauge files of process ${id} in ${dir}`);
  for (const file of removed) console.log(`removed ${file}`);
}

async function compact(options: { dead?: string[]; detectDeadPids: boolean }, command: Command): Promise<void> {
  const dir = await usableDirectory(command, 'change');
  const { compactDirectory } = await import('../lifecycle/compaction/compact.js');
  const result = await compactDirectory(dir, { dead: options.dead ?? [], detectDeadPids: options.detectDeadPids });
  if (result.folded.length === 0) console.log(`nothing to fold in ${dir} (archive generation ${result.generation})`);
  else console.log(`folded ${result.folded.length} dead process(es) into archive generation ${result.generation}, removed ${result.filesRemoved} files from ${dir}`);
}

function portNumber(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('Not a port number (0 to 65535).');
  return port;
}

interface ServeOptions {
  port: number;
  host: string;
  bearerTokenFile?: string;
  basicAuthFile?: string;
  maxConcurrentScrapes: number;
  /** false with --no-exit-with-parent. */
  exitWithParent: boolean;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('Not a positive integer.');
  return value;
}

/** Reads a credentials file when the option is parsed, so a bad file is a usage error (exit 2) naming it. */
function credentialsFile<T>(read: (file: string) => T): (file: string) => string {
  return (file) => {
    try {
      read(file);
    } catch (error) {
      throw new InvalidArgumentError(`${(error as Error).message}.`);
    }
    return file;
  };
}

async function serve(options: ServeOptions, command: Command): Promise<void> {
  const dir = await usableDirectory(command, 'read');
  if (options.bearerTokenFile !== undefined && options.basicAuthFile !== undefined) {
    command.error('choose one of --bearer-token-file and --basic-auth-file', { exitCode: EXIT_USAGE, code: 'prom-multiproc.twoAuth' });
  }
  const { startExporter } = await import('./exporter.js');
  const exporter = await startExporter({
    dir,
    port: options.port,
    host: options.host,
    maxConcurrentScrapes: options.maxConcurrentScrapes,
    ...(options.bearerTokenFile === undefined ? {} : { bearerToken: readBearerTokenFile(options.bearerTokenFile) }),
    ...(options.basicAuthFile === undefined ? {} : { basicAuth: readBasicAuthFile(options.basicAuthFile) }),
  });
  const auth = options.bearerTokenFile !== undefined ? ' (bearer token required)' : options.basicAuthFile !== undefined ? ' (basic auth required)' : '';
  console.log(`serving ${dir} on ${exporter.url}/metrics${auth}`);
  // Graceful: stop accepting, let scrapes in progress finish, then exit 0.
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(parentWatch);
      console.log(`${reason}: stopping`);
      exporter.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    const parentWatch = options.exitWithParent === false ? undefined : watchParent(() => stop('parent process exited'));
  });
}

// npx (and `npm exec`, or a shell) does not pass SIGTERM on to the command it runs: when a
// supervisor stops it, the exporter would be left serving, re-parented. A changed parent pid
// tells. The parent is the one at start-up: one that went while the exporter was starting
// counts too. (A process started by init, parent pid 1, has no parent to lose.)
const PARENT_POLL_MS = 500;
const parentAtStart = process.ppid;

function watchParent(onGone: () => void): NodeJS.Timeout | undefined {
  if (parentAtStart <= 1) return undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parentAtStart) onGone();
  }, PARENT_POLL_MS);
  timer.unref();
  return timer;
}

function buildProgram(version: string): Command {
  const program = new Command('prom-multiproc')
    .description('Maintain and read the shared directory of multiprocess Prometheus metrics.')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`prom-multiproc: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', helpAfter(['prom-multiproc clean --dir /run/app-metrics', 'PROM_MULTIPROC_DIR=/run/app-metrics prom-multiproc scrape']));

  program
    .command('clean')
    .description('Create the directory if missing, and remove the metrics files of earlier runs (only those: a running writer\'s files are kept, and listed). Run once before the service starts, before any writer of either language.')
    .option('--dir <path>', 'the metrics directory')
    .addHelpText('after', helpAfter(['prom-multiproc clean --dir /run/app-metrics && node server.js']))
    .action(clean);

  program
    .command('scrape')
    .description('Print the merged metrics of every process, as a /metrics endpoint would serve them.')
    .option('--dir <path>', 'the metrics directory')
    .option('--openmetrics', 'print the OpenMetrics format instead of the Prometheus text format')
    .addHelpText('after', helpAfter([
      'prom-multiproc scrape --dir /run/app-metrics | grep http_requests',
      // Written aside and renamed, so node_exporter's textfile collector never reads half a file.
      'prom-multiproc scrape --dir /run/app-metrics > textfile/app.prom.tmp && mv textfile/app.prom.tmp textfile/app.prom',
    ], 'Unreadable files are skipped with a warning on stderr; the exit code stays 0.'))
    .action(scrape);

  program
    .command('mark-dead')
    .description('Remove the live-mode gauge files of a process that exited, so its live gauges leave the merge; its counters, histograms and summaries stay.')
    .argument('<id>', 'the process identity in the file names (its pid, unless it configured another)', processIdentity)
    .option('--dir <path>', 'the metrics directory')
    .addHelpText('after', helpAfter(['prom-multiproc mark-dead 4242 --dir /run/app-metrics']))
    .action(markDead);

  program
    .command('compact')
    .description('Fold the files of dead processes into one archive file per kind, so the directory stops growing under worker recycling. Safe while workers write and scrapes read.')
    .option('--dir <path>', 'the metrics directory')
    .option('--dead <id...>', 'identities known to be dead (from the process manager)', (id: string, previous: string[] = []) => [...previous, processIdentity(id)])
    .option('--no-detect-dead-pids', 'do not treat identities that are pids of processes gone from this host as dead (use when containers or hosts share the directory)')
    .addHelpText('after', helpAfter([
      'prom-multiproc compact --dir /run/app-metrics',
      'prom-multiproc compact --dir /shared/metrics --no-detect-dead-pids --dead web-3 web-7',
    ], 'Dead means: named with --dead, or (by default) an identity that is the pid of a process no longer running on this host.'))
    .action(compact);

  program
    .command('serve')
    .description('Serve the merged directory over HTTP on /metrics (and /healthz), for deployments where no worker serves it; Python workers\' directories too.')
    .option('--dir <path>', 'the metrics directory')
    .option('--port <port>', 'the port to listen on', portNumber, 9464)
    .option('--host <address>', 'the address to bind; 0.0.0.0 to be reachable from other hosts', '127.0.0.1')
    .option('--bearer-token-file <path>', 'require "Authorization: Bearer <token>", the token being the content of this file', credentialsFile(readBearerTokenFile))
    .option('--basic-auth-file <path>', 'require HTTP basic auth by one of the users of this file of "user:password" lines', credentialsFile(readBasicAuthFile))
    .option('--max-concurrent-scrapes <n>', 'scrapes merged at once; more are answered 503 with Retry-After', positiveInteger, EXPORTER_LIMITS.defaultConcurrentScrapes)
    .option('--no-exit-with-parent', 'keep serving when the parent process exits (by default the exporter stops, so one started through npx or a shell is not left behind)')
    .addHelpText('after', helpAfter([
      'prom-multiproc serve --dir /run/app-metrics --port 9464',
      'prom-multiproc serve --dir /run/app-metrics --host 0.0.0.0 --bearer-token-file /etc/app/metrics-token',
    ], 'SIGTERM or SIGINT stops it gracefully: scrapes in progress finish, then it exits with 0. So does the exit of its parent process\n' +
      '(npx does not pass SIGTERM on); under a supervisor, run the bin directly or with exec (exec npx prom-multiproc serve ...).\n' +
      'Credentials come from files (mode 0600), never from the command line, which other users can read.\n' +
      `Requests with a body or more than ${EXPORTER_LIMITS.maxHeaderBytes} bytes of headers are refused.`))
    .action(serve);

  return program;
}

/** Runs the command line `argv` (node's, the script first); `version` is the package's, for --version. */
export function main(argv: string[], version: string): Promise<number> {
  // Commander has printed its own message (or the help, or the version) already.
  return commandOutcome(
    () => buildProgram(version).parseAsync(argv),
    (error) => (error instanceof CommanderError ? (error.exitCode === 0 ? 0 : EXIT_USAGE) : undefined),
  );
}
