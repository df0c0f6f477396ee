/**
 * Outlier ejection never takes out more than maxEjectedPercent of a pool: with all four replicas of
 * the stable pool failing every request, exactly two are ejected (50%), the other two stay in
 * rotation (their 503s reach the client: ejecting them would leave nothing to answer at all).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel, TestClient } from '../../helpers/http.js';
import { MODEL, startStack } from '../../helpers/stack.js';

test('every replica of a pool failing: at most half of it is ejected', async () => {
  const stack = await startStack({
    stableReplicas: 4,
    canaryReplicas: 0,
    policy: { stable: 1 },
    resilience: {
      ejection: { consecutiveFailures: 3, baseMs: 60_000, maxMs: 60_000, maxEjectedPercent: 50 },
      breaker: { volumeThreshold: 100_000 },
    },
    simulator: () => ({ faults: { errorRate: 1, errorStatus: 503 } }),
  });
  const client = new TestClient(8);
  const ejectedTimes: number[] = [];
  stack.gw.gateway.events.on('replica', (e) => {
    if (e.kind === 'ejection' && e.ejected) ejectedTimes.push(Date.now());
  });
  try {
    const statuses = await inParallel(400, 4, async () => (await client.post(stack.predictUrl, '{"instances": [1.0]}')).status);
    assert.ok(statuses.every((s) => s === 503), `every request failed: ${[...new Set(statuses)].join(', ')}`);
    const replicas = stack.gw.gateway.pools.pools(MODEL)!.get(1)!.replicas;
    const ejected = replicas.filter((r) => r.ejectedUntil !== 0).length;
    assert.equal(ejected, 2, 'half the pool ejected');
    assert.equal(ejectedTimes.length, 2, 'no more ejections were made');
    const inRotation = stack.stable.filter((s) => replicas.find((r) => r.origin === s.url)!.ejectedUntil === 0);
    const before = inRotation.map((s) => s.counters().byOperation.predict);
    await inParallel(40, 4, () => client.post(stack.predictUrl, '{"instances": [1.0]}'));
    assert.ok(inRotation.every((s, i) => s.counters().byOperation.predict > before[i]!), 'the other half still gets requests');
  } finally {
    await client.close();
    await stack.close();
  }
});
