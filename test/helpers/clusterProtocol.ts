// The messages between test/cluster.test.ts, its cluster primary (clusterPrimary.ts) and the
// workers (clusterWorker.ts). A worker reports what it recorded, so the test can compute the
// merged scrape from the reports alone and compare it with what the files give.

/** Everything one worker recorded, operation by operation. */
export interface Contribution {
  /** cluster_requests_total{route, status}: one entry per inc(). */
  requests: { route: string; status: string; amount: number }[];
  /** cluster_bytes_total: one entry per inc(). */
  bytes: number[];
  /** The final value of each unlabelled gauge, by multiprocess mode. */
  gauges: { all: number; liveall: number; max: number; livemax: number; min: number };
  /** cluster_queue_depth{queue} (livesum): the final value per queue. */
  queueDepth: Record<string, number>;
  /** cluster_latency_seconds{method}: one entry per observe(). */
  latency: { method: string; value: number }[];
  /** cluster_payload_bytes (summary): one entry per observe(). */
  payload: number[];
}

export interface WorkerReport {
  workerId: number;
  pid: number;
  did: Contribution;
}

/** A mostrecent gauge set, with wall-clock milliseconds read just before and after it. */
export interface MostRecentSet {
  workerId: number;
  pid: number;
  value: number;
  before: number;
  after: number;
}

/** Primary → test. */
export type PrimaryMessage =
  | { type: 'ready'; workers: WorkerReport[]; mostRecent: MostRecentSet[] }
  | { type: 'dead'; pid: number; signal: string | null; removed: string[] }
  | { type: 'failed'; error: string };

/** Test → primary. */
export type TestMessage = { type: 'shutdown' };

/** Worker → primary. */
export type WorkerMessage = { type: 'report'; report: WorkerReport } | { type: 'mostrecent-set'; set: MostRecentSet };

/** Primary → worker. */
export type PrimaryToWorkerMessage = { type: 'set-mostrecent'; value: number };

export const WORKER_COUNT = 4;
export const LATENCY_BUCKETS = [0.1, 0.5, 1, 5];
