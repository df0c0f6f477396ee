/**
 * Hands-free hot update: with `onNewVersion`, a version found on the replicas newer than stable
 * becomes the candidate, goes through its shadow stage, its steps, and is promoted; a bad one
 * (its answers differ) is rejected in its shadow stage, no client ever answered by it, and is not
 * tried again until a newer version appears or an operator clears it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';

const MODEL = 'half_plus_two';
const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const BODY = JSON.stringify({ instances: [1] });

interface ModelBody {
  revision: number;
  rolledBack: boolean;
  policy: { stable: number; canary: number | null; percent: number; shadow: { version: number } | null };
  versions: { discovered: number[]; candidate: { version: number; stage: string } | null; rejected: Array<{ version: number; note: string }> };
}
interface AuditBody {
  entries: Array<{ reason: string; actor: string; note: string }>;
}

test('a new version is found, shadowed, stepped up and promoted; a bad one is rejected in shadow and not retried', async (t) => {
  // Replica "good" serves versions 1 and 2 (half_plus_two); "other" serves only what a test gives
  // it. A version AVAILABLE on one of the two is found (minShare 0.5).
  const good = await startSimulator({ host: '127.0.0.1', port: 0, versions: [1, 2] });
  const other = await startSimulator({ host: '127.0.0.1', port: 0, versions: [2] });
  const client = new TestClient(8);
  const gw = await startTestGateway({
    models: {
      [MODEL]: {
        discover: { replicas: [good.url, other.url], minShare: 0.5 },
        policy: {
          stable: 2,
          onNewVersion: { plan: { shadow: { minRequests: 20, minAgreement: 0.99 }, steps: [50, 100], minDwellSeconds: 0, minRequests: 5 } },
        },
        healthCheck: { intervalMs: 100, timeoutMs: 1_000 },
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    await good.close();
    await other.close();
  });
  const view = async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  const audit = async () => (await client.get(`${gw.admin}/api/audit?model=${MODEL}&limit=200`, AUTH)).json<AuditBody>().entries;
  /** Sends traffic until `done`; every answer must be 200, and none from `never`. */
  const drive = async (done: (m: ModelBody) => boolean, what: string, never?: string): Promise<void> =>
    waitFor(async () => {
      const reply = await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, BODY);
      assert.equal(reply.status, 200, reply.text);
      if (never !== undefined) assert.notEqual(reply.headers['x-model-version'], never, `a client was answered by version ${never}`);
      return done(await view());
    }, 30_000, what);

  await waitFor(async () => (await view()).versions.discovered.join() === '1,2', 10_000, 'versions 1 and 2 found');
  assert.equal((await view()).versions.candidate, null, 'nothing newer than stable');

  // A good version 3 (same answers) on the replica "good".
  good.setVersionState(3, 'AVAILABLE');
  await waitFor(async () => (await view()).versions.candidate?.version === 3, 10_000, 'candidate 3');
  const staged = await view();
  assert.equal(staged.versions.candidate?.stage, 'shadow');
  assert.equal(staged.policy.canary, 3);
  assert.equal(staged.policy.percent, 0, 'no live traffic in the shadow stage');
  assert.equal(staged.policy.shadow?.version, 3);
  await drive((m) => m.policy.stable === 3, 'version 3 promoted');
  const promoted = await view();
  assert.equal(promoted.policy.canary, null);
  assert.equal(promoted.versions.candidate, null);
  const notes = (await audit()).map((e) => `${e.reason} ${e.actor}: ${e.note}`);
  assert.ok(notes.some((n) => /^rollout rollout-controller: version 3 found on the replicas \(.+\): candidate, rollout starts with its shadow stage$/.test(n)), notes.join('\n'));
  assert.ok(notes.some((n) => /^rollout rollout-controller: shadow stage passed/.test(n)));
  assert.ok(notes.some((n) => /^promotion rollout-controller: rollout complete: version 3 promoted/.test(n)));

  // A bad version 4 (it answers as half_plus_three), on the replica "other" only: restarted on
  // its port with that version, as a replica restarts with a new model directory.
  await other.close();
  const badOther = await startSimulator({ host: '127.0.0.1', port: other.port, versions: [4], behaviour: 'half_plus_three' });
  t.after(() => badOther.close());
  await waitFor(async () => (await view()).versions.candidate?.version === 4, 10_000, 'candidate 4');
  await drive((m) => m.versions.rejected.some((r) => r.version === 4), 'version 4 rejected', '4');
  const rejected = await view();
  assert.equal(rejected.policy.stable, 3, 'stable unchanged');
  assert.equal(rejected.versions.candidate, null);
  assert.match(rejected.versions.rejected[0]?.note ?? '', /^shadow stage failed \(.+\): agreement 0\.0% over \d+ compared pairs/);
  const predictions = badOther.counters().byOperation.predict;
  assert.ok(predictions >= 20, 'the bad version saw the shadow copies');

  // Not tried again: further passes write nothing about it.
  const before = (await audit()).length;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal((await audit()).length, before, 'a rejected version is not tried again');

  // A newer version 5 (good) is tried, and promoted.
  good.setVersionState(5, 'AVAILABLE');
  await waitFor(async () => (await view()).versions.candidate?.version === 5, 10_000, 'candidate 5');
  await drive((m) => m.policy.stable === 5, 'version 5 promoted', '4');
  assert.equal(badOther.counters().byOperation.predict, predictions, 'version 4 served nothing after its rejection');

  // An operator clears the rejection (audited); 4 is older than stable now, so it stays idle.
  const cleared = await client.send('DELETE', `${gw.admin}/api/models/${MODEL}/rejected/4`, undefined, AUTH);
  assert.equal(cleared.status, 200, cleared.text);
  assert.deepEqual(cleared.json<ModelBody>().versions.rejected, []);
  const again = await client.send('DELETE', `${gw.admin}/api/models/${MODEL}/rejected/4`, undefined, AUTH);
  assert.equal(again.status, 409, again.text);
  assert.match(again.text, /version 4 of half_plus_two is not rejected/);
});

test('hostile input to the new fields and route: a clear error in the API shape, nothing written', async (t) => {
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, versions: [1] });
  const client = new TestClient(2);
  const gw = await startTestGateway({ models: { [MODEL]: { discover: { replicas: [sim.url] }, policy: { stable: 1 }, healthCheck: { intervalMs: 100, timeoutMs: 1_000 } } } });
  t.after(async () => {
    await client.close();
    await gw.close();
    await sim.close();
  });
  const revision = async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>().revision;
  await waitFor(async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>().versions.discovered.join() === '1', 10_000, 'version 1 found');
  const before = await revision();
  const json = { ...AUTH, 'content-type': 'application/json' };
  const cases: Array<[string, string, string | undefined, Record<string, string>, number, RegExp]> = [
    ['DELETE', '/rejected/01', undefined, AUTH, 400, /"path":"\/params\/version"/],
    ['DELETE', '/rejected/99999999999999999', undefined, AUTH, 400, /"path":"\/params\/version"/],
    ['DELETE', '/rejected/1', JSON.stringify({ note: 'x', colour: 'red' }), json, 400, /colour/],
    ['DELETE', '/rejected/1', undefined, { authorization: 'Bearer test-viewer-token-0123456789' }, 403, /operator/],
    ['DELETE', '/rejected/1', undefined, AUTH, 409, /version 1 of half_plus_two is not rejected \(rejected: none\)|is not rejected/],
    ['PUT', '/policy', JSON.stringify({ stable: 1, onNewVersion: { plan: { steps: [50, 10], minDwellSeconds: 0, minRequests: 0 } } }), json, 400, /\/onNewVersion\/plan\/steps\/1/],
    ['PUT', '/policy', JSON.stringify({ stable: 1, onNewVersion: { plan: { steps: [10] } } }), json, 400, /\/onNewVersion\/plan/],
    ['PUT', '/policy', JSON.stringify({ stable: 1, onNewVersion: { plan: { steps: Array.from({ length: 21 }, (_, i) => i + 1), minDwellSeconds: 0, minRequests: 0 } } }), json, 400, /\/onNewVersion\/plan\/steps/],
    ['PUT', '/policy', JSON.stringify({ stable: 1, onNewVersion: { plan: { steps: [10], minDwellSeconds: 0, minRequests: 0 }, extra: 1 } }), json, 400, /extra/],
  ];
  for (const [method, path, body, headers, status, message] of cases) {
    const reply = await client.send(method, `${gw.admin}/api/models/${MODEL}${path}`, body, headers);
    assert.equal(reply.status, status, `${method} ${path} ${body ?? ''}: ${reply.text}`);
    assert.match(reply.text, message);
    assert.ok(typeof reply.json<{ error?: unknown }>().error === 'string', 'the admin API\'s error shape');
  }
  assert.equal(await revision(), before, 'nothing written');
});
