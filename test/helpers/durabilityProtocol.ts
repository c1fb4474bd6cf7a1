// What test/durability.test.ts and its child (durabilityChild.ts) agree on.

export type ChildMessage =
  /** Everything recorded so far is on disk: `total` events. */
  | { type: 'flushed'; total: number }
  /** `flushed` events are on disk; `pending` more were recorded in a turn that now never ends. */
  | { type: 'blocking'; flushed: number; pending: number }
  /** The 'handles-sigterm' child got SIGTERM and is still running, its own handler having kept it. */
  | { type: 'still-running'; total: number }
  /** The 'graceful-once' child's own SIGTERM handler began (then ended) its shutdown. */
  | { type: 'graceful'; phase: 'started' | 'done' };

/** The 'steady' child appends `<total> <Date.now()>` to this file after each turn's event. */
export const STEADY_LOG_VARIABLE = 'DURABILITY_STEADY_LOG';

export const SCENARIOS = [
  'stay-alive', 'rounds', 'block-turn', 'busy-then-idle', 'handles-sigterm', 'graceful-once', 'after-compaction', 'clock-step', 'steady',
  'reraise-in-handler', 'drain', 'process-exit', 'throw', 'reject', 'late-exit-listener',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Round r of the 'rounds' scenario records r + 1 events. */
export const ROUNDS = 20;
/** Events recorded in the turn that never ends, in the 'block-turn' scenario. */
export const PENDING_IN_BLOCKED_TURN = 7;
/** Observations alternate between 0.5 (exactly on the first bound) and 0.75 (in the second bucket). */
export const BUCKETS = [0.5, 1];

/** Events the 'reraise-in-handler' and 'late-exit-listener' children record while they end. */
export const RECORDED_WHILE_ENDING = 5;
