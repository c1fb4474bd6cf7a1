// Messages between test/threads.test.ts, the pool process (threadPool.ts) and its threads
// (threadTask.ts).

/** How a task's thread ends after the task (undefined: it stays for the next task). */
export type Ending = 'terminate' | 'throw' | 'exit';

/** Pool process → thread. */
export type ToThread = { type: 'task'; id: number; events: number; then?: Ending } | { type: 'stop' };

/** Thread → pool process. */
export type FromThread =
  | { type: 'ready'; identity: string; threadId: number }
  | { type: 'done'; id: number; events: number };

/** Pool process → test. */
export type FromPool =
  | { type: 'paused'; pid: number; live: string[]; ended: { identity: string; how: Ending }[] }
  | { type: 'finished'; pid: number; tasks: number; events: number; lastWords: number }
  | { type: 'failed'; error: string };

/** Test → pool process. */
export type ToPool = { type: 'finish' };

export const POOL_SIZE = 3;
export const TASKS_PER_PROCESS = 16;

/** The events of task i, and how its thread ends: every few tasks, one way or another. */
export function taskPlan(i: number): { events: number; then?: Ending } {
  const events = 1 + ((i * 7) % 13);
  const then: Ending | undefined = i % 8 === 2 ? 'terminate' : i % 8 === 5 ? 'throw' : i % 12 === 7 ? 'exit' : undefined;
  return then === undefined ? { events } : { events, then };
}

/** The buckets of pool_task_events. */
export const TASK_BUCKETS = [1, 5, 10];
