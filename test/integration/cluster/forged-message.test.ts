/**
 * Routing changes only through the audited write. Someone who can PUBLISH on the gateway's change
 * channel (but does not write the policy hash through the audited script) steers nothing: the
 * gateways keep routing on what the store holds, log the message, and no resync writes the forged
 * policy back into the store. Over a real Redis, published with ioredis directly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startCluster, type Cluster } from '../../helpers/cluster.js';
import { TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { capturingLogger } from '../../helpers/logs.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { MODEL, versionOfPrediction } from '../../helpers/stack.js';

const PREFIX = 'forged:';
let redis: RedisServer;
let cluster: Cluster;
const client = new TestClient(16);
const auth = { authorization: `Bearer ${TEST_TOKEN}` };

before(async () => {
  redis = await startRedis();
  cluster = await startCluster({ redisUrl: redis.url, keyPrefix: PREFIX, resyncIntervalMs: 200, policy: { stable: 1, canary: 2, percent: 0 } });
});
after(async () => {
  await client.close();
  await cluster.close();
  await redis.stop();
});

interface View {
  revision: number;
  policy: { percent: number };
}

test('a forged change message (percent 100 at a made-up revision) changes no gateway, no route and nothing stored', async () => {
  const { logger, lines } = capturingLogger('info');
  const watched: TestGateway = await cluster.addGateway(undefined, logger);
  const gateways = [...cluster.gateways];
  const raw = new Redis(redis.url);
  try {
    const before = (await client.get(`${watched.admin}/api/models/${MODEL}`, auth)).json<View>();
    const stored = await raw.hgetall(`${PREFIX}{policies}:model:${MODEL}`);
    const doc = JSON.parse(stored['doc'] as string) as { policy: Record<string, unknown> };
    // What a gateway before hints published: the whole document, here with the canary at 100%.
    const forged = { model: MODEL, revision: before.revision + 50, ...doc, policy: { ...doc.policy, percent: 100 }, updatedBy: 'intruder' };
    assert.ok((await raw.publish(`${PREFIX}changes`, JSON.stringify(forged))) >= gateways.length, 'every gateway is subscribed');
    await raw.publish(`${PREFIX}changes`, JSON.stringify({ model: MODEL, revision: before.revision + 60 }));
    await waitFor(async () => lines.some((l) => /announced a revision the store does not hold/.test(String(l.msg))), 3_000, 'the forged message logged');
    // Several resyncs (every 200 ms) later:
    await new Promise((r) => setTimeout(r, 1_000));
    for (const gw of gateways) {
      const view = (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>();
      assert.deepEqual([view.revision, view.policy.percent], [before.revision, 0], 'the policy in force is the stored one');
    }
    const versions = await inParallel(100, 10, async () =>
      versionOfPrediction((await client.post(`${watched.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}')).text),
    );
    assert.ok(versions.every((v) => v === 1), 'no request reached the canary');
    assert.deepEqual(await raw.hgetall(`${PREFIX}{policies}:model:${MODEL}`), stored, 'nothing written back into the store');
    assert.equal(await raw.xlen(`${PREFIX}{policies}:audit`), 1, 'the audit trail has the seed only');
    const warned = lines.find((l) => /announced a revision the store does not hold/.test(String(l.msg)));
    assert.equal(warned?.['model'], MODEL);
    assert.equal(warned?.['stored'], before.revision);
  } finally {
    raw.disconnect();
  }
});

test('an audited write still reaches every gateway through its hint', async () => {
  const [a] = cluster.gateways as [TestGateway];
  const reply = await client.send('PUT', `${a.admin}/api/models/${MODEL}/percent`, JSON.stringify({ percent: 100 }), { ...auth, 'content-type': 'application/json' });
  assert.equal(reply.status, 200, reply.text);
  const revision = reply.json<View>().revision;
  for (const gw of cluster.gateways) {
    await waitFor(async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>().revision === revision, 2_000, `revision ${revision} in force`);
  }
});
