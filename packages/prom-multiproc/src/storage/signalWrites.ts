// A terminating signal that the application does not handle ends a Node process on the spot,
// without the 'exit' event that writes what is pending. So the main thread listens to the
// signals a supervisor stops a process with, writes, and leaves the outcome to whoever else
// listens, as if it had not been there:
// - its listener runs first (prepended), before an application's once-listener removes itself;
// - it then removes itself, so that a library that ends the process only when it is the last
//   listener (signal-exit, used by proper-lockfile) still does;
// - with no other listener it ends the process by the same signal, as Node would have (the
//   parent sees the same exit status); otherwise it listens again for the next signal.
// The listeners after it may record and end the process in the same synchronous run (signal-exit
// runs its callbacks, then raises the signal again with nobody left to catch it), so until that
// run is over every change is written as it is made (see isProcessEnding).
import { isMainThread } from 'node:worker_threads';

const TERMINATING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

const writers = new Set<() => void>();
let installed = false;
let endingForGood = false;
let endingThisTurn = false;

/**
 * True once the process may end before another write is scheduled: in its 'exit' event, and
 * while the other listeners of a terminating signal run. Stores then write each change at once.
 */
export function isProcessEnding(): boolean {
  return endingForGood || endingThisTurn;
}

/** From the 'exit' event on, nothing runs after this turn: every later change is written at once. */
export function markProcessExiting(): void {
  endingForGood = true;
}

/** Runs `write` when a terminating signal arrives in the main thread. Returns the undo. */
export function writeBeforeSignalEnds(write: () => void): () => void {
  if (!isMainThread) return () => {}; // signals reach the main thread only
  install();
  writers.add(write);
  return () => writers.delete(write);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of TERMINATING_SIGNALS) {
    const onSignal = (): void => {
      for (const write of writers) write();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) {
        process.kill(process.pid, signal);
        return;
      }
      // Another listener decides. Node calls the listeners of this signal it had when the signal
      // came, so listening again happens after them.
      endingThisTurn = true;
      setImmediate(() => {
        endingThisTurn = false;
        process.prependListener(signal, onSignal);
      });
    };
    process.prependListener(signal, onSignal);
  }
}
