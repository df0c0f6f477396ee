/**
 * A retry never outlives the request's deadline: with deadlineMs 500 and attemptTimeoutMs 300 and
 * both replicas far too slow, the first attempt is abandoned at 300 ms, the retry on the other
 * replica gets only what is left, and the client gets 504 at about the deadline (a retry given a
 * full attempt timeout would end at 600 ms with a 503).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClient } from '../../helpers/http.js';
import { startStack } from '../../helpers/stack.js';

const DEADLINE_MS = 500;

test('deadline 500 ms, attempt timeout 300 ms, both replicas slow: 504 at about the deadline, after one retry', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    proxy: { deadlineMs: DEADLINE_MS },
    resilience: { retry: { attemptTimeoutMs: 300 }, ejection: { consecutiveFailures: 10_000 }, breaker: { volumeThreshold: 100_000 } },
    simulator: () => ({ faults: { latencyMs: 5_000 } }),
  });
  const client = new TestClient(4);
  try {
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
      const elapsed = performance.now() - started;
      assert.equal(reply.status, 504, reply.text);
      assert.equal(reply.json<{ error: string }>().error, `Deadline exceeded: no answer from the model server within ${DEADLINE_MS} ms`);
      // Generous margin for a loaded machine; what matters is it ends near the deadline, not at 5 s.
      assert.ok(elapsed < DEADLINE_MS + 2_000, `answered after ${Math.round(elapsed)} ms`);
    }
    const [a, b] = stack.stable.map((s) => s.counters().byOperation.predict);
    assert.deepEqual([a, b], [3, 3], 'every request was tried on both replicas');
  } finally {
    await client.close();
    await stack.close();
  }
});
