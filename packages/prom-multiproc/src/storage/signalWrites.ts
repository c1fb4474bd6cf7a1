// A terminating signal that the application does not handle ends a Node process on the spot,
// without the 'exit' event that writes what is pending. So the main thread listens to the
// signals a supervisor stops a process with: it writes, then, if the application has no
// listener of its own, ends the process by the same signal, as it would have ended without
// us (the same exit status for the parent). With a listener of the application's, what
// happens next is the application's to decide, as before.
import { isMainThread } from 'node:worker_threads';

const TERMINATING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

const writers = new Set<() => void>();
let installed = false;

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
      if (process.listenerCount(signal) > 1) return;
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
