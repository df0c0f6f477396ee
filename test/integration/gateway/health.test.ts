/**
 * Health checks and failover over real sockets: a replica killed under load costs no keyless
 * request (retry on another replica), is marked down within the thresholds and comes back after it
 * returns; a replica in LOADING gets no traffic; a canary without a healthy replica drains to
 * stable with no error; a stable pool without one answers 503 in TF Serving's shape.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad, type SteadyLoad } from '../../helpers/load.js';
import { startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

function replicaHealth(stack: Stack, url: string): string | undefined {
  for (const pool of stack.gw.gateway.pools.pools('half_plus_two')?.values() ?? []) {
    for (const r of pool.replicas) if (r.origin === url) return r.health;
  }
  return undefined;
}

test('a stable replica killed under load: no keyless request fails, it goes down and comes back', async () => {
  const stack = await startStack({ stableReplicas: 2, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 10 } });
  const client = new TestClient(16);
  let load: SteadyLoad | undefined;
  try {
    const victim = stack.stable[0]!;
    const { port, url } = victim;
    assert.equal(replicaHealth(stack, url), 'up');
    const running = steadyLoad(client, [stack.predictUrl], 8);
    load = running;
    await waitFor(() => running.outcome.ok > 300, 10_000, 'traffic before the kill');
    await victim.close();
    const killedAt = Date.now();
    await waitFor(() => replicaHealth(stack, url) === 'down', 5_000, 'the killed replica marked down');
    const downAfter = Date.now() - killedAt;
    const okAtDown = running.outcome.ok;
    await waitFor(() => running.outcome.ok > okAtDown + 300, 10_000, 'traffic on the survivors');

    const revived = await startSimulator({ port, model: 'half_plus_two', versions: [1], behaviour: 'half_plus_two' });
    stack.stable[0] = revived;
    await waitFor(() => replicaHealth(stack, url) === 'up', 5_000, 'the revived replica marked up');
    await waitFor(() => revived.counters().byOperation.predict > 50, 10_000, 'traffic to the revived replica');
    const result = await running.stop();
    assert.deepEqual(result.failures.slice(0, 5), [], `${result.failures.length} failed requests`);
    // interval 200 ms x unhealthy threshold 2, plus a check timeout of 150 ms and scheduling slack.
    assert.ok(downAfter < 2_000, `marked down after ${downAfter} ms`);
  } finally {
    await load?.stop();
    await client.close();
    await stack.close();
  }
});

test('a replica in LOADING gets no traffic until it is AVAILABLE', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    simulator: (_version, index) => (index === 1 ? { versionStates: { '1': 'LOADING' } } : {}),
  });
  const client = new TestClient(8);
  try {
    const loading = stack.stable[1]!;
    assert.equal(replicaHealth(stack, loading.url), 'down');
    for (let i = 0; i < 200; i++) assert.equal((await client.post(stack.predictUrl, '{"instances": [1.0]}')).status, 200);
    assert.equal(loading.counters().byOperation.predict, 0);
    assert.equal(stack.stable[0]!.counters().byOperation.predict, 200);

    loading.setVersionState(1, 'AVAILABLE');
    await waitFor(() => replicaHealth(stack, loading.url) === 'up', 5_000, 'the loaded replica marked up');
    for (let i = 0; i < 200; i++) await client.post(stack.predictUrl, '{"instances": [1.0]}');
    assert.ok(loading.counters().byOperation.predict > 40, `after loading it served ${loading.counters().byOperation.predict}`);

    loading.setVersionState(1, 'UNLOADING');
    await waitFor(() => replicaHealth(stack, loading.url) === 'down', 5_000, 'the unloading replica marked down');
  } finally {
    await client.close();
    await stack.close();
  }
});

test('a canary with no healthy replica drains to stable; a pinned request gets 503', async () => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 100 } });
  const client = new TestClient(8);
  try {
    const canary = stack.canary[0]!;
    assert.equal(versionOfPrediction((await client.post(stack.predictUrl, '{"instances": [1.0]}')).text), 2);
    // The canary dies: even before the health check notices, its requests are retried on stable.
    await canary.close();
    for (let i = 0; i < 20; i++) {
      const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(versionOfPrediction(reply.text), 1);
      assert.equal(reply.headers['x-model-version'], '1');
    }
    await waitFor(() => replicaHealth(stack, canary.url) === 'down', 5_000, 'the canary marked down');
    const pinned = await client.post(`${stack.gw.rest}/v1/models/half_plus_two/versions/2:predict`, '{"instances": [1.0]}');
    assert.equal(pinned.status, 503);
    assert.equal(pinned.headers['content-type'], 'application/json');
    assert.match(pinned.json<{ error: string }>().error, /No healthy replica of model half_plus_two version 2/);
  } finally {
    await client.close();
    await stack.close();
  }
});

test('a stable pool with no healthy replica answers 503 in TF Serving error shape', async () => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 0 } });
  const client = new TestClient(8);
  try {
    const stable = stack.stable[0]!;
    stable.setVersionState(1, 'END');
    await waitFor(() => replicaHealth(stack, stable.url) === 'down', 5_000, 'the stable replica marked down');
    const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
    assert.equal(reply.status, 503);
    assert.deepEqual(Object.keys(reply.json<object>()), ['error']);
    assert.equal(stable.counters().byOperation.predict, 0);
  } finally {
    await client.close();
    await stack.close();
  }
});
