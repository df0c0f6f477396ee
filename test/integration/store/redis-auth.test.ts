/**
 * Redis with authentication, real servers: a redis-server with requirepass (the store with the
 * password connects and works; without it, or with a wrong one, start gives up saying why), a
 * gateway configured with store.password, and a Redis Sentinel that has its own password in front
 * of a protected master.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { pino } from 'pino';
import { RedisStore, type RedisStoreOptions } from '../../../gateway/src/controlplane/store/redis.js';
import { StoreUnavailableError } from '../../../gateway/src/controlplane/store/types.js';
import { startTestGateway, TEST_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { seed, write } from '../../helpers/store-fixtures.js';
import { startRedis, startSentinel, type RedisServer, type SentinelServer } from '../../helpers/redis.js';

const PASSWORD = 'redis-test-password-1';
const SENTINEL_PASSWORD = 'sentinel-test-password-2';
const MASTER = 'main';

let redis: RedisServer;
let sentinel: SentinelServer;
const opened = new Set<RedisStore>();
let prefixes = 0;
const silent = pino({ level: 'silent' });


function open(options: Partial<RedisStoreOptions>): RedisStore {
  const store = new RedisStore({
    keyPrefix: `auth-${process.pid}-${++prefixes}:`,
    auditMaxEntries: 100,
    connectTimeoutMs: 3_000,
    commandTimeoutMs: 2_000,
    logger: silent,
    ...options,
  });
  opened.add(store);
  return store;
}

before(async () => {
  redis = await startRedis({ password: PASSWORD });
  sentinel = await startSentinel({ masterPort: redis.port, masterName: MASTER, masterPassword: PASSWORD, password: SENTINEL_PASSWORD });
});
afterEach(async () => {
  await Promise.all([...opened].map((s) => s.close()));
  opened.clear();
});
after(async () => {
  await sentinel?.stop();
  await redis?.stop();
});

test('requirepass: with store.password the store connects, writes and reads; the url\u2019s password is overridden by it', async () => {
  const store = open({ url: `redis://:wrong-one@127.0.0.1:${redis.port}`, password: PASSWORD });
  const [seeded] = await store.start(seed);
  assert.equal(seeded?.revision, 1);
  assert.equal((await store.put(write(20, 1))).revision, 2);
  assert.deepEqual((await store.load(['m'])).map((s) => [s.revision, s.policy.percent]), [[2, 20]]);
  assert.equal((await store.audit({ limit: 5 })).length, 2);
});

test('requirepass: without the password, or with a wrong one, start gives up within connectTimeoutMs saying why', async () => {
  for (const [options, why] of [
    [{ url: redis.url }, /NOAUTH|auth/i],
    [{ url: redis.url, password: 'not-the-password' }, /WRONGPASS|invalid password|auth/i],
  ] as const) {
    const store = open({ ...options, connectTimeoutMs: 500 });
    const error = await store.start(seed).catch((e: unknown) => e);
    assert.ok(error instanceof StoreUnavailableError, String(error));
    assert.match(error.message, why);
    assert.equal(store.isAvailable(), false);
  }
});

test('a gateway configured with store.password is in sync with the protected Redis and takes writes', async () => {
  const gw = await startTestGateway({
    models: { m: { pools: { '1': { replicas: ['http://127.0.0.1:9'] }, '2': { replicas: ['http://127.0.0.1:9'] } }, policy: { stable: 1, canary: 2, percent: 5 } } },
    store: { type: 'redis', url: redis.url, password: PASSWORD, keyPrefix: `auth-gw-${process.pid}:`, connectTimeoutMs: 3_000 },
  });
  const client = new TestClient(2);
  const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };
  try {
    assert.equal((await client.get(`${gw.admin}/api/session`, auth)).json<{ storeAvailable: boolean }>().storeAvailable, true);
    const reply = await client.send('PUT', `${gw.admin}/api/models/m/percent`, JSON.stringify({ percent: 30 }), auth);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json<{ revision: number }>().revision, 2);
  } finally {
    await client.close();
    await gw.close();
  }
});

test('Sentinel with its own password in front of a protected master: found and used; a wrong sentinel password is refused', async () => {
  const sentinels = [{ host: '127.0.0.1', port: sentinel.port }];
  const store = open({ sentinels, sentinelName: MASTER, password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  const [seeded] = await store.start(seed);
  assert.equal(seeded?.policy.percent, 5);
  assert.equal((await store.put(write(40, seeded?.revision ?? 0))).policy.percent, 40);
  assert.deepEqual((await store.load(['m'])).map((s) => s.policy.percent), [40]);

  const refused = open({ sentinels, sentinelName: MASTER, password: PASSWORD, sentinelPassword: 'not-the-password', connectTimeoutMs: 500 });
  await assert.rejects(refused.start(seed), StoreUnavailableError);
  const masterRefused = open({ sentinels, sentinelName: MASTER, sentinelPassword: SENTINEL_PASSWORD, connectTimeoutMs: 500 });
  const error = await masterRefused.start(seed).catch((e: unknown) => e);
  assert.ok(error instanceof StoreUnavailableError, String(error));
  assert.match(error.message, /NOAUTH|auth/i);
});
