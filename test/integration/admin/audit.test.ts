/**
 * GET /api/audit serves the trail as stored, typed by its schema (AuditEntry in api-schemas.ts):
 * the control flags of each side, and the policy as written then, which for an entry an older
 * gateway wrote may lack fields added since.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startSimulator, type SimulatorHandle } from '../../../simulator/src/server.js';
import type { AuditList } from '../../../gateway/src/controlplane/admin/api-schemas.js';
import { startTestGateway, TEST_TOKEN, VIEWER_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';

const PREFIX = 'audit-view:';
let redis: RedisServer;
let sim: SimulatorHandle;
let gw: TestGateway;
const client = new TestClient(2);

before(async () => {
  redis = await startRedis();
  sim = await startSimulator({ model: 'm', versions: [1, 2] });
  gw = await startTestGateway({
    models: { m: { pools: { '1': { replicas: [sim.url] }, '2': { replicas: [sim.url] } }, policy: { stable: 1, canary: 2, percent: 5 } } },
    store: { type: 'redis', url: redis.url, keyPrefix: PREFIX },
  });
});
after(async () => {
  await client.close();
  await gw?.close();
  await sim?.close();
  await redis?.stop();
});

async function audit(): Promise<AuditList> {
  const reply = await client.get(`${gw.admin}/api/audit?model=m`, { authorization: `Bearer ${VIEWER_TOKEN}` });
  assert.equal(reply.status, 200, reply.text);
  return reply.json<AuditList>();
}

test('a write shows both sides: the whole policy and the control flags', async () => {
  const reply = await client.send('PUT', `${gw.admin}/api/models/m/percent`, JSON.stringify({ percent: 20, note: 'more' }), {
    authorization: `Bearer ${TEST_TOKEN}`,
    'content-type': 'application/json',
  });
  assert.equal(reply.status, 200, reply.text);
  const [entry] = (await audit()).entries;
  assert.deepEqual([entry?.reason, entry?.actor, entry?.note], ['manual', 'test-operator', 'more']);
  assert.deepEqual(entry?.before && [entry.before.policy.percent, entry.before.paused, entry.before.rolledBack, entry.before.rollout], [5, false, false, null]);
  assert.deepEqual(entry?.after.policy, { stable: 1, canary: 2, percent: 20, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null, shadow: null, onNewVersion: null });
  assert.deepEqual(entry?.after.versions, { discovered: [], candidate: null, rejected: [] });
});

test("an older gateway's entry, its policy without the fields added since, is served as stored", async () => {
  const raw = new Redis(redis.url, { lazyConnect: true });
  try {
    await raw.connect();
    // What a gateway from before rollout plans and control flags wrote (and a field since dropped).
    const old = (percent: number) => JSON.stringify({ policy: { stable: 1, canary: 2, percent, headerRules: [], retired: true }, paused: false, updatedAt: 'x', updatedBy: 'old', reason: 'manual' });
    await raw.xadd(`${PREFIX}{policies}:audit`, '*', 'model', 'm', 'revision', '99', 'at', '2024-01-01T00:00:00.000Z', 'actor', 'old', 'reason', 'manual', 'note', '', 'before', old(1), 'after', old(2));
  } finally {
    raw.disconnect();
  }
  const [entry] = (await audit()).entries;
  assert.equal(entry?.revision, 99);
  assert.deepEqual(entry?.after, {
    policy: { stable: 1, canary: 2, percent: 2, headerRules: [] },
    paused: false,
    rolledBack: false,
    rollout: null,
    versions: { discovered: [], candidate: null, rejected: [] },
  });
  assert.deepEqual(entry?.before?.policy, { stable: 1, canary: 2, percent: 1, headerRules: [] });
});
