// Problems that must not throw into the caller (a write that failed inside inc(), a bad file
// met during a scrape) are reported as process warnings, once per file and problem, so a
// recurring fault does not flood the log on every event-loop turn or scrape.

const WARNED_LIMIT = 10_000;
const warned = new Set<string>();

export type ProblemReporter = (error: Error) => void;

let customReporter: ProblemReporter | undefined;

/** Routes reports to `reporter` instead of process warnings (undefined restores the default). */
export function setProblemReporter(reporter: ProblemReporter | undefined): void {
  customReporter = reporter;
}

/** Reports `error` unless the same `onceKey` was reported before. Returns whether it reported. */
export function reportOnce(onceKey: string, error: Error): boolean {
  if (warned.has(onceKey)) return false;
  if (warned.size >= WARNED_LIMIT) warned.clear();
  warned.add(onceKey);
  if (customReporter !== undefined) {
    customReporter(error);
  } else {
    // No code: Node would print the error's class, "[Error]", before the name, as if it failed.
    process.emitWarning(error.message, { type: 'PromMultiprocWarning' });
  }
  return true;
}

/** Lets a fault that went away and came back be reported again. */
export function forgetReport(onceKey: string): void {
  warned.delete(onceKey);
}
