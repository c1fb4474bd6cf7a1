// The process-manager hook for PM2. PM2's cluster mode runs the workers' parent inside its own
// daemon, where no library can register an exit handler, and the 'exit' events it publishes
// on its bus name the app and its pm_id but not the pid that exited (during `pm2 reload` the
// old worker is reported as `_old_<pm_id>`). So the hook uses the bus only as a trigger: on
// every exit it asks the operating system which of the pids named in the directory are gone,
// and marks those dead. The same sweep runs when the hook starts and on a timer, so an exit
// missed while the hook or PM2's bus was down is caught up.
import * as fs from 'node:fs';
import { pidIsGone } from '../lifecycle/compaction/pidIsGone.js';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { isLiveMode, parseFileName } from '../format/fileNames.js';
import { markProcessDead } from '../lifecycle/processes.js';
import { reportOnce } from '../common/report.js';
import { directoryFromEnvironment } from '../storage/defaultStore.js';

/** A PM2 bus event (`process:event`): the app and pm_id it concerns, and what happened. */
export interface Pm2ProcessEvent {
  event: string;
  process: { name?: string; pm_id?: number | string };
}

interface Pm2Bus {
  on(event: 'process:event', listener: (packet: Pm2ProcessEvent) => void): unknown;
}

/**
 * The parts of the `pm2` module the hook uses (`import pm2 from 'pm2'` fits), so that PM2 is
 * not a dependency of this library.
 */
export interface Pm2Api {
  launchBus(callback: (error: Error | null, bus: Pm2Bus) => void): void;
  /** Present on the module although PM2's typings leave it out. */
  disconnectBus?(callback?: (error?: Error | null) => void): void;
}

export interface Pm2ExitWatchOptions {
  /** The shared directory; PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) by default. */
  dir?: string;
  /** A sweep every this many milliseconds besides the one on each exit event; 0 for none. Default 15000. */
  sweepIntervalMs?: number;
  /** Called with the files each sweep removed (for logging). */
  onRemoved?: (files: string[]) => void;
}

export interface Pm2ExitWatch {
  /** Stops the timer and closes the bus connection. */
  close(): Promise<void>;
}

/**
 * Marks dead every process whose live gauge files are in the directory and whose pid no longer
 * runs on this host (its worker threads' `<pid>-t<n>` files too); returns the files removed.
 * Only for the default identity, the pid: a file named by another identity (a
 * NODE_APP_INSTANCE such as `2`) would be taken for a pid, so do not sweep a directory whose
 * writers chose their identity.
 */
export function markExitedProcessesDead(dir?: string): string[] {
  const directory = dir ?? directoryFromEnvironment();
  if (directory === undefined) {
    throw new MultiprocessDirectoryError('markExitedProcessesDead needs the metrics directory: pass it, or set PROM_MULTIPROC_DIR', '');
  }
  const candidates = new Set<string>();
  for (const name of fs.readdirSync(directory)) {
    const parsed = parseFileName(name);
    if (parsed?.mode !== undefined && isLiveMode(parsed.mode)) candidates.add(parsed.id);
  }
  const removed: string[] = [];
  for (const id of candidates) {
    if (pidIsGone(id)) removed.push(...markProcessDead(id, directory));
  }
  return removed;
}

/**
 * The PM2 counterpart of setupClusterMetrics' exit hook, for a small process beside the PM2
 * apps (an app of the same ecosystem file, typically the one that serves /metrics): connects
 * to PM2's event bus and marks exited workers dead. Resolves once connected (PM2's client waits
for a daemon that is not up yet, so this does too). It does not
 * clean the directory; do that before `pm2 start` (`prom-multiproc clean`), since this
 * process may start after the workers have created their files.
 */
export function watchPm2Exits(pm2: Pm2Api, options: Pm2ExitWatchOptions = {}): Promise<Pm2ExitWatch> {
  const dir = options.dir ?? directoryFromEnvironment();
  if (dir === undefined) {
    return Promise.reject(new MultiprocessDirectoryError('watchPm2Exits needs a directory: pass { dir } or set PROM_MULTIPROC_DIR', ''));
  }
  const sweep = (): void => {
    try {
      const removed = markExitedProcessesDead(dir);
      if (removed.length > 0) options.onRemoved?.(removed);
    } catch (error) {
      reportOnce(`pm2-sweep\u0000${dir}`, error as Error);
    }
  };
  return new Promise((resolve, reject) => {
    pm2.launchBus((error, bus) => {
      if (error) {
        reject(error);
        return;
      }
      bus.on('process:event', (packet) => {
        if (packet.event === 'exit') sweep();
      });
      sweep();
      const interval = options.sweepIntervalMs ?? 15_000;
      // Unreferenced: the bus connection is what keeps a hook process alive, not this timer.
      const timer = interval > 0 ? setInterval(sweep, interval).unref() : undefined;
      resolve({
        close: () =>
          new Promise<void>((done) => {
            clearInterval(timer);
            if (pm2.disconnectBus === undefined) done();
            else pm2.disconnectBus(() => done());
          }),
      });
    });
  });
}
