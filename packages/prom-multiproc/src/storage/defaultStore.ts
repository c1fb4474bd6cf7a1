import * as path from 'node:path';
import { MetricConfigurationError, MultiprocessDirectoryError } from '../common/errors.js';
import { identityOfThisThread } from '../directory/identity.js';
import { reportOnce } from '../common/report.js';
import { FileStore } from './fileStore.js';
import { MemoryStore } from './memoryStore.js';
import type { SeriesStore } from './store.js';

export interface MultiprocessSettings {
  /** The shared directory; by default PROM_MULTIPROC_DIR, then PROMETHEUS_MULTIPROC_DIR. */
  dir?: string;
  /**
   * This process's identity in file names: process.pid by default. A stable identity (a
   * cluster worker id, PM2's NODE_APP_INSTANCE) keeps the file count bounded when workers
   * are replaced. It must be unique among the processes writing the directory at one time.
   * Also read from PROM_MULTIPROC_IDENTITY (a systemd template unit's %i, for instance).
   * In a worker thread a string or number gets `-t<threadId>` appended (threads share the
   * environment and usually the configuring code); a function's result is used as it is.
   */
  identity?: string | number | (() => string | number);
  /**
   * How often a process runs its metrics' `collect()` callbacks on its own, so that the values
   * they set reach its files for scrapes served by other processes (milliseconds; default
   * 10000, also read from PROM_MULTIPROC_COLLECT_INTERVAL_MS; 0 turns it off). A scrape runs
   * the callbacks of the scraping process's metrics as well.
   */
  collectIntervalMs?: number;
}

interface DefaultState {
  settings: MultiprocessSettings;
  store: SeriesStore | undefined;
  /** Metrics created before the store was, which take it when it is created. */
  waiting: Set<() => void>;
}

// On globalThis, so that an ESM and a CommonJS copy of the library loaded into one process
// share one store instead of writing the same files from two places.
const STATE_KEY = Symbol.for('prom-multiproc.default-store.v1');

function state(): DefaultState {
  const holder = globalThis as { [STATE_KEY]?: DefaultState };
  return (holder[STATE_KEY] ??= { settings: {}, store: undefined, waiting: new Set() });
}

/**
 * The directory from the environment: PROM_MULTIPROC_DIR, else PROMETHEUS_MULTIPROC_DIR.
 * Warns (once) when both are set to different directories.
 */
export function directoryFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const ours = env.PROM_MULTIPROC_DIR || undefined;
  const python = env.PROMETHEUS_MULTIPROC_DIR || undefined;
  if (ours !== undefined && python !== undefined && path.resolve(ours) !== path.resolve(python)) warnOfTwoDirectories(ours, python);
  return ours ?? python;
}

// Python workers started in the same environment write where the second variable says, so the
// two sides would each scrape half of the fleet without an error anywhere.
function warnOfTwoDirectories(ours: string, python: string): void {
  reportOnce(`two-directories\u0000${ours}\u0000${python}`, new MultiprocessDirectoryError(
    `PROM_MULTIPROC_DIR=${ours} and PROMETHEUS_MULTIPROC_DIR=${python} name different directories: prom-multiproc uses the first, ` +
      "while Python's prometheus_client (any Python worker in this environment) writes to the second, so neither side's scrape sees the other's metrics. " +
      'Set both to the same directory, or unset the one you do not mean.',
    ours,
  ));
}

/**
 * Sets the directory and identity of this process's metrics. Call it before the first metric
 * is created; the environment is read then, not when the library is imported.
 */
export function configure(settings: MultiprocessSettings): void {
  const current = state();
  if (current.store !== undefined) {
    throw new MetricConfigurationError(
      'configure() was called after the first metric recorded a value, or a scrape ran, so values already go to ' +
        (current.store.dir ?? 'memory only') + '. Call configure() before any metric records a value.',
    );
  }
  current.settings = { ...current.settings, ...settings };
}

/** The store every metric uses unless given one: files in multiprocess mode, memory otherwise. */
export function defaultStore(): SeriesStore {
  const current = state();
  checkLateDirectory();
  if (current.store === undefined) {
    const { dir = directoryFromEnvironment(), identity = identityFromEnvironment() } = current.settings;
    const resolvedIdentity = typeof identity === 'function' ? identity() : identity === undefined ? undefined : identityOfThisThread(identity);
    current.store = dir !== undefined ? new FileStore({ dir, identity: resolvedIdentity }) : new MemoryStore({ identity: resolvedIdentity });
    const waiting = [...current.waiting];
    current.waiting.clear();
    for (const bind of waiting) bind();
  }
  return current.store;
}

/**
 * A process whose first value was recorded before PROM_MULTIPROC_DIR was set keeps its values
 * in memory: say so (once), rather than leave its counts out of every other process's scrape.
 * Checked when a metric takes the store and at every scrape.
 */
export function checkLateDirectory(): void {
  const store = state().store;
  if (store === undefined || store.dir !== undefined) return;
  const dir = directoryFromEnvironment();
  if (dir === undefined) return;
  reportOnce(`late-directory\u0000${dir}`, new MultiprocessDirectoryError(
    `PROM_MULTIPROC_DIR (or PROMETHEUS_MULTIPROC_DIR) was set to ${dir} after this process (identity ${store.identity}) recorded its first value, ` +
      'so its metrics stay in this process\'s memory and are missing from the merge of the directory. ' +
      'Set the variable before the process starts (or call configure({ dir }) before any metric records a value).',
    dir,
  ));
}

/**
 * The directory the default store writes (or would write, once created): configure()'s, else
 * the environment's. Undefined in single-process mode.
 */
export function configuredDirectory(): string | undefined {
  const current = state();
  if (current.store !== undefined) return current.store.dir;
  return current.settings.dir ?? directoryFromEnvironment();
}

/**
 * Runs `bind` when the default store is created (at the first value any metric records, or a
 * scrape). A metric created before the directory is known waits this way, so that an import
 * that runs before the entry file sets PROM_MULTIPROC_DIR still writes to the directory.
 * Returns a function that stops waiting.
 */
export function whenDefaultStoreCreated(bind: () => void): () => void {
  const current = state();
  current.waiting.add(bind);
  return () => current.waiting.delete(bind);
}

const DEFAULT_COLLECT_INTERVAL_MS = 10_000;

/** See MultiprocessSettings.collectIntervalMs. */
export function collectIntervalMs(): number {
  const configured = state().settings.collectIntervalMs ?? process.env.PROM_MULTIPROC_COLLECT_INTERVAL_MS;
  if (configured === undefined || configured === '') return DEFAULT_COLLECT_INTERVAL_MS;
  const value = Number(configured);
  if (!Number.isFinite(value) || value < 0) {
    throw new MetricConfigurationError(`collectIntervalMs must be a number of milliseconds, 0 or more (got ${JSON.stringify(configured)})`);
  }
  return value;
}

function identityFromEnvironment(): string | undefined {
  return process.env.PROM_MULTIPROC_IDENTITY || undefined;
}

/**
 * The identity of this process as configured, without a thread's suffix: what its worker
 * threads append `-t<threadId>` to. Undefined when the identity is a function (threads are
 * then named by that function).
 */
export function configuredProcessIdentity(): string | undefined {
  const { identity = identityFromEnvironment() } = state().settings;
  if (typeof identity === 'function') return undefined;
  return String(identity ?? process.pid);
}

/** The default store if one was created; a scrape in this process flushes it first. */
export function existingDefaultStore(): SeriesStore | undefined {
  return state().store;
}

/** Closes the default store and forgets the settings, so tests can start over. */
export function resetDefaultStore(): void {
  const current = state();
  current.store?.close();
  current.store = undefined;
  current.settings = {};
  current.waiting.clear();
}
