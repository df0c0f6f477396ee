/**
 * Redis outages: killed under steady load through two gateways, no client request fails, admin
 * writes get 503 and write nothing; when it comes back (empty) both gateways put their policy back,
 * resync, and a change made afterwards reaches both. A gateway started while Redis is down routes
 * on its file's policy, says so loudly, and adopts the stored policy once Redis is back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCluster } from '../../helpers/cluster.js';
import { TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { capturingLogger } from '../../helpers/logs.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { startRedis } from '../../helpers/redis.js';
import { MODEL } from '../../helpers/stack.js';

const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };

interface View {
  revision: number;
  policy: { percent: number };
}

function helpers(client: TestClient) {
  return {
    view: async (gw: TestGateway): Promise<View> => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>(),
    storeUp: async (gw: TestGateway): Promise<boolean> =>
      (await client.get(`${gw.admin}/api/session`, auth)).json<{ storeAvailable: boolean }>().storeAvailable,
    setPercent: (gw: TestGateway, percent: number) =>
      client.send('PUT', `${gw.admin}/api/models/${MODEL}/percent`, JSON.stringify({ percent }), auth),
  };
}

test('Redis killed under load: no request fails, writes get 503, both resync when it returns', async () => {
  const redis = await startRedis();
  const cluster = await startCluster({ redisUrl: redis.url, keyPrefix: 'outage:', resyncIntervalMs: 300 });
  const client = new TestClient(32);
  const { view, storeUp, setPercent } = helpers(client);
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const load = steadyLoad(client, [a, b].map((g) => `${g.rest}/v1/models/${MODEL}:predict`), 6);
  try {
    assert.equal((await setPercent(a, 30)).status, 200);
    await waitFor(async () => (await view(b)).policy.percent === 30, 2_000, 'B at 30%');
    await waitFor(() => load.outcome.ok > 300, 10_000, 'traffic before the outage');

    await redis.kill();
    await waitFor(async () => !(await storeUp(a)) && !(await storeUp(b)), 5_000, 'both gateways to see the outage');
    const okAtKill = load.outcome.ok;
    for (const gw of [a, b]) {
      const started = Date.now();
      const refused = await setPercent(gw, 90);
      assert.equal(refused.status, 503, refused.text);
      assert.match(refused.json<{ error: string }>().error, /policy store unavailable.*nothing was written/);
      assert.ok(Date.now() - started < 1_500, 'a write during the outage is refused at once');
    }
    await waitFor(() => load.outcome.ok > okAtKill + 300, 10_000, 'traffic during the outage');
    assert.equal((await view(a)).policy.percent, 30);

    await redis.restart();
    await waitFor(async () => (await storeUp(a)) && (await storeUp(b)), 10_000, 'both gateways back on the store');
    const afterOutage = await setPercent(b, 60);
    assert.equal(afterOutage.status, 200, afterOutage.text);
    await waitFor(async () => (await view(a)).policy.percent === 60, 2_000, 'the change after the outage on A');
    const result = await load.stop();
    assert.deepEqual(result.failures.slice(0, 5), [], `${result.failures.length} failed requests`);
    assert.ok(result.ok > 600);
  } finally {
    await load.stop();
    await client.close();
    await cluster.close();
    await redis.stop();
  }
});

test('a gateway started while Redis is down: the file policy, said loudly; the stored one once Redis is back', async () => {
  const redis = await startRedis({ persistent: true });
  const cluster = await startCluster({ redisUrl: redis.url, keyPrefix: 'late:', gateways: 1, resyncIntervalMs: 300 });
  const client = new TestClient(8);
  const { view, storeUp, setPercent } = helpers(client);
  try {
    const [a] = cluster.gateways as [TestGateway];
    const stored = (await setPercent(a, 40)).json<View>();
    await redis.kill();
    const { logger, lines } = capturingLogger();
    const late = await cluster.addGateway({ stable: 1, canary: 2, percent: 5 }, logger);
    const early = await view(late);
    assert.deepEqual([early.revision, early.policy.percent], [0, 5]);
    assert.equal(await storeUp(late), false);
    assert.ok(
      lines.some((l) => l.level >= 50 && /POLICY STORE UNAVAILABLE AT START/.test(l.msg)),
      `no loud error in: ${lines.map((l) => l.msg).join(' | ')}`,
    );
    assert.equal((await setPercent(late, 50)).status, 503);

    await redis.restart();
    await waitFor(async () => (await view(late)).revision === stored.revision, 10_000, 'the late gateway to adopt the stored policy');
    assert.equal((await view(late)).policy.percent, 40);
  } finally {
    await client.close();
    await cluster.close();
    await redis.stop();
  }
});
