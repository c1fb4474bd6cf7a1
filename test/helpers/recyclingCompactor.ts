// Compacts the directory again and again while workers come and go, folding the identities
// the parent reports dead, until told to stop.
import { compactDirectory } from '../../packages/prom-multiproc/src/index.js';

const dir = process.env.METRICS_DIR!;
const dead = new Set<string>();
let stopping = false;
process.on('message', (message: { dead?: string[]; stop?: boolean }) => {
  for (const id of message.dead ?? []) dead.add(id);
  if (message.stop) stopping = true;
});

let compactions = 0;
let folded = 0;
while (!stopping) {
  const result = await compactDirectory(dir, { dead: [...dead], detectDeadPids: false });
  for (const id of result.folded) dead.delete(id);
  folded += result.folded.length;
  compactions++;
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const last = await compactDirectory(dir, { dead: [...dead], detectDeadPids: false });
folded += last.folded.length;
process.send!({ compactions: compactions + 1, folded });
