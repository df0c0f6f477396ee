/**
 * A replica whose version TF Serving is unloading (a hot swap: UNLOADING, END, LOADING) answers the
 * gateway's pinned upstream path with 404 `Servable not found for request: Specific(m, N)`. That is
 * the replica's state, never shown to a client: the attempt is retried (another replica of the
 * pool, or stable for the canary), a request with nowhere left to go gets 503, and the replica is
 * re-checked at once, leaving rotation well before its next health check would have noticed.
 * Other 404s still pass through as the replica wrote them.
 *
 * The health checks here run every 5 s with an unhealthy threshold of 3, so only the re-check the
 * exchange asks for can take a replica down within the waits below.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorBody } from '../../../gateway/src/tfserving/errors.js';
import { waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { MODEL, startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

const SLOW_CHECKS = { intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 };
const BODY = '{"instances": [1.0]}';

function replicaHealth(stack: Stack, url: string): string | undefined {
  for (const pool of stack.gw.gateway.pools.pools(MODEL)?.values() ?? []) {
    for (const r of pool.replicas) if (r.origin === url) return r.health;
  }
  return undefined;
}

test('a stable replica starts UNLOADING under keyless load: no request fails, and it leaves rotation at once', async () => {
  const stack = await startStack({ stableReplicas: 2, canaryReplicas: 0, policy: { stable: 1 }, healthCheck: SLOW_CHECKS });
  const client = new TestClient(16);
  const load = steadyLoad(client, [stack.predictUrl], 8);
  try {
    const [victim, survivor] = stack.stable as [Stack['stable'][0], Stack['stable'][0]];
    await waitFor(() => load.outcome.ok > 300, 10_000, 'traffic before the unload');
    assert.ok(victim.counters().byOperation.predict > 0, 'both replicas served');
    victim.setVersionState(1, 'UNLOADING');
    await waitFor(() => replicaHealth(stack, victim.url) === 'down', 3_000, 'the unloading replica marked down by a check out of turn');
    const okAtDown = load.outcome.ok;
    await waitFor(() => load.outcome.ok > okAtDown + 300, 10_000, 'traffic after it went down');
    const served = victim.counters().byOperation.predict;
    const okBefore = load.outcome.ok;
    await waitFor(() => load.outcome.ok > okBefore + 300, 10_000, 'more traffic');
    assert.equal(victim.counters().byOperation.predict, served, 'out of rotation: no more requests');
    assert.ok(survivor.counters().byOperation.predict > 600);
    assert.ok((victim.counters().byStatus['404'] ?? 0) > 0, 'the victim did answer 404 Specific to some requests');
  } finally {
    await load.stop();
    await client.close();
    await stack.close();
  }
  assert.deepEqual(load.outcome.failures.slice(0, 5), [], `${load.outcome.failures.length} of ${load.outcome.ok + load.outcome.failures.length} failed`);
});

test('a canary replica unloading: its requests are answered by stable, none fails', async () => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 100 }, healthCheck: SLOW_CHECKS });
  const client = new TestClient(4);
  try {
    const canary = stack.canary[0]!;
    assert.equal(versionOfPrediction((await client.post(stack.predictUrl, BODY)).text), 2);
    canary.setVersionState(2, 'END');
    for (let i = 0; i < 30; i++) {
      const reply = await client.post(stack.predictUrl, BODY);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(versionOfPrediction(reply.text), 1);
      assert.equal(reply.headers['x-model-version'], '1');
    }
    assert.ok((canary.counters().byStatus['404'] ?? 0) > 0, 'the canary answered 404 Specific');
    await waitFor(() => replicaHealth(stack, canary.url) === 'down', 3_000, 'the canary marked down');
  } finally {
    await client.close();
    await stack.close();
  }
});

test('a pinned request: retried on another replica of its version; with none left, 503, never the replica 404', async () => {
  const stack = await startStack({ stableReplicas: 2, canaryReplicas: 0, policy: { stable: 1 }, healthCheck: SLOW_CHECKS });
  const client = new TestClient(4);
  const pinned = `${stack.gw.rest}/v1/models/${MODEL}/versions/1:predict`;
  try {
    const [a, b] = stack.stable as [Stack['stable'][0], Stack['stable'][0]];
    a.setVersionState(1, 'LOADING');
    for (let i = 0; i < 30; i++) {
      const reply = await client.post(pinned, BODY);
      assert.equal(reply.status, 200, reply.text);
    }
    assert.ok((a.counters().byStatus['404'] ?? 0) > 0, 'the loading replica answered 404 Specific');
    await waitFor(() => replicaHealth(stack, a.url) === 'down', 3_000, 'the loading replica marked down');

    // The last replica of the version unloads: the version is unavailable here, not unknown.
    b.setVersionState(1, 'UNLOADING');
    const reply = await client.post(pinned, BODY);
    assert.equal(reply.status, 503, reply.text);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.match(reply.json<{ error: string }>().error, /^No healthy replica of model half_plus_two version 1 is available/);
    assert.equal(b.counters().byStatus['404'], 1, 'the request did reach the unloading replica');
    await waitFor(() => replicaHealth(stack, b.url) === 'down', 3_000, 'the last replica marked down');
  } finally {
    await client.close();
    await stack.close();
  }
});

test('any other 404 from a replica passes through as it was written, short or long, and counts for nothing', async () => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1 }, healthCheck: SLOW_CHECKS });
  const client = new TestClient(4);
  try {
    const replica = stack.stable[0]!;
    // Another model's version, and a text far longer than the not-loaded one (relayed as it streams).
    for (const message of ['Servable not found for request: Specific(other_model, 1)', `Not found: ${'x'.repeat(20_000)}`]) {
      replica.setFaults({ errorRate: 1, errorStatus: 404, errorMessage: message });
      for (let i = 0; i < 10; i++) {
        const reply = await client.post(stack.predictUrl, BODY);
        assert.equal(reply.status, 404);
        assert.equal(reply.text, errorBody(message));
        assert.equal(reply.headers['x-model-version'], '1');
      }
    }
    assert.equal(replica.counters().byStatus['404'], 20, 'each answered once: no retry');
    const view = stack.gw.gateway.pools.pools(MODEL)!.get(1)!.replicas[0]!;
    assert.deepEqual([view.health, view.consecutiveFailures, view.ejectedUntil], ['up', 0, 0]);
  } finally {
    await client.close();
    await stack.close();
  }
});
