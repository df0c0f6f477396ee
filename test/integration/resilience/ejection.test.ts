/**
 * Outlier ejection and breakers on a flapping stable replica: consecutive 5xx eject it for
 * base x times-ejected, it returns on that schedule, never more than half the pool is out, its
 * breaker state shows in the admin API, and clients see no failure (retries on the other replica).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaEvent } from '../../../gateway/src/controlplane/events.js';
import { TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { startStack } from '../../helpers/stack.js';

test('a flapping stable replica is ejected and returns on the ejection schedule', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    resilience: {
      ejection: { consecutiveFailures: 5, baseMs: 300, maxMs: 5_000, maxEjectedPercent: 50 },
      // Keep the breaker out of the way: this test is about ejection.
      breaker: { errorThresholdPercentage: 100, volumeThreshold: 1_000 },
    },
  });
  const client = new TestClient(16);
  const events: Array<ReplicaEvent & { at: number }> = [];
  stack.gw.gateway.events.on('replica', (e) => events.push({ ...e, at: Date.now() }));
  const flapping = stack.stable[0]!;
  flapping.setFaults({ errorRate: 1, errorStatus: 503 });
  const load = steadyLoad(client, [stack.predictUrl], 4);
  try {
    const ejections = () => events.filter((e) => e.kind === 'ejection' && e.replica === flapping.url);
    await waitFor(() => ejections().filter((e) => e.kind === 'ejection' && e.ejected).length >= 3, 15_000, 'three ejections');
  } finally {
    await load.stop();
    await client.close();
    await stack.close();
  }
  const list = events.filter((e): e is ReplicaEvent & { at: number; kind: 'ejection'; ejected: boolean; durationMs: number; times: number } => e.kind === 'ejection' && e.replica === flapping.url);
  const ejected = list.filter((e) => e.ejected);
  assert.deepEqual(ejected.slice(0, 3).map((e) => [e.times, e.durationMs]), [
    [1, 300],
    [2, 600],
    [3, 900],
  ]);
  // It came back after each ejection, no sooner than scheduled.
  for (let i = 0; i < 2; i++) {
    const out = ejected[i]!;
    const back = list.find((e) => !e.ejected && e.at >= out.at);
    assert.ok(back !== undefined, `readmitted after ejection ${i + 1}`);
    assert.ok(back.at - out.at >= out.durationMs - 20, `readmitted after ${back.at - out.at} ms, scheduled ${out.durationMs}`);
  }
  assert.ok(!events.some((e) => e.kind === 'ejection' && e.ejected && e.replica !== flapping.url), 'the healthy half is never ejected');
  assert.deepEqual(load.outcome.failures.slice(0, 3), [], 'every failure was retried on the healthy replica');
});

test('a failing replica opens its breaker (visible in the admin API) and closes again once it recovers', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    resilience: {
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, windowSeconds: 2, resetTimeoutMs: 300 },
      ejection: { consecutiveFailures: 1_000 },
    },
  });
  const client = new TestClient(8);
  const breakerOf = async (url: string): Promise<string> => {
    const view = (await client.get(`${stack.gw.admin}/api/models/half_plus_two`, { authorization: `Bearer ${TEST_TOKEN}` })).json<{
      pools: Array<{ replicas: Array<{ url: string; breaker: string }> }>;
    }>();
    return view.pools[0]!.replicas.find((r) => r.url === url)!.breaker;
  };
  const failing = stack.stable[0]!;
  try {
    failing.setFaults({ errorRate: 1, errorStatus: 500 });
    const load = steadyLoad(client, [stack.predictUrl], 4);
    try {
      await waitFor(async () => (await breakerOf(failing.url)) === 'open', 5_000, 'the breaker to open');
      failing.clearFaults();
      await waitFor(async () => (await breakerOf(failing.url)) === 'closed', 10_000, 'the breaker to close after a good trial');
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.outcome.failures.slice(0, 3), []);
  } finally {
    await client.close();
    await stack.close();
  }
});
