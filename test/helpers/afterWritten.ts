// When a child process may tell its parent that a value is on disk. The store writes a change
// at most WRITE_INTERVAL_MS after it was recorded (docs/durability.md); a timer set after the
// recording with a longer delay fires after the store's write timer, so a report sent from it
// only claims what is already in the files.
import { WRITE_INTERVAL_MS } from '../../packages/prom-multiproc/src/storage/fileStore.js';

export function afterWritten(then: () => void): void {
  setTimeout(then, WRITE_INTERVAL_MS + 1);
}

export function written(): Promise<void> {
  return new Promise((resolve) => afterWritten(resolve));
}
