// What test/summaryQuantiles.test.ts and its quantileWriterChild processes share.
import { quantileKey } from '../../packages/prom-multiproc/src/storage/summaryQuantiles.js';

export type Distribution = 'latency' | 'uniform' | 'signed' | 'bimodal';

export type ParentMessage = { type: 'observe'; count: number } | { type: 'stream'; ms: number } | { type: 'end' };
export type ChildMessage = { type: 'ready' } | { type: 'observed'; total: number } | { type: 'streamed'; total: number };

const HELP = 'Job durations';

/** The series every child observes into, with prom-client's default percentiles. */
export function sharedKey(): string {
  return quantileKey('job_seconds', ['queue'], ['all'], HELP);
}

/** A series only this child observes into. */
export function ownKey(identity: string): string {
  return quantileKey('job_seconds', ['queue'], [identity], HELP);
}
export const OWN_PERCENTILES = [0, 0.25, 0.5, 0.75, 1];

/** A series with a window, to age out at the scrape. */
export function windowedKey(): string {
  return quantileKey('job_recent_seconds', [], [], 'Recent job durations');
}
export const WINDOW = { maxAgeSeconds: 60, ageBuckets: 3 };
