// Real Python writers for the mixed-fleet tests: prometheus_client made importable by
// tools/ensure-python-client.mjs (the one python3 has, or 0.26.0 pip-installed into .tmp/python
// on first use, which takes seconds to a minute), and the environment to spawn python3 with.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from './fixtures.js';

export interface PythonClient {
  /** The interpreter to spawn. */
  python: string;
  /** Its environment: PYTHONPATH leads to the installed client when python3 had none. */
  env: NodeJS.ProcessEnv;
  version: string;
}

let ensured: Promise<PythonClient> | undefined;

/** Once per test process. */
export function ensurePythonClient(): Promise<PythonClient> {
  ensured ??= new Promise((resolve, reject) => {
    const script = path.join(repoRoot, 'tools', 'ensure-python-client.mjs');
    execFile(process.execPath, [script], { timeout: 600_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${script} failed: ${error.message}\n${stderr.slice(-4000)}`));
        return;
      }
      const found = JSON.parse(stdout.trim().split('\n').pop()!) as { python: string; pythonPath: string | null; version: string };
      const env = { ...process.env };
      if (found.pythonPath !== null) env.PYTHONPATH = [found.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
      resolve({ python: found.python, env, version: found.version });
    });
  });
  return ensured;
}
