// Polls until a probe finds what a test waits for (anything but undefined), or gives up with a
// message naming it, and whatever `explain` adds (a log, the last answer).

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  { every = 250, explain = () => '' }: { every?: number; explain?: () => string } = {},
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await sleep(every);
  }
}
