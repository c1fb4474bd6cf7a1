// How a process and its worker threads name their files. The threads of a process share its
// pid, its environment and usually its configuration code, so a thread adds its own thread id
// to the identity it would otherwise have; the main thread keeps the plain one, so nothing
// changes for single-threaded processes. `-t` rather than `_`: Python's collector splits file
// names on `_`, and must still find `<pid>-t<thread>` whole in the `pid` label.
import { isMainThread, threadId } from 'node:worker_threads';

/** The identity of worker thread `thread` of the process whose identity is `processIdentity`. */
export function threadIdentity(processIdentity: string | number, thread: number): string {
  return `${processIdentity}-t${thread}`;
}

/** A configured process identity, as this thread uses it: unchanged in the main thread. */
export function identityOfThisThread(processIdentity: string | number): string {
  return isMainThread ? String(processIdentity) : threadIdentity(processIdentity, threadId);
}

/** The identity when none is configured: the pid, plus the thread id in a worker thread. */
export function defaultIdentity(): string {
  return identityOfThisThread(process.pid);
}
