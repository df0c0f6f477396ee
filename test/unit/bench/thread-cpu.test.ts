/**
 * The event-loop thread's clock for timing slices: it counts the thread's own work and leaves out
 * the time other threads held the CPU it wanted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { threadCpuClock } from '../../../scripts/lib/thread-cpu.js';

const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('the thread clock counts work on this thread', () => {
  const { clock, kind } = threadCpuClock();
  assert.equal(kind, 'thread', 'Linux gives /proc/thread-self/schedstat');
  const runMs = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
  const before = clock();
  const ranBefore = runMs();
  // Spins until Linux has counted 60 ms of this thread running, however long other programs hold
  // the CPU meanwhile (a test run with others beside it), for 2 s at most.
  const deadline = performance.now() + 2_000;
  while (runMs() - ranBefore < 60 && performance.now() < deadline) spin(5);
  const spent = clock() - before;
  // The thread's run time by Linux's own count: exact, but brought up to date only at a scheduler
  // tick or a switch (each end may lag by a tick, 4 ms at most here).
  const ran = runMs() - ranBefore;
  assert.ok(ran >= 20, `the spin ran only ${ran} ms`);
  assert.ok(Math.abs(spent - ran) <= 10, `60 ms of spinning read as ${spent} ms; Linux counted ${ran} ms of running`);
});

test('the thread clock leaves out the time other threads held the CPU', async () => {
  const { clock } = threadCpuClock();
  // Twice as many spinning threads as cores: this thread gets the CPU about half the time at most.
  const count = Math.min(16, availableParallelism() * 2);
  const workers: Worker[] = [];
  const ready: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(
      "require('node:worker_threads').parentPort.postMessage('go'); const end = performance.now() + 1500; while (performance.now() < end);",
      { eval: true },
    );
    workers.push(worker);
    ready.push(new Promise((resolve) => worker.once('message', resolve)));
  }
  try {
    await Promise.all(ready);
    const wall = performance.now();
    const before = clock();
    spin(400);
    const spent = clock() - before;
    const elapsed = performance.now() - wall;
    assert.ok(spent < elapsed * 0.8, `${elapsed.toFixed(1)} ms of wall clock beside ${count} spinning threads read as ${spent.toFixed(1)} ms`);
    assert.ok(spent >= 100, `this thread ran ${spent.toFixed(1)} ms`);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
});

test('the thread clock counts the switches back in to a CPU: blocking switches the thread out', () => {
  const { clock, switchesIn } = threadCpuClock();
  clock();
  const before = switchesIn();
  // Blocks this thread 20 ms: it leaves the CPU and is switched back in at least once.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  clock();
  const after = switchesIn();
  assert.ok(after > before, `switched in ${before} times before the wait, ${after} after`);
  // Read at the clock's readings only: no reading, no change.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  assert.equal(switchesIn(), after);
});
