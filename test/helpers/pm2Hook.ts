// The metrics app of the PM2 test, one fork-mode process beside the web workers: marks exited
// workers dead through PM2's bus and serves the merged directory on /metrics. When both are
// up it writes {pid, url} to HOOK_READY_FILE.
import { renameSync, writeFileSync } from 'node:fs';
import pm2 from 'pm2';
import { startExporter, watchPm2Exits } from '../../packages/prom-multiproc/src/index.js';

const dir = process.env.PROM_MULTIPROC_DIR!;
// No timer: the test checks that PM2's exit events alone remove the dead workers' live gauges.
const watch = await watchPm2Exits(pm2, {
  dir,
  sweepIntervalMs: 0,
  onRemoved: (files) => console.log(`marked dead: ${files.join(', ')}`),
});
const exporter = await startExporter({ dir, port: 0 });

const readyFile = process.env.HOOK_READY_FILE!;
// Written aside and renamed, so the test never reads half of it.
writeFileSync(`${readyFile}.tmp`, JSON.stringify({ pid: process.pid, url: exporter.url }));
renameSync(`${readyFile}.tmp`, readyFile);

process.on('SIGINT', () => {
  void Promise.all([watch.close(), exporter.close()]).then(() => process.exit(0));
});
