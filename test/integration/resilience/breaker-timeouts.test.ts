/**
 * Attempt timeouts count toward a breaker trip: a replica that never answers within the attempt
 * timeout fails every attempt it gets (each retried on its healthy peer, so clients see nothing),
 * and its breaker opens once enough of them are in the window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakerState } from '../../../gateway/src/dataplane/breaker.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack } from '../../helpers/stack.js';

test('a replica that keeps timing out opens its breaker; clients see no failure', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    resilience: {
      // Every timed-out attempt is retried: the retry budget is not what this test is about.
      retry: { attemptTimeoutMs: 100, budgetPercent: 100, minRetriesPerSecond: 1_000 },
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 4, windowSeconds: 60, resetTimeoutMs: 600_000 },
      // Ejection would take the slow replica out first: this test is about the breaker.
      ejection: { consecutiveFailures: 10_000 },
    },
    simulator: (_version, index) => (index === 0 ? { faults: { latencyMs: 2_000 } } : {}),
  });
  const client = new TestClient(4);
  const slow = stack.gw.gateway.pools.pools(MODEL)!.get(1)!.replicas.find((r) => r.origin === stack.stable[0]!.url)!;
  try {
    let sent = 0;
    // Sequential requests: each picks either replica with equal odds, so about half reach the slow one.
    while (breakerState(slow.breaker) !== 'open' && sent < 100) {
      const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
      assert.equal(reply.status, 200, reply.text);
      sent++;
    }
    assert.equal(breakerState(slow.breaker), 'open', `breaker still ${breakerState(slow.breaker)} after ${sent} requests`);
    assert.ok(stack.stable[0]!.counters().byOperation.predict >= 4, 'it opened on attempts that timed out');
    const received = stack.stable[0]!.counters().byOperation.predict;
    for (let i = 0; i < 20; i++) assert.equal((await client.post(stack.predictUrl, '{"instances": [1.0]}')).status, 200);
    assert.equal(stack.stable[0]!.counters().byOperation.predict, received, 'an open breaker takes no traffic');
  } finally {
    await client.close();
    await stack.close();
  }
});
