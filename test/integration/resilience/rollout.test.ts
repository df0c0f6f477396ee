/**
 * A progressive rollout across two gateways: a healthy canary with the plan 5 -> 25 -> 100 is
 * stepped up by the controller and promoted at the end; pause holds it; abort rolls it back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCluster } from '../../helpers/cluster.js';
import { TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { startRedis } from '../../helpers/redis.js';
import { MODEL } from '../../helpers/stack.js';

const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };
const PLAN = { steps: [5, 25, 100], minDwellSeconds: 1, minRequests: 20 };

interface View {
  revision: number;
  state: string;
  policy: { stable: number; canary: number | null; percent: number; plan: unknown };
  rollout: { step: number; percent: number } | null;
}

test('plan 5 -> 25 -> 100 on a healthy canary: every step, then promoted; pause holds; abort rolls back', async () => {
  const redis = await startRedis();
  const cluster = await startCluster({ redisUrl: redis.url, keyPrefix: 'plan:', policy: { stable: 1, canary: 2, percent: 0 }, resyncIntervalMs: 500,
    // The plan's mechanics are under test, not latency: a loaded machine's stalls must not roll it back.
    resilience: { analysis: { latencyMarginMs: 3_600_000 } },
  });
  const client = new TestClient(32);
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const view = async (gw: TestGateway): Promise<View> => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>();
  const load = steadyLoad(client, cluster.gateways.map((g) => `${g.rest}/v1/models/${MODEL}:predict`), 6);
  try {
    const started = await client.send('PUT', `${a.admin}/api/models/${MODEL}/plan`, JSON.stringify({ plan: PLAN }), auth);
    assert.equal(started.status, 200, started.text);
    const first = started.json<View>();
    assert.deepEqual([first.state, first.policy.percent, first.rollout?.step], ['rolling-out', 5, 0]);

    // Paused: it holds at the first step well past its dwell time.
    assert.equal((await client.send('POST', `${b.admin}/api/models/${MODEL}/pause`, undefined, { authorization: auth.authorization })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.deepEqual([(await view(a)).policy.percent, (await view(a)).state], [5, 'paused']);
    assert.equal((await client.send('POST', `${b.admin}/api/models/${MODEL}/resume`, undefined, { authorization: auth.authorization })).status, 200);

    const seen = new Set<number>();
    await waitFor(
      async () => {
        const v = await view(b);
        seen.add(v.policy.percent);
        return v.policy.canary === null;
      },
      30_000,
      'the promotion at the end of the plan',
    );
    const done = await view(a);
    assert.deepEqual([done.policy.stable, done.policy.canary, done.policy.percent, done.state, done.rollout], [2, null, 0, 'steady', null]);
    assert.ok(seen.has(25), `the 25% step was in force (saw ${[...seen].join(', ')})`);
    const audit = (await client.get(`${a.admin}/api/audit?model=${MODEL}&limit=20`, auth)).json<{ entries: Array<{ reason: string; after: { policy: { percent: number } } }> }>();
    const automatic = audit.entries.filter((e) => e.reason === 'rollout' || e.reason === 'promotion').reverse();
    assert.deepEqual(
      automatic.map((e) => [e.reason, e.after.policy.percent]),
      [
        ['rollout', 5],
        ['rollout', 25],
        ['rollout', 100],
        ['promotion', 0],
      ],
    );

    // A new plan on the next canary (version 1 is now the idle pool), aborted at once.
    assert.equal((await client.send('PUT', `${a.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 2, canary: 1, percent: 0, plan: PLAN }), auth)).status, 200);
    const aborted = await client.send('POST', `${b.admin}/api/models/${MODEL}/abort`, undefined, { authorization: auth.authorization });
    assert.equal(aborted.status, 200, aborted.text);
    const v = aborted.json<View & { note?: string }>();
    assert.deepEqual([v.state, v.policy.percent, v.rollout], ['rolled-back', 0, null]);
  } finally {
    await load.stop();
    await client.close();
    await cluster.close();
    await redis.stop();
  }
  assert.deepEqual(load.outcome.failures.slice(0, 3), []);
});
