/**
 * Automatic rollback across two gateways sharing a real Redis: a canary at 20% whose replica turns
 * to 100% HTTP 500 mid-run costs clients (almost) nothing, is rolled back with its reason recorded,
 * and both gateways route 0% to it. A canary 500 ms slower is rolled back on latency; one answering
 * 400 to bad input is neither tripped nor rolled back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCluster, type Cluster } from '../../helpers/cluster.js';
import { TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { MODEL, versionOfPrediction } from '../../helpers/stack.js';

const auth = { authorization: `Bearer ${TEST_TOKEN}` };

interface View {
  revision: number;
  state: string;
  rolledBack: boolean;
  note: string;
  policy: { percent: number; canary: number | null };
  pools: Array<{ version: number; replicas: Array<{ breaker: string }> }>;
}

async function withCluster(
  policy: Record<string, unknown>,
  body: (cluster: Cluster, client: TestClient, view: (gw: TestGateway) => Promise<View>) => Promise<void>,
): Promise<void> {
  const redis: RedisServer = await startRedis();
  const cluster = await startCluster({ redisUrl: redis.url, keyPrefix: 'rb:', policy, resyncIntervalMs: 500 });
  const client = new TestClient(32);
  const view = async (gw: TestGateway): Promise<View> => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>();
  try {
    await body(cluster, client, view);
  } finally {
    await client.close();
    await cluster.close();
    await redis.stop();
  }
}

const urls = (cluster: Cluster): string[] => cluster.gateways.map((g) => `${g.rest}/v1/models/${MODEL}:predict`);

test('canary at 20% turns to 100% HTTP 500: at most 0.5% failed, rolled back with its reason on both gateways', async () => {
  await withCluster({ stable: 1, canary: 2, percent: 20 }, async (cluster, client, view) => {
    const [a, b] = cluster.gateways as [TestGateway, TestGateway];
    const load = steadyLoad(client, urls(cluster), 6);
    try {
      await waitFor(() => load.outcome.ok > 1_000, 15_000, 'traffic before the fault');
      cluster.sims[2]!.setFaults({ errorRate: 1, errorStatus: 500 });
      await waitFor(async () => (await view(a)).rolledBack && (await view(b)).rolledBack, 10_000, 'the rollback on both gateways');
      const rolledAt = load.outcome.ok;
      await waitFor(() => load.outcome.ok > rolledAt + 1_000, 15_000, 'traffic after the rollback');
    } finally {
      await load.stop();
    }
    const total = load.outcome.ok + load.outcome.failures.length;
    assert.ok(load.outcome.failures.length / total <= 0.005, `${load.outcome.failures.length} of ${total} failed: ${load.outcome.failures.slice(0, 3).join(' | ')}`);

    for (const gw of [a, b]) {
      const v = await view(gw);
      assert.deepEqual([v.state, v.policy.percent, v.rolledBack], ['rolled-back', 0, true]);
      assert.match(v.note, /automatic rollback .*canary error rate/);
      const versions = await inParallel(200, 16, async () => versionOfPrediction((await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}')).text));
      assert.ok(versions.every((v2) => v2 === 1), 'no traffic to the rolled-back canary');
    }
    const audit = (await client.get(`${a.admin}/api/audit?model=${MODEL}&limit=5`, auth)).json<{ entries: Array<{ reason: string; actor: string; note: string }> }>();
    const entry = audit.entries.find((e) => e.reason === 'rollback');
    assert.ok(entry !== undefined, 'the rollback is in the audit trail');
    assert.equal(entry.actor, 'rollback-controller');
    assert.match(entry.note, /error rate 100\.0%|error rate \d+\.\d%/);
    assert.equal(audit.entries.filter((e) => e.reason === 'rollback').length, 1, 'exactly one gateway wrote it');
    // A pinned request still reaches the canary and gets its real answer.
    const pinned = await client.post(`${a.rest}/v1/models/${MODEL}/versions/2:predict`, '{"instances": [1.0]}');
    assert.equal(pinned.status, 500);
  });
});

test('a canary 500 ms slower is rolled back on latency', async () => {
  await withCluster({ stable: 1, canary: 2, percent: 30 }, async (cluster, client, view) => {
    const [a] = cluster.gateways as [TestGateway];
    cluster.sims[2]!.setFaults({ latencyMs: 500 });
    const load = steadyLoad(client, urls(cluster), 8);
    try {
      await waitFor(async () => (await view(a)).rolledBack, 20_000, 'the rollback');
    } finally {
      await load.stop();
    }
    const v = await view(a);
    assert.match(v.note, /canary p99 .* > 2 x stable p99/);
    assert.deepEqual(load.outcome.failures, []);
  });
});

test('a canary answering 400 to bad input: no breaker trip, no rollback', async () => {
  await withCluster({ stable: 1, canary: 2, percent: 50 }, async (cluster, client, view) => {
    const [a, b] = cluster.gateways as [TestGateway, TestGateway];
    const bad = await inParallel(600, 16, async (i) => {
      const gw = i % 2 === 0 ? a : b;
      return (await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, '{"instances": ["not a number"]}')).status;
    });
    assert.ok(bad.every((s) => s === 400));
    assert.ok(cluster.sims[2]!.counters().byStatus['400']! > 100, 'the canary itself answered many of them');
    // Let the controller look at a full window of it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const gw of [a, b]) {
      const v = await view(gw);
      assert.deepEqual([v.state, v.rolledBack, v.policy.percent], ['canary', false, 50]);
      assert.ok(v.pools.every((p) => p.replicas.every((r) => r.breaker === 'closed')), JSON.stringify(v.pools));
    }
  });
});
