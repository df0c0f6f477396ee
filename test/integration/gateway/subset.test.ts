/**
 * A pool with `subsetSize` on real sockets: the gateway uses, and health-checks, only its own
 * subset of the replicas (its rendezvous ranking under `proxy.instanceId`), traffic reaches only
 * those, and a member that goes down is replaced by the next replica in the ranking until it is
 * back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rankReplicas } from '../../../gateway/src/controlplane/subset.js';
import type { VersionPool } from '../../../gateway/src/dataplane/pool.js';
import { startTestGateway, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { startStatusReplicas, type StatusReplicas } from '../../helpers/status-replicas.js';

const POOL = 20;
const SIZE = 5;
const INSTANCE = 'gateway-test-a';

let replicas: StatusReplicas;
let gw: TestGateway;
let ranked: string[];
const client = new TestClient(4);

const pool = (): VersionPool => gw.gateway.pools.pools('m')?.get(1) as VersionPool;
const members = (): string[] => pool().replicas.map((r) => r.origin);

before(async () => {
  replicas = await startStatusReplicas(POOL);
  ranked = rankReplicas(INSTANCE, [...replicas.urls], (url) => `${url} 8500`);
  gw = await startTestGateway({
    proxy: { instanceId: INSTANCE },
    healthCheck: { intervalMs: 100, unhealthyThreshold: 1, healthyThreshold: 1 },
    models: { m: { pools: { '1': { replicas: replicas.urls, subsetSize: SIZE } }, policy: { stable: 1 } } },
  });
});

after(async () => {
  await client.close();
  await gw?.close();
  await replicas?.close();
});

test('the gateway uses and checks only its subset: the top of its ranking', async () => {
  assert.deepEqual(members().sort(), ranked.slice(0, SIZE).sort());
  await new Promise((resolve) => setTimeout(resolve, 300));
  const checked = replicas.urls.filter((_, i) => (replicas.checks[i] ?? 0) > 0);
  assert.deepEqual(checked.sort(), ranked.slice(0, SIZE).sort(), 'replicas outside the subset are never checked');
  for (let i = 0; i < 20; i++) {
    const reply = await client.send('POST', `${gw.rest}/v1/models/m:predict`, '{"instances":[1]}', { 'content-type': 'application/json' });
    assert.equal(reply.status, 200);
  }
});

test('a member that goes down is replaced by the next in the ranking, which leaves once it is back', async () => {
  const victim = ranked[1] as string;
  const index = replicas.urls.indexOf(victim);
  await replicas.stop(index);
  await waitFor(() => members().includes(ranked[SIZE] as string), 10_000, 'the next replica in the ranking to join');
  // The member found down stays, still checked, so its return is seen.
  assert.deepEqual(members().sort(), ranked.slice(0, SIZE + 1).sort());
  assert.equal(pool().replicas.find((r) => r.origin === victim)?.health, 'down');
  await waitFor(() => pool().availableCount === SIZE, 10_000, 'five usable replicas');
  const reply = await client.send('POST', `${gw.rest}/v1/models/m:predict`, '{"instances":[1]}', { 'content-type': 'application/json' });
  assert.equal(reply.status, 200);
  // Back: the replacement leaves, the subset is the top of the ranking again.
  await replicas.restart(index);
  await waitFor(() => !members().includes(ranked[SIZE] as string), 10_000, 'the replacement to leave');
  assert.deepEqual(members().sort(), ranked.slice(0, SIZE).sort());
});
