import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUCKETS, bucketOf, canaryBuckets, saltState } from '../../../gateway/src/dataplane/cohort.js';

test('a key always lands in the same bucket, and the salt changes the bucket', () => {
  const a = saltState('half_plus_two');
  const b = saltState('other-salt');
  let moved = 0;
  for (let i = 0; i < 1000; i++) {
    const key = `user-${i}`;
    assert.equal(bucketOf(a, key), bucketOf(a, key));
    if (bucketOf(a, key) !== bucketOf(b, key)) moved++;
  }
  assert.ok(moved > 990, `a new salt should reshuffle cohorts, moved ${moved}`);
});

test('buckets are spread evenly over 10,000', () => {
  const state = saltState('m');
  const deciles = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const bucket = bucketOf(state, `u${i}@example.com`);
    assert.ok(bucket >= 0 && bucket < BUCKETS);
    deciles[Math.floor(bucket / 1000)]!++;
  }
  for (const count of deciles) assert.ok(Math.abs(count - n / 10) < n / 100, `decile count ${count}`);
});

test('percent maps to buckets in steps of 0.01', () => {
  assert.equal(canaryBuckets(10), 1000);
  assert.equal(canaryBuckets(0.5), 50);
  assert.equal(canaryBuckets(0.07), 7);
  assert.equal(canaryBuckets(100), 10_000);
  assert.equal(canaryBuckets(0), 0);
});
