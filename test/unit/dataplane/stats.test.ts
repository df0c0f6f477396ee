import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bucketMidMs, LATENCY_BUCKETS, latencyBucket, PoolStats } from '../../../gateway/src/dataplane/stats.js';

test('latency buckets are monotonic and within about 7% of the value', () => {
  let previous = -1;
  for (const us of [0, 1, 15, 16, 17, 100, 1_000, 12_345, 1_000_000, 2 ** 31 - 1]) {
    const b = latencyBucket(us);
    assert.ok(b >= previous && b < LATENCY_BUCKETS, `${us} -> ${b}`);
    previous = b;
    if (us >= 16) assert.ok(Math.abs(bucketMidMs(b) * 1000 - us) / us < 0.07, `${us} us read back as ${bucketMidMs(b) * 1000}`);
  }
});

test('a window: requests, errors, percentiles, only complete seconds unless asked', () => {
  const stats = new PoolStats(10);
  for (let i = 0; i < 99; i++) stats.record(2, false);
  stats.record(200, true);
  assert.equal(stats.window(5).requests, 0, 'the current second is not complete yet');
  assert.equal(stats.window(5, true).requests, 100);
  stats.tick();
  const w = stats.window(5);
  assert.deepEqual([w.seconds, w.requests, w.errors, w.errorRate], [1, 100, 1, 0.01]);
  assert.ok(Math.abs(w.p50Ms! - 2) < 0.15, String(w.p50Ms));
  assert.ok(Math.abs(w.p99Ms! - 2) < 0.15, 'p99 of 100 is the 99th value, still 2 ms');
  for (let s = 0; s < 12; s++) stats.tick();
  assert.equal(stats.window(10).requests, 0, 'old seconds leave the window');
});

/** What a window must say: every latency of the seconds it covers, sorted, read at ranks. */
function naiveWindow(seconds: readonly number[][], span: number, includeCurrent: boolean): { requests: number; p50Ms: number | null; p99Ms: number | null; p99ExceptSlowestMs: number | null } {
  // seconds[0] is the one being filled; at most `span` closed ones follow.
  const covered = (includeCurrent ? seconds.slice(0, span + 1) : seconds.slice(1, span + 1)).flat();
  const buckets = covered.map((ms) => latencyBucket(ms * 1000)).sort((a, b) => a - b);
  const at = (rank: number): number | null => (rank < 1 ? null : Math.round(bucketMidMs(buckets[rank - 1]!) * 1000) / 1000);
  const n = buckets.length;
  return { requests: n, p50Ms: at(Math.ceil(0.5 * n)), p99Ms: at(Math.ceil(0.99 * n)), p99ExceptSlowestMs: at(n < 2 ? n : Math.min(Math.ceil(0.99 * n), n - 1)) };
}

test('windows merge only the buckets each second used, and say what a merge of every bucket says', () => {
  // Latencies from 1 µs to minutes, in runs of seconds with gaps (idle seconds), windows of any span.
  const step = fc.oneof(
    fc.record({ record: fc.array(fc.oneof(fc.double({ min: 0, max: 0.05, noNaN: true }), fc.double({ min: 0, max: 200_000, noNaN: true })), { maxLength: 20 }) }),
    fc.record({ ticks: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ span: fc.integer({ min: 1, max: 12 }), includeCurrent: fc.boolean() }),
  );
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      const stats = new PoolStats(10);
      // Newest first: the second being filled, then the closed ones the ring still holds.
      const seconds: number[][] = [[]];
      for (const s of steps) {
        if ('record' in s) {
          for (const ms of s.record) stats.record(ms, false);
          seconds[0]!.push(...s.record);
        } else if ('ticks' in s) {
          for (let t = 0; t < s.ticks; t++) {
            stats.tick();
            seconds.unshift([]);
            seconds.length = Math.min(seconds.length, 11);
          }
        } else {
          const w = stats.window(s.span, s.includeCurrent);
          const expected = naiveWindow(seconds, Math.min(s.span, seconds.length - 1), s.includeCurrent);
          assert.deepEqual({ requests: w.requests, p50Ms: w.p50Ms, p99Ms: w.p99Ms, p99ExceptSlowestMs: w.p99ExceptSlowestMs }, expected);
        }
      }
    }),
    { numRuns: 300, seed: 16 },
  );
});

test('the retry budget: a share of recent requests, with a floor per second', () => {
  const stats = new PoolStats(10);
  let allowed = 0;
  for (let i = 0; i < 100; i++) {
    if (stats.retryAllowed(20, 1)) {
      stats.recordRetry('rest');
      allowed++;
    }
  }
  assert.equal(allowed, 2, 'no traffic: only the floor (1 a second, over two seconds)');
  for (let i = 0; i < 1000; i++) stats.record(1, false);
  while (stats.retryAllowed(20, 1)) stats.recordRetry('rest');
  assert.equal(stats.window(1, true).retries, 200, '20% of 1000 requests');
  stats.tick();
  stats.tick();
  assert.ok(stats.retryAllowed(20, 1), 'the budget renews with time');
});
