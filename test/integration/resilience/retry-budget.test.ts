/**
 * The retry budget, enforced by the exchange: with one of two stable replicas resetting every
 * connection, a budget of 100% retries every failed attempt on the other replica (no client sees a
 * failure), while a budget of 10% (and no per-second minimum) lets only about a tenth of the
 * requests be retried, so most of those that met the bad replica fail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel, TestClient } from '../../helpers/http.js';
import { startStack } from '../../helpers/stack.js';

const REQUESTS = 400;

async function failuresWithBudget(budgetPercent: number): Promise<{ failed: number; resets: number }> {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    resilience: {
      retry: { budgetPercent, minRetriesPerSecond: 0 },
      // Keep the bad replica in rotation: this test is about the budget alone.
      breaker: { volumeThreshold: 100_000 },
      ejection: { consecutiveFailures: 10_000 },
    },
    simulator: (_version, index) => (index === 0 ? { faults: { resetRate: 1 } } : {}),
  });
  const client = new TestClient(8);
  try {
    const statuses = await inParallel(REQUESTS, 8, async () => (await client.post(stack.predictUrl, '{"instances": [1.0]}')).status);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `only 200 or 503: ${[...new Set(statuses)].join(', ')}`);
    return { failed: statuses.filter((s) => s !== 200).length, resets: stack.stable[0]!.counters().faults.resets };
  } finally {
    await client.close();
    await stack.close();
  }
}

test('retry budget: 100% retries every reset on the other replica; 10% leaves most of them failed', async () => {
  const full = await failuresWithBudget(100);
  assert.ok(full.resets > REQUESTS * 0.2, `the bad replica got its share (${full.resets} resets)`);
  assert.equal(full.failed, 0, 'budget 100%: every failed attempt retried');

  const tight = await failuresWithBudget(10);
  assert.ok(tight.resets > REQUESTS * 0.2, `the bad replica got its share (${tight.resets} resets)`);
  // Retries stay under 10% of the pool's attempts: at most about REQUESTS / 9 of the resets are saved.
  assert.ok(tight.failed >= tight.resets - REQUESTS * 0.15, `budget 10%: ${tight.failed} failed of ${tight.resets} resets`);
  assert.ok(tight.failed > 0);
});
