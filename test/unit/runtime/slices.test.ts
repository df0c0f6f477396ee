/** Periodic work in slices: the budget per event-loop turn, weights, the observer, overlapping passes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inSlices, observeSlices, PeriodicPass, SLICE_TIME_MS, wholeStep } from '../../../gateway/src/runtime/slices.js';

test('a pass handles at most its budget of units per event-loop turn', async () => {
  const slices: Array<{ units: number; items: number }> = [];
  observeSlices((work, units, items) => {
    if (work === 'test') slices.push({ units, items });
  });
  try {
    const seen: number[] = [];
    // Weights 1..5: a slice closes before an item that would take it past the budget of 10.
    const items = Array.from({ length: 100 }, (_, i) => i);
    const done = inSlices({ work: 'test', budget: 10, weight: (i) => (i % 5) + 1 }, items, (i) => {
      seen.push(i);
    });
    // The first slice ran before the first await: synchronously, and only that slice.
    assert.ok(seen.length > 0 && seen.length < items.length);
    await done;
    assert.deepEqual(seen, items);
    assert.ok(slices.length >= 30, `100 items weighing 300 units in slices of 10: ${slices.length} slices`);
    for (const s of slices) assert.ok(s.units <= 10, `a slice of ${s.units} units`);
    assert.equal(slices.reduce((n, s) => n + s.items, 0), items.length);
  } finally {
    observeSlices(undefined);
  }
});

test('an item heavier than the budget is a slice of its own', async () => {
  const slices: Array<{ units: number; items: number }> = [];
  observeSlices((_work, units, items) => slices.push({ units, items }));
  try {
    await inSlices({ work: 'heavy', budget: 10, weight: (w: number) => w }, [3, 4, 50, 2, 2], () => {});
    // Expected [7, 2], [50, 1], [4, 2]; a slice may also close early on its time budget (the
    // thread preempted between two items on a busy machine), never later.
    assert.ok(slices.some((s) => s.units === 50 && s.items === 1), JSON.stringify(slices));
    for (const s of slices) assert.ok(s.units <= 10 || s.items === 1, JSON.stringify(slices));
    assert.equal(slices.reduce((n, s) => n + s.items, 0), 5);
    assert.equal(slices.reduce((n, s) => n + s.units, 0), 61);
  } finally {
    observeSlices(undefined);
  }
});

test('a slice also ends once it has run SLICE_TIME_MS, whatever its budget of units', async () => {
  const slices: number[] = [];
  observeSlices((work, _units, items) => {
    if (work === 'slow') slices.push(items);
  });
  try {
    // Items of 0.3 ms each (code running unoptimized, say), a budget of units they never reach:
    // each slice ends after the item that takes it past 0.5 ms, so two items at most.
    const itemMs = SLICE_TIME_MS * 0.6;
    await inSlices({ work: 'slow', budget: 1_000 }, Array.from({ length: 20 }, (_, i) => i), () => {
      const end = performance.now() + itemMs;
      while (performance.now() < end);
    });
    assert.equal(slices.reduce((n, items) => n + items, 0), 20);
    assert.ok(slices.length >= 10, `20 items of ${itemMs} ms went in ${slices.length} slices`);
    for (const items of slices) assert.ok(items <= 2, `a slice of ${items} items`);
  } finally {
    observeSlices(undefined);
  }
});

test('a stopped pass ends between slices', async () => {
  let stopped = false;
  const seen: number[] = [];
  await inSlices({ work: 'stop', budget: 2, stopped: () => stopped }, [1, 2, 3, 4, 5, 6], (i) => {
    seen.push(i);
    if (i === 3) stopped = true;
  });
  assert.deepEqual(seen, [1, 2, 3, 4]);
});

test('a periodic pass never runs twice at once', async () => {
  let running = 0;
  let most = 0;
  let runs = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pass = new PeriodicPass(async () => {
    runs++;
    running++;
    most = Math.max(most, running);
    await gate;
    running--;
  }, (err) => assert.fail(String(err)));
  const first = pass.runOnce();
  await pass.runOnce(); // skipped: the first is under way
  release();
  await first;
  await pass.runOnce();
  assert.equal(most, 1);
  assert.equal(runs, 2);
});

test("slices are timed with the observer's CPU clock", async () => {
  const cpu: number[] = [];
  let now = 0;
  // A clock that moves 5 ms each time it is read: each slice reads it twice.
  observeSlices((_work, _units, _items, _ms, cpuMs) => cpu.push(cpuMs), () => (now += 5));
  try {
    await inSlices({ work: 'clocked', budget: 1 }, [1, 2, 3], () => {});
    assert.deepEqual(cpu, [5, 5, 5]);
  } finally {
    observeSlices(undefined);
  }
});

test('a slice never reads as more CPU than wall time, even when reading the CPU clock takes a while', async () => {
  const slices: Array<{ ms: number; cpuMs: number }> = [];
  // A CPU clock whose reading at a slice's end holds the thread 3 ms (a GC pause met while it
  // allocates): that time is on the thread, so it counts as CPU, and must count in the slice's wall
  // time as well. Each slice reads the clock twice, at its start and at its end.
  let reads = 0;
  const slowClock = (): number => {
    if (++reads % 2 === 0) {
      const end = performance.now() + 3;
      while (performance.now() < end);
    }
    return performance.now();
  };
  observeSlices((work, _units, _items, ms, cpuMs) => {
    if (work === 'slow-clock') slices.push({ ms, cpuMs });
  }, slowClock);
  try {
    await inSlices({ work: 'slow-clock', budget: 1 }, [1, 2, 3], () => {});
    wholeStep('slow-clock', () => {});
    assert.equal(slices.length, 4);
    for (const s of slices) assert.ok(s.cpuMs <= s.ms, `${s.cpuMs.toFixed(3)} ms of CPU in ${s.ms.toFixed(3)} ms of wall time`);
  } finally {
    observeSlices(undefined);
  }
});
