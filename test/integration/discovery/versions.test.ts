/**
 * Versions found on the replicas: two gateways sharing Redis, in front of two simulated replicas
 * that serve several versions of one model (TF Serving's `model_version_policy`). A version made
 * AVAILABLE on the replicas becomes a pool on both gateways, written once to the store; one that
 * goes to END leaves once no policy routes to it, and one the policy routes to stays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator, type SimulatorHandle } from '../../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, VIEWER_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { TestClient } from '../../helpers/http.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { GONE_AFTER_POLLS } from '../../../gateway/src/controlplane/discovery.js';
import { openEventStream, type EventStream } from '../../helpers/sse.js';

const MODEL = 'half_plus_two';
const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };

interface ModelBody {
  revision: number;
  policy: { stable: number; canary: number | null };
  pools: Array<{ version: number; healthyReplicas: number }>;
  versions: { discovery: boolean; discovered: number[]; candidate: unknown; rejected: unknown[] };
}
interface AuditBody {
  entries: Array<{ reason: string; actor: string; note: string; after: { versions?: { discovered: number[] } } }>;
}

let redis: RedisServer;
test.before(async () => {
  redis = await startRedis();
});
test.after(async () => {
  await redis.stop();
});

async function startGateway(sims: readonly SimulatorHandle[], keyPrefix: string, minShare: number): Promise<TestGateway> {
  return startTestGateway({
    models: {
      [MODEL]: {
        discover: { replicas: sims.map((s) => s.url), minShare },
        policy: { stable: 2 },
        healthCheck: { intervalMs: 100, timeoutMs: 1_000 },
      },
    },
    store: { type: 'redis', url: redis.url, keyPrefix, resyncIntervalMs: 1_000, connectTimeoutMs: 500, commandTimeoutMs: 500 },
  });
}

test('versions AVAILABLE on the replicas become pools on every gateway sharing the store, written once; gone ones leave once unrouted', async (t) => {
  const sims = await Promise.all([0, 1].map(() => startSimulator({ host: '127.0.0.1', port: 0, versions: [1, 2, 3], versionStates: { '3': 'LOADING' } })));
  const client = new TestClient(8);
  const gateways: TestGateway[] = [];
  t.after(async () => {
    await client.close();
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all(sims.map((s) => s.close()));
  });
  gateways.push(await startGateway(sims, 'disc-a:', 1), await startGateway(sims, 'disc-a:', 1));
  const view = async (gw: TestGateway) => (await client.get(`${gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  const everywhere = (what: string, holds: (m: ModelBody) => boolean) =>
    waitFor(async () => (await Promise.all(gateways.map(view))).every(holds), 10_000, what);
  const pools = (m: ModelBody) => m.pools.map((p) => p.version).sort((a, b) => a - b);

  await everywhere('versions 1 and 2 discovered', (m) => m.versions.discovery && m.versions.discovered.join() === '1,2' && pools(m).join() === '1,2');
  // Each gateway announces the changes it applies, whichever wrote them.
  const streams: EventStream[] = await Promise.all(gateways.map((gw) => openEventStream(`${gw.admin}/api/events`, TEST_TOKEN)));
  t.after(() => Promise.all(streams.map((s) => s.close())));
  const announced = (stream: EventStream) => stream.events.filter((e) => e.event === 'versions').map((e) => e.data as { added: number[]; removed: number[]; by: string });

  // minShare 1: a version on one replica of two is not found, however often it is polled.
  sims[0]!.setVersionState(3, 'AVAILABLE');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  for (const m of await Promise.all(gateways.map(view))) assert.deepEqual(m.versions.discovered, [1, 2], 'AVAILABLE on 1 of 2 replicas is under minShare 1');

  sims[1]!.setVersionState(3, 'AVAILABLE');
  await everywhere('version 3 found by both gateways', (m) => m.versions.discovered.join() === '1,2,3' && m.pools.some((p) => p.version === 3 && p.healthyReplicas === 2));
  const audit = async () => (await client.get(`${gateways[0]!.admin}/api/audit?model=${MODEL}&limit=100`, AUTH)).json<AuditBody>().entries;
  const found3 = (await audit()).filter((e) => e.reason === 'discovery' && /found on the replicas: version 3 /.test(e.note));
  assert.equal(found3.length, 1, 'one gateway wrote the change, once');
  assert.equal(found3[0]?.actor, 'version-discovery');
  assert.match(found3[0]?.note ?? '', /3 AVAILABLE on 2 of 2 polled by /);
  assert.deepEqual(found3[0]?.after.versions?.discovered, [1, 2, 3]);
  for (const stream of streams) {
    await waitFor(() => announced(stream).length > 0, 5_000, 'the versions event');
    assert.deepEqual(announced(stream).map((e) => [e.added, e.removed, e.by]), [[[3], [], 'version-discovery']]);
  }

  // A pinned request reaches the new pool on either gateway.
  for (const gw of gateways) {
    const reply = await client.post(`${gw.rest}/v1/models/${MODEL}/versions/3:predict`, JSON.stringify({ instances: [1] }));
    assert.equal(reply.status, 200, reply.text);
  }

  // Version 1 unloads everywhere (END): gone, and unrouted, so its pool goes.
  for (const sim of sims) sim.setVersionState(1, 'END');
  await everywhere('version 1 removed', (m) => m.versions.discovered.join() === '2,3' && pools(m).join() === '2,3');
  const removed = (await audit()).filter((e) => e.reason === 'discovery' && /gone from the replicas: version 1 /.test(e.note));
  assert.equal(removed.length, 1);
  assert.match(removed[0]?.note ?? '', new RegExp(`AVAILABLE on none of the 2 that answered .*, ${GONE_AFTER_POLLS} polls in a row`));

  // Stable (2) unloads too: gone from the replicas, but routed, so it stays listed with its pool.
  for (const sim of sims) sim.setVersionState(2, 'END');
  await new Promise((resolve) => setTimeout(resolve, 100 * (GONE_AFTER_POLLS + 4)));
  for (const m of await Promise.all(gateways.map(view))) {
    assert.deepEqual(m.versions.discovered, [2, 3], 'a version the policy routes to is not removed');
    assert.ok(m.pools.some((p) => p.version === 2));
  }
  // Once the policy moves off it, the next polls remove it.
  const moved = await client.send('PUT', `${gateways[1]!.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 3 }), { ...AUTH, 'content-type': 'application/json' });
  assert.equal(moved.status, 200, moved.text);
  await everywhere('version 2 removed once unrouted', (m) => m.versions.discovered.join() === '3' && pools(m).join() === '3');
});

test('with minShare 0.5 a version on half the replicas is found, its pool of every replica healthy only where it is AVAILABLE', async (t) => {
  const sims = await Promise.all([0, 1].map(() => startSimulator({ host: '127.0.0.1', port: 0, versions: [2] })));
  const client = new TestClient(4);
  const gateways: TestGateway[] = [];
  t.after(async () => {
    await client.close();
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all(sims.map((s) => s.close()));
  });
  gateways.push(await startGateway(sims, 'disc-b:', 0.5));
  const view = async () => (await client.get(`${gateways[0]!.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  sims[0]!.setVersionState(7, 'AVAILABLE');
  await waitFor(async () => (await view()).versions.discovered.includes(7), 10_000, 'version 7 found on 1 of 2 replicas');
  // The pool has both replicas; the one without the version is down for it (health checks ask for the version).
  await waitFor(async () => (await view()).pools.find((p) => p.version === 7)?.healthyReplicas === 1, 10_000, 'pool 7 with one healthy replica');
});

test('a reload that changes the discover replicas moves every discovered pool and the polls to them', async (t) => {
  const sims = await Promise.all([0, 1].map(() => startSimulator({ host: '127.0.0.1', port: 0, versions: [1, 2] })));
  const client = new TestClient(2);
  const listener = { host: '127.0.0.1', port: 0 };
  const document = (urls: string[], minShare = 0.5) => ({
    listeners: { rest: listener, grpc: listener, admin: listener },
    admin: {
      tokens: [
        { name: 'test-operator', token: TEST_TOKEN, role: 'operator' },
        { name: 'test-viewer', token: VIEWER_TOKEN, role: 'viewer' },
      ],
    },
    models: { [MODEL]: { discover: { replicas: urls, minShare }, policy: { stable: 2 }, healthCheck: { intervalMs: 100, timeoutMs: 1_000 } } },
  });
  const gw = await startTestGateway(document([sims[0]!.url]));
  t.after(async () => {
    await client.close();
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  });
  type WithReplicas = Omit<ModelBody, 'pools'> & { pools: Array<{ version: number; replicas: Array<{ url: string }> }> };
  const view = async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, AUTH)).json<WithReplicas>();
  const replicasOf = (m: WithReplicas, v: number) => (m.pools.find((p) => p.version === v)?.replicas.map((r) => r.url) ?? []).sort();
  await waitFor(async () => (await view()).versions.discovered.join() === '1,2', 10_000, 'versions 1 and 2 found');
  assert.deepEqual(replicasOf(await view(), 1), [sims[0]!.url]);
  const refused = await gw.gateway.reload(resolveConfig(document([sims[0]!.url, sims[1]!.url]), 'test', {}));
  assert.deepEqual(refused, []);
  await waitFor(async () => {
    const m = await view();
    return [1, 2].every((v) => replicasOf(m, v).join() === [sims[0]!.url, sims[1]!.url].sort().join());
  }, 10_000, 'both discovered pools on both replicas');
  // The polls follow: a version only the new replica has is found (minShare 0.5 of 2).
  sims[1]!.setVersionState(3, 'AVAILABLE');
  await waitFor(async () => (await view()).versions.discovered.includes(3), 10_000, 'version 3 found on the added replica');
  // What the polls are set up with at start is named, not silently ignored.
  const withShare = resolveConfig(document([sims[0]!.url, sims[1]!.url], 1), 'test', {});
  assert.deepEqual(await gw.gateway.reload(withShare), [`changed settings that need a restart to apply: models.${MODEL}.discover`]);
});
