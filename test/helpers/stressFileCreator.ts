// A process that creates metrics files, for test/killDuringCreate.test.ts, run under plain node
// (stressBuild.ts) so that a hundred of them start quickly.
//
//   node stressFileCreator.js <dir> <identity> loop     creates one file of every kind, closes,
//       removes them, and again, until killed: most of its time goes to creating files. Says
//       "ready" on stdout first.
//   node stressFileCreator.js <dir> <identity> record   records RECORDED into every kind and
//       exits; prints the library's warnings on stderr.
import { unlinkSync, readdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { FileStore, setProblemReporter } from '../../packages/prom-multiproc/src/index.js';
import { touchEveryKind } from './stressFileKinds.js';

const [dir, identity, mode] = process.argv.slice(2);
if (dir === undefined || identity === undefined || (mode !== 'loop' && mode !== 'record')) {
  throw new Error('usage: stressFileCreator.js <dir> <identity> loop|record');
}
setProblemReporter((problem) => writeSync(2, `warning: ${problem.message}\n`));

if (mode === 'record') {
  const store = new FileStore({ dir, identity });
  touchEveryKind(store, true);
  store.close();
} else {
  writeSync(1, 'ready\n');
  const suffix = `_${identity}.db`;
  for (;;) {
    const store = new FileStore({ dir, identity });
    touchEveryKind(store, false);
    store.close();
    for (const name of readdirSync(dir)) if (name.endsWith(suffix)) unlinkSync(path.join(dir, name));
  }
}
