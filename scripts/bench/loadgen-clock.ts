/**
 * The load generator's clock, in a worker thread: Node's timers tick in whole milliseconds, which
 * at 2,000 req/s (one request every 0.5 ms) would make the generator itself late by up to a
 * millisecond. Atomics.wait sleeps to a fractional millisecond without spinning, and the message
 * wakes the main thread's event loop at once.
 */
import { parentPort, workerData } from 'node:worker_threads';

interface ClockData {
  /** Absolute (timeOrigin-based) time of request 0, ms. */
  readonly start: number;
  readonly interval: number;
  readonly total: number;
}

const { start, interval, total } = workerData as ClockData;
const cell = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < total; i++) {
  const wait = start + i * interval - (performance.timeOrigin + performance.now());
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  parentPort?.postMessage(i);
}
