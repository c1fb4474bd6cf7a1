import { createRequire } from 'node:module';

/**
 * A Node built-in module, loaded on first use. Some built-ins (cluster, child_process, http,
 * perf_hooks) cost a few hundred KB each once loaded; only some entry points need them, so a
 * worker that imports the package to record values does not load them at all. Synchronous,
 * unlike import(), so that synchronous functions can use it.
 */
export function builtin<T>(name: `node:${string}`): T {
  return loadBuiltin(name) as T;
}

// process.getBuiltinModule came with Node 20.16; before it, a require() from any path finds built-ins.
const loadBuiltin: (name: string) => unknown =
  (process as { getBuiltinModule?: (name: string) => unknown }).getBuiltinModule?.bind(process) ?? createRequire(`${process.cwd()}/`);
