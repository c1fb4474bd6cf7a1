#!/usr/bin/env node
// Makes Python's prometheus_client importable for the tests that run real Python writers
// beside Node ones. Uses the one python3 can import already when it writes the file format
// this library follows (0.25 and later); otherwise installs prometheus_client 0.26.0 with pip
// into .tmp/python in the repository (--target: no venv module or root needed, and Debian's
// "externally managed" guard does not apply), which the tests then put on PYTHONPATH.
// Idempotent, and quick once done. Prints one JSON line on stdout,
// {"python": command, "pythonPath": dir or null, "version": "x.y.z"}; progress goes to stderr.
//
//   node tools/ensure-python-client.mjs          (PYTHON=/path/to/python3 to use another interpreter)
//
// Exit codes: 0 found or installed, 1 not possible here (the message says what is missing).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '0.26.0';
// 0.25 changed nothing in the files since, and is the format this library writes.
const OLDEST_SAME_FORMAT = [0, 25];
const root = fileURLToPath(new URL('../', import.meta.url));
const target = path.join(root, '.tmp', 'python');
const python = process.env.PYTHON || 'python3';

function fail(message) {
  process.stderr.write(`ensure-python-client: ${message}\n`);
  process.exit(1);
}

/** The version python imports with `pythonPath` first on its path, or undefined when it cannot. */
function importableVersion(pythonPath) {
  const env = { ...process.env };
  if (pythonPath !== null) env.PYTHONPATH = [pythonPath, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  const result = spawnSync(python, ['-c', 'import importlib.metadata as m, prometheus_client; print(m.version("prometheus_client"))'], {
    encoding: 'utf8',
    env,
  });
  if (result.error?.code === 'ENOENT') fail(`${python} is not on PATH: install Python 3 with pip (apt-get install python3 python3-pip), or set PYTHON`);
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function sameFormat(version) {
  const [major, minor] = version.split('.').map(Number);
  return major > OLDEST_SAME_FORMAT[0] || (major === OLDEST_SAME_FORMAT[0] && minor >= OLDEST_SAME_FORMAT[1]);
}

function report(pythonPath, version) {
  process.stdout.write(`${JSON.stringify({ python, pythonPath, version })}\n`);
  process.exit(0);
}

/** pip into a directory of its own, renamed into place: test files run at once never share a half-done install. */
function install() {
  const partial = `${target}.partial-${process.pid}`;
  mkdirSync(path.dirname(target), { recursive: true });
  rmSync(partial, { recursive: true, force: true });
  const args = ['-m', 'pip', 'install', '--target', partial, '--no-input', '--disable-pip-version-check', `prometheus_client==${VERSION}`];
  process.stderr.write(`ensure-python-client: ${python} ${args.join(' ')}\n`);
  // A user's PIP_USER or require-virtualenv setting would refuse --target; this install is neither.
  const result = spawnSync(python, args, {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, PIP_USER: '0', PIP_REQUIRE_VIRTUALENV: '0' },
  });
  if (result.error) fail(`could not run ${python}: ${result.error.message}`);
  if (result.status !== 0) {
    rmSync(partial, { recursive: true, force: true });
    const hasPip = spawnSync(python, ['-m', 'pip', '--version']).status === 0;
    fail(hasPip
      ? `pip could not install prometheus_client==${VERSION} (exit ${result.status ?? result.signal}); see its output above (network? index?)`
      : `${python} has no pip: install it (apt-get install python3-pip, or ${python} -m ensurepip --user)`);
  }
  try {
    renameSync(partial, target);
  } catch (error) {
    // Another run finished first; its copy is as good as ours.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(target)) throw error;
  }
}

const system = importableVersion(null);
if (system !== undefined && sameFormat(system)) report(null, system);
const local = existsSync(target) ? importableVersion(target) : undefined;
if (local !== undefined) report(target, local);
rmSync(target, { recursive: true, force: true }); // half there, or unusable: start over
install();
const installed = importableVersion(target);
if (installed === undefined) fail(`prometheus_client was installed into ${target} but ${python} cannot import it from there`);
report(target, installed);
