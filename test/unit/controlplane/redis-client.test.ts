/**
 * The Redis store's settings as ioredis reads them, per mode: credentials and TLS of standalone,
 * Sentinel (master and sentinels apart) and Cluster (every node), checked on the options of real
 * ioredis clients built with lazyConnect (nothing connects).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { createClient, planClient, type RedisConnectionOptions } from '../../../gateway/src/controlplane/store/redis-client.js';

const common: RedisOptions = { lazyConnect: true, enableOfflineQueue: false, connectTimeout: 500, retryStrategy: () => 100 };
const scripts = { probe: { numberOfKeys: 1, lua: 'return 1' } };
const tls = { ca: 'PEM-CA', cert: 'PEM-CERT', key: 'PEM-KEY', servername: 'redis.internal', rejectUnauthorized: true };

function build(o: RedisConnectionOptions): Redis | Cluster {
  return createClient(planClient(o, common, scripts));
}

function redisOptions(o: RedisConnectionOptions): Redis['options'] {
  const client = build(o) as Redis;
  client.disconnect();
  return client.options;
}

test('standalone: credentials and db from the url, explicit ones win, and the url handed on carries no secret', () => {
  const fromUrl = redisOptions({ url: 'redis://gw:s%40cret@10.0.0.5:6380/3' });
  assert.deepEqual([fromUrl.host, fromUrl.port, fromUrl.username, fromUrl.password, fromUrl.db, fromUrl.tls], ['10.0.0.5', 6380, 'gw', 's@cret', 3, undefined]);

  const plan = planClient({ url: 'redis://gw:old@10.0.0.5:6380/3', password: 'new', db: 4 }, common, scripts);
  assert.equal(plan.mode, 'standalone');
  assert.ok(plan.mode === 'standalone' && !plan.url.includes('old') && !plan.url.includes('/3'), plan.mode === 'standalone' ? plan.url : '');
  const explicit = redisOptions({ url: 'redis://gw:old@10.0.0.5:6380/3', password: 'new', db: 4 });
  assert.deepEqual([explicit.username, explicit.password, explicit.db], ['gw', 'new', 4]);
  const user = redisOptions({ url: 'redis://:pw@h:1', username: 'alice' });
  assert.deepEqual([user.username, user.password], ['alice', 'pw']);
  const none = redisOptions({ url: 'redis://h:1' });
  assert.deepEqual([none.password ?? null, none.db], [null, 0]);
});

test('standalone: tls as given; rediss:// alone is TLS with the defaults', () => {
  assert.deepEqual(redisOptions({ url: 'redis://h:1', tls }).tls, tls);
  assert.ok(redisOptions({ url: 'rediss://h:1' }).tls);
  assert.deepEqual(redisOptions({ url: 'rediss://h:1', tls: { ca: 'X', rejectUnauthorized: false } }).tls, { ca: 'X', rejectUnauthorized: false });
  assert.equal(redisOptions({ url: 'redis://h:1' }).tls, undefined);
});

test('Sentinel: the master\u2019s password and TLS (with enableTLSForSentinelMode), the sentinels\u2019 own apart', () => {
  const o = redisOptions({
    sentinels: [{ host: 's1', port: 26379 }],
    sentinelName: 'main',
    username: 'gw',
    password: 'master-pw',
    db: 2,
    tls,
    sentinelUsername: 'sentinel-user',
    sentinelPassword: 'sentinel-pw',
    sentinelTls: { ca: 'PEM-SENTINEL-CA', rejectUnauthorized: true },
  });
  assert.deepEqual(o.sentinels, [{ host: 's1', port: 26379 }]);
  assert.deepEqual(
    [o.name, o.username, o.password, o.db, o.sentinelUsername, o.sentinelPassword, o.enableTLSForSentinelMode],
    ['main', 'gw', 'master-pw', 2, 'sentinel-user', 'sentinel-pw', true],
  );
  assert.deepEqual(o.tls, tls);
  assert.deepEqual(o.sentinelTLS, { ca: 'PEM-SENTINEL-CA', rejectUnauthorized: true });
  assert.ok(Object.keys(o.scripts ?? {}).includes('probe'));

  const plain = redisOptions({ sentinels: [{ host: 's1', port: 26379 }], sentinelName: 'main', password: 'master-pw' });
  assert.deepEqual([plain.password, plain.sentinelPassword ?? null, plain.enableTLSForSentinelMode, plain.tls, plain.sentinelTLS], ['master-pw', null, false, undefined, undefined]);
});

test('Cluster: every node\u2019s credentials and TLS in redisOptions, the scripts on the cluster client', () => {
  const cluster = build({ cluster: [{ host: 'c1', port: 7000 }, { host: 'c2', port: 7001 }], username: 'gw', password: 'node-pw', tls }) as Cluster;
  cluster.disconnect();
  const node = cluster.options.redisOptions ?? {};
  assert.deepEqual([node.username, node.password, node.tls], ['gw', 'node-pw', tls]);
  assert.equal(node.lazyConnect, undefined, 'node connections are ioredis\u2019 business');
  assert.equal(node.connectTimeout, 500);
  assert.ok(Object.keys(cluster.options.scripts ?? {}).includes('probe'));
  const plan = planClient({ cluster: [{ host: 'c1', port: 7000 }, { host: 'c2', port: 7001 }] }, common, scripts);
  assert.ok(plan.mode === 'cluster');
  assert.deepEqual(plan.nodes, [
    { host: 'c1', port: 7000 },
    { host: 'c2', port: 7001 },
  ]);
});
