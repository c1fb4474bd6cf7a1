// Child side of tools/bench-hot-path.ts: times one subject in one mode, checks its result, and
// prints one JSON line. Run as: node --import tsx tools/bench/runSubject.ts <subject> <ops> <perTurn>
// (perTurn 0 means one synchronous loop).

import { SUBJECTS, type SubjectName, type Workload } from './subjects.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs steps [from, from + ops). With perTurn > 0 it yields to the event loop after every
 * perTurn steps, as a server handling requests does, so that the file store pays one
 * coalesced write per turn; a single loop would let it write once for millions of changes.
 * The final turn is awaited in both modes. Wall time and whole-process CPU time (every thread,
 * user and system) are both measured: a store that moved its writes to another thread would
 * show up in the second.
 */
async function run(workload: Workload, from: number, ops: number, perTurn: number): Promise<{ wallNs: number; cpuNs: number }> {
  const step = workload.step;
  const end = from + ops;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  if (perTurn <= 0) {
    for (let i = from; i < end; i++) step(i);
  } else {
    for (let i = from; i < end; ) {
      const turnEnd = Math.min(end, i + perTurn);
      for (; i < turnEnd; i++) step(i);
      await nextTurn();
    }
  }
  await nextTurn();
  const wallNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuStart);
  return { wallNs, cpuNs: (cpu.user + cpu.system) * 1000 };
}

async function main(): Promise<void> {
  const [name, opsText, perTurnText] = process.argv.slice(2);
  if (name === undefined || !(name in SUBJECTS)) throw new Error(`unknown subject ${name}; one of ${Object.keys(SUBJECTS).join(', ')}`);
  const ops = Number(opsText);
  const perTurn = Number(perTurnText ?? 0);
  const workload = SUBJECTS[name as SubjectName]();
  // Warm up in the same mode, so the measured loop runs optimised code from its first step.
  const warmUp = Math.ceil(ops / 10);
  await run(workload, 0, warmUp, perTurn);
  const { wallNs, cpuNs } = await run(workload, warmUp, ops, perTurn);
  await workload.verify(warmUp + ops);
  workload.close();
  process.stdout.write(`${JSON.stringify({ nsPerOp: wallNs / ops, cpuNsPerOp: cpuNs / ops })}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
