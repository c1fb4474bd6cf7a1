#!/usr/bin/env node
// Makes sure a real Prometheus server and promtool are on this machine, for the test that has
// Prometheus scrape the exporter: takes them from PATH, or installs Debian's `prometheus`
// package (which carries both) when running as root. Prints one JSON line on stdout,
// {"prometheus": path, "promtool": path, "version": "x.y.z"}; progress goes to stderr.
//
//   node tools/ensure-prometheus.mjs
//
// Exit codes: 0 found or installed, 1 missing and not installable here (the message says what to install).
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const PACKAGE = 'prometheus';

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function fail(message) {
  process.stderr.write(`ensure-prometheus: ${message}\n`);
  process.exit(1);
}

function run(command, args) {
  process.stderr.write(`ensure-prometheus: ${command} ${args.join(' ')}\n`);
  // Non-interactive, and with stdout sent to stderr so that the JSON line stays the only stdout.
  const result = spawnSync(command, args, {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

function install() {
  const missingHint = `install Debian's "${PACKAGE}" package (apt-get install --no-install-recommends ${PACKAGE}), or put prometheus and promtool on PATH`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    fail(`prometheus or promtool is not on PATH and this is not root: ${missingHint}`);
  }
  if (onPath('apt-get') === undefined) fail(`prometheus or promtool is not on PATH and there is no apt-get: ${missingHint}`);
  run('apt-get', ['update']);
  // No recommends: they would bring node_exporter and its service, which the tests do not need.
  run('apt-get', ['install', '-y', '--no-install-recommends', PACKAGE]);
}

function versionOf(prometheus) {
  const result = spawnSync(prometheus, ['--version'], { encoding: 'utf8' });
  const match = /version (\d+\.\d+\.\d+)/.exec(`${result.stdout}${result.stderr}`);
  return match?.[1];
}

if (onPath('prometheus') === undefined || onPath('promtool') === undefined) install();
const prometheus = onPath('prometheus');
const promtool = onPath('promtool');
if (prometheus === undefined || promtool === undefined) {
  fail(`the "${PACKAGE}" package was installed but prometheus or promtool is still not on PATH (PATH=${process.env.PATH})`);
}
process.stdout.write(`${JSON.stringify({ prometheus, promtool, version: versionOf(prometheus) })}\n`);
