// Runs an app under node:cluster as its users would: the primary forks WORKERS workers that all
// listen on one shared port and prints {"port": N} once every worker listens; a worker exiting
// is printed too. The app's own code runs only in the workers.
const cluster = require('node:cluster');

module.exports = function runCluster(startWorker) {
  if (!cluster.isPrimary) {
    Promise.resolve(startWorker()).catch((error) => {
      console.error(error);
      process.exit(1);
    });
    return;
  }
  const workers = Number(process.env.WORKERS ?? 2);
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) console.log(JSON.stringify({ port: address.port }));
  });
  cluster.on('exit', (worker, code, signal) => console.log(JSON.stringify({ exit: worker.process.pid, code, signal })));
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  });
};
