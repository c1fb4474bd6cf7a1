// Child processes a test suite starts: each one's stderr and exit are kept, and whatever still
// runs when the suite ends is killed, so a failing test leaves no process behind.
import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

export interface Tracked {
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Returns `track`, which registers a child (whose stderr is piped) for this suite. */
export function childTracker(): (child: ChildProcess) => Tracked {
  const running = new Set<ChildProcess>();
  after(() => {
    for (const child of running) child.kill('SIGKILL');
  });
  return (child) => {
    running.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
    return { ended, stderr: () => stderr };
  };
}
