// How a command ends: its exit code, and why it failed in words saying what to do when the
// cause is one the user can fix. Shared by the parser's commands and cli.ts's plain scrape.
import { MetricConfigurationError, MultiprocessDirectoryError } from '../common/errors.js';
import { setProblemReporter } from '../common/report.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Why `serve` could not listen, with what to do; undefined for other errors. */
function explainListen(error: NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string }): string | undefined {
  if (error.syscall === 'getaddrinfo') {
    return `cannot listen on --host ${error.hostname}: no such address or host name (${error.code}); pass an address of this host, e.g. --host 127.0.0.1 or --host 0.0.0.0`;
  }
  if (error.syscall !== 'listen' && error.syscall !== 'bind') return undefined;
  const host = error.address?.includes(':') ? `[${error.address}]` : error.address;
  const where = error.port === undefined ? host : `${host}:${error.port}`; // no port when it was 0 (any)
  switch (error.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is in use by another process; stop that process, or choose another port with --port`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${error.address} is not an address of this host; pass one of its addresses with --host (127.0.0.1, or 0.0.0.0 for all)`;
    case 'EACCES':
      return `cannot listen on ${where}: this user may not listen on port ${error.port} (ports below 1024 need privileges); choose a port of 1024 or more with --port`;
    default:
      return `cannot listen on ${where}: ${error.code}; check --host and --port`;
  }
}

/** The message for an error whose cause the user can fix; undefined for a bug (shown with its stack). */
export function explain(error: unknown): string | undefined {
  if (error instanceof MultiprocessDirectoryError || error instanceof MetricConfigurationError) return error.message;
  const listening = explainListen(error as NodeJS.ErrnoException);
  if (listening !== undefined) return listening;
  const { code, path } = error as NodeJS.ErrnoException;
  if (code === 'ENOENT') return `${path} does not exist; check --dir or PROM_MULTIPROC_DIR ("prom-multiproc clean" creates the directory)`;
  if (code === 'ENOTDIR') return `${path} is not a directory; pass the metrics directory with --dir or PROM_MULTIPROC_DIR`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied on ${path}; run as the user that writes the metrics, or change its permissions`;
  return undefined;
}

/**
 * Runs a command: 0 when it ends, else the failure explained on stderr and `exitCodeOf(error)`
 * (the parser's own errors, already printed), or 1.
 */
export async function commandOutcome(run: () => Promise<unknown>, exitCodeOf: (error: unknown) => number | undefined = () => undefined): Promise<number> {
  // The library's warnings (a skipped file, a lock-less writer) are not failures: the command
  // goes on, and they read as warnings rather than as Node's process warnings.
  setProblemReporter((problem) => process.stderr.write(`warning: ${problem.message}\n`));
  try {
    await run();
    return 0;
  } catch (error) {
    const code = exitCodeOf(error);
    if (code !== undefined) return code;
    const explained = explain(error);
    process.stderr.write(`prom-multiproc: ${explained ?? (error as Error).stack ?? String(error)}\n`);
    return EXIT_FAILURE;
  }
}
