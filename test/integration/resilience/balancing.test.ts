/**
 * Power of two choices: of two stable replicas, one 100 ms slower, the balancer sends most requests
 * to the fast one (it has fewer requests in flight), where a uniform pick would split them evenly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel, TestClient } from '../../helpers/http.js';
import { startStack } from '../../helpers/stack.js';

test('power of two choices: a replica 100 ms slower than its peer gets under 20% of the requests', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    simulator: (_version, index) => (index === 1 ? { faults: { latencyMs: 100 } } : {}),
  });
  const client = new TestClient(8);
  try {
    const statuses = await inParallel(600, 8, async () => (await client.post(stack.predictUrl, '{"instances": [1.0]}')).status);
    assert.ok(statuses.every((s) => s === 200));
    const fast = stack.stable[0]!.counters().byOperation.predict;
    const slow = stack.stable[1]!.counters().byOperation.predict;
    assert.equal(fast + slow, 600);
    assert.ok(fast / (fast + slow) > 0.8, `fast replica served ${fast}, slow one ${slow}`);
  } finally {
    await client.close();
    await stack.close();
  }
});
