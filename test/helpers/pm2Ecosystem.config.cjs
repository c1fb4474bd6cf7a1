// The PM2 ecosystem file of the PM2 test: the web app in cluster mode and the metrics hook in
// fork mode. Both are TypeScript run through tsx, so `interpreter: 'node'` keeps PM2 from
// choosing an interpreter of its own for .ts files. The environment (PROM_MULTIPROC_DIR,
// PORT, HOOK_READY_FILE) comes from the `pm2 start` command, which apps inherit.
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const tsx = ['--import', 'tsx'];

module.exports = {
  apps: [
    {
      name: 'web',
      script: path.join(__dirname, 'pm2App.ts'),
      exec_mode: 'cluster',
      instances: Number(process.env.WEB_INSTANCES || 2),
      interpreter: 'node',
      node_args: tsx,
      cwd: root,
    },
    {
      name: 'metrics',
      script: path.join(__dirname, 'pm2Hook.ts'),
      exec_mode: 'fork',
      interpreter: 'node',
      node_args: tsx,
      cwd: root,
    },
  ],
};
