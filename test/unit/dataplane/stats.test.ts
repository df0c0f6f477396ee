import assert from 'node:assert/strict';
import { test } from 'node:test';
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
