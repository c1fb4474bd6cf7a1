// The standalone exporter's limits, apart from its server: the CLI's option defaults and help
// name them, and a CLI that only scrapes should not load an HTTP server to print them.

// A scrape request is a request line and a few headers: anything larger is not a scraper.
// The timeouts end connections that send their headers or request too slowly (slowloris).
export const EXPORTER_LIMITS = {
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 256,
  defaultConcurrentScrapes: 4,
  retryAfterSeconds: 1,
} as const;
