/**
 * The rollback's latency test compares p99s, but never on the canary's single slowest request: a
 * canary with a small share has under 100 requests in the window, where p99 is the slowest one,
 * while stable's p99 leaves its 1% slowest out. One stall must not roll back a healthy canary; two
 * slow requests in 50 (4%, over the 1% a p99 allows) still do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyse } from '../../../gateway/src/controlplane/canary-controller.js';
import { DEFAULT_RESILIENCE } from '../../../gateway/src/config/load.js';
import { VersionPool } from '../../../gateway/src/dataplane/pool.js';

const settings = DEFAULT_RESILIENCE.analysis;

function pools(canarySlow: number): { canary: VersionPool; stable: VersionPool } {
  const stable = new VersionPool('m', 1, [], DEFAULT_RESILIENCE);
  const canary = new VersionPool('m', 2, [], DEFAULT_RESILIENCE);
  // Stable: 1,000 requests at 2 ms, 5 of them stalled (0.5%, inside its p99).
  for (let i = 0; i < 995; i++) stable.stats.record(2, false);
  for (let i = 0; i < 5; i++) stable.stats.record(90, false);
  for (let i = 0; i < 50 - canarySlow; i++) canary.stats.record(2, false);
  for (let i = 0; i < canarySlow; i++) canary.stats.record(90, false);
  return { canary, stable };
}

test('one stalled request among 50 does not roll back a healthy canary', () => {
  const { canary, stable } = pools(1);
  assert.ok(canary.stats.window(10, true).p99Ms! > 80, 'its plain p99 is the stall');
  const verdict = analyse(canary, stable, settings);
  assert.equal(verdict.kind, 'pass', verdict.detail);
});

test('two slow requests among 50 are over the 1% a p99 allows: rolled back', () => {
  const { canary, stable } = pools(2);
  const verdict = analyse(canary, stable, settings);
  assert.equal(verdict.kind, 'breach', verdict.detail);
  assert.match(verdict.detail, /^canary p99 \d+ ms > 2 x stable p99 2\.0 ms \+ 50 ms/);
});

test('with 100 requests or more it is the plain p99', () => {
  const stats = new VersionPool('m', 2, [], DEFAULT_RESILIENCE).stats;
  for (let i = 0; i < 198; i++) stats.record(2, false);
  for (let i = 0; i < 2; i++) stats.record(90, false);
  const w = stats.window(10, true);
  assert.equal(w.p99ExceptSlowestMs, w.p99Ms);
  assert.ok(w.p99Ms! < 3, 'the 198th of 200 is a fast one');
});
