/**
 * Liveness and readiness on the admin port, without a token: /readyz fails while the stable pool
 * is down and recovers when it is back; a gateway that has not reached its store is not ready.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { startRedis } from '../../helpers/redis.js';
import { MODEL, startStack } from '../../helpers/stack.js';

interface Ready {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail: string }>;
}

test('/readyz fails while the stable pool is down and recovers when it is back', async () => {
  const stack = await startStack({ stableReplicas: 2, canaryReplicas: 1 });
  const client = new TestClient(4);
  const readyz = async () => {
    const reply = await client.get(`${stack.gw.admin}/readyz`);
    return { status: reply.status, body: reply.json<Ready>() };
  };
  try {
    assert.equal((await client.get(`${stack.gw.admin}/healthz`)).status, 200);
    assert.deepEqual(await readyz().then((r) => [r.status, r.body.ready]), [200, true]);
    for (const sim of stack.stable) sim.setVersionState(1, 'UNLOADING');
    await waitFor(async () => (await readyz()).status === 503, 5_000, 'not ready');
    const down = await readyz();
    assert.equal(down.body.checks[`model:${MODEL}`]?.ok, false);
    assert.match(down.body.checks[`model:${MODEL}`]!.detail, /0 of 2 replicas of stable version 1 healthy/);
    assert.equal((await client.get(`${stack.gw.admin}/healthz`)).status, 200, 'alive all along');
    // The canary being down does not matter to readiness; a stable replica back does.
    stack.stable[0]!.setVersionState(1, 'AVAILABLE');
    await waitFor(async () => (await readyz()).status === 200, 5_000, 'ready again');
  } finally {
    await client.close();
    await stack.close();
  }
});

test('a gateway that has not reached its store is not ready, and is once it has', async () => {
  const redis = await startRedis();
  const port = redis.port;
  await redis.kill();
  const cluster = await startCluster({ redisUrl: `redis://127.0.0.1:${port}`, keyPrefix: 'ready:', gateways: 1, resyncIntervalMs: 300 });
  const client = new TestClient(4);
  try {
    const gw = cluster.gateways[0]!;
    const first = await client.get(`${gw.admin}/readyz`);
    assert.equal(first.status, 503);
    assert.equal(first.json<Ready>().checks['store']?.ok, false);
    await redis.restart();
    await waitFor(async () => (await client.get(`${gw.admin}/readyz`)).status === 200, 10_000, 'ready once the store is reached');
  } finally {
    await client.close();
    await cluster.close();
    await redis.stop();
  }
});
