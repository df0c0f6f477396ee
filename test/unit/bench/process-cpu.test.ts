import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { cpuSeconds, mainThreadCpuSeconds } from '../../../scripts/bench/system.js';

const SPIN = 'const end = Date.now() + Number(process.argv[2] ?? 0); while (Date.now() < end);';

/** Spins a helper thread for `ms` while the main thread only waits (a timer, not a busy loop). */
function spinHelper(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(SPIN, { eval: true, argv: [String(ms)] });
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
}

test("the main thread's CPU leaves out the helper threads' and counts its own", async () => {
  const pid = process.pid;
  const before = [cpuSeconds(pid), mainThreadCpuSeconds(pid)] as const;
  await spinHelper(600);
  const afterHelper = [cpuSeconds(pid), mainThreadCpuSeconds(pid)] as const;
  const helperProcess = afterHelper[0] - before[0];
  const helperMain = afterHelper[1] - before[1];
  // The worker's 600 ms spin counts for the process (clock ticks of 10 ms, a loaded machine may
  // give it less than all of a core) but barely for the main thread, which waited on the worker.
  assert.ok(helperProcess >= 0.3, `the process used ${helperProcess} s while a worker spun 600 ms`);
  assert.ok(helperMain < helperProcess / 2, `the main thread read ${helperMain} s of the process's ${helperProcess} s`);

  const end = Date.now() + 400;
  while (Date.now() < end);
  const afterOwn = [cpuSeconds(pid), mainThreadCpuSeconds(pid)] as const;
  const ownMain = afterOwn[1] - afterHelper[1];
  assert.ok(ownMain >= 0.2, `the main thread read ${ownMain} s after spinning 400 ms itself`);
  assert.ok(ownMain <= afterOwn[0] - afterHelper[0] + 0.02, 'the main thread never reads more than the whole process');
});

test('a process that is gone reads 0', () => {
  assert.equal(mainThreadCpuSeconds(2 ** 22 + 1), 0);
});
