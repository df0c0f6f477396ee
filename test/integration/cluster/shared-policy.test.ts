/**
 * Two gateways sharing a real Redis act as one: a change through either is in force on both,
 * concurrent writes with the same revision have exactly one winner, a restarted gateway takes its
 * policy from Redis (not from its file), and a lost change message is healed by the resync.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startCluster, type Cluster } from '../../helpers/cluster.js';
import { TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { MODEL, versionOfPrediction } from '../../helpers/stack.js';

let redis: RedisServer;
let cluster: Cluster;
const client = new TestClient(32);
const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };

interface View {
  revision: number;
  updatedBy: string;
  policy: { stable: number; canary: number | null; percent: number };
}

before(async () => {
  redis = await startRedis();
  cluster = await startCluster({ redisUrl: redis.url, keyPrefix: 'shared:', resyncIntervalMs: 300 });
});
after(async () => {
  await client.close();
  await cluster.close();
  await redis.stop();
});

const view = async (gw: TestGateway): Promise<View> => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>();
const setPercent = (gw: TestGateway, percent: number, ifMatch?: number) =>
  client.send('PUT', `${gw.admin}/api/models/${MODEL}/percent`, JSON.stringify({ percent }), {
    ...auth,
    ...(ifMatch === undefined ? {} : { 'if-match': String(ifMatch) }),
  });

test('both gateways start on the same stored policy', async () => {
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const [va, vb] = [await view(a), await view(b)];
  assert.equal(va.revision, 1);
  assert.deepEqual([vb.revision, vb.updatedBy, vb.policy], [va.revision, va.updatedBy, va.policy]);
});

test('a change through gateway A is in force on gateway B, routing included', async () => {
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const reply = await setPercent(a, 100);
  assert.equal(reply.status, 200, reply.text);
  const revision = reply.json<View>().revision;
  await waitFor(async () => (await view(b)).revision === revision, 2_000, 'the change on gateway B');
  const versions = await inParallel(50, 10, async () =>
    versionOfPrediction((await client.post(`${b.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}')).text),
  );
  assert.ok(versions.every((v) => v === 2), 'B sends everything to the canary');
});

test('3 rounds of 50 concurrent writes with the same revision: one wins each round, 49 get 409 with the new revision, both gateways agree', async () => {
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const first = (await view(a)).revision;
  await waitFor(async () => (await view(b)).revision === first, 2_000, 'B at the same revision as A');
  for (let round = 0; round < 3; round++) {
    const base = first + round;
    const percentOf = (i: number): number => round * 30 + (i % 30) + 1;
    const replies = await inParallel(50, 50, (i) => setPercent(i % 2 === 0 ? a : b, percentOf(i), base));
    const statuses = replies.map((r) => r.status).join(',');
    const winners = replies.flatMap((r, i) => (r.status === 200 ? [{ i, view: r.json<View>() }] : []));
    assert.equal(winners.length, 1, `round ${round + 1}: statuses ${statuses}`);
    assert.equal(replies.filter((r) => r.status === 409).length, 49, `round ${round + 1}: statuses ${statuses}`);
    const winner = winners[0]!;
    assert.equal(winner.view.revision, base + 1);
    assert.equal(winner.view.policy.percent, percentOf(winner.i));
    for (const r of replies.filter((x) => x.status === 409)) {
      const body = r.json<{ currentRevision: number; details: Array<{ path: string; message: string }> }>();
      assert.equal(body.currentRevision, base + 1, `round ${round + 1}: ${r.text}`);
      assert.equal(r.headers['etag'], `"${base + 1}"`);
      assert.match(body.details[0]!.message, new RegExp(`current revision is ${base + 1}`));
    }
    await waitFor(async () => (await view(a)).revision === base + 1 && (await view(b)).revision === base + 1, 2_000, `both at revision ${base + 1}`);
    const [va, vb] = [await view(a), await view(b)];
    assert.equal(va.policy.percent, winner.view.policy.percent);
    assert.deepEqual(vb.policy, va.policy);
  }
  const [va, vb] = [await view(a), await view(b)];
  assert.deepEqual([va.revision, vb.revision], [first + 3, first + 3]);
  assert.deepEqual([vb.updatedBy, vb.policy], [va.updatedBy, va.policy]);
});

test('a restarted gateway takes its policy from Redis, not from its file', async () => {
  const [a] = cluster.gateways as [TestGateway];
  const written = (await setPercent(a, 40)).json<View>();
  const c = await cluster.addGateway({ stable: 1, canary: 2, percent: 3 });
  const vc = await view(c);
  assert.equal(vc.revision, written.revision);
  assert.equal(vc.policy.percent, 40);
});

test('a missed change message is healed by the periodic resync', async () => {
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const before = await view(a);
  // Rewrite the stored document behind the gateways' backs: no change message is published.
  const raw = new Redis(redis.url);
  try {
    const keys = await raw.keys('shared:*');
    const policyKey = keys.find((k) => k.includes(MODEL) && !k.endsWith('audit'));
    assert.ok(policyKey !== undefined, `keys: ${keys.join(', ')}`);
    const stored = await raw.hgetall(policyKey);
    const doc = JSON.parse(stored['doc']!) as { policy: { percent: number } };
    doc.policy.percent = 77;
    await raw.hset(policyKey, 'revision', String(before.revision + 1), 'doc', JSON.stringify(doc));
  } finally {
    raw.disconnect();
  }
  await waitFor(async () => (await view(a)).policy.percent === 77 && (await view(b)).policy.percent === 77, 3_000, 'both gateways resynced');
});

test('a malformed policy: 400 with the field named, nothing stored in Redis', async () => {
  const [a, b] = cluster.gateways as [TestGateway, TestGateway];
  const before = await view(a);
  const newestAudit = async () => (await client.get(`${b.admin}/api/audit?model=${MODEL}&limit=1`, auth)).json<{ entries: Array<{ id: string }> }>().entries[0]?.id;
  const auditBefore = await newestAudit();
  const reply = await client.send('PUT', `${a.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 1, canary: 2, percent: -5 }), auth);
  assert.equal(reply.status, 400);
  assert.deepEqual(reply.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path), ['/percent']);
  assert.equal(await newestAudit(), auditBefore, 'no audit entry was added');
  assert.equal((await view(b)).revision, before.revision);
});
