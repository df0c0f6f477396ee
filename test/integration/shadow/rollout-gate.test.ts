/**
 * A rollout's shadow stage: the candidate gets copies and no live request until its answers were
 * compared often enough; agreeing, the plan goes on to its first step; disagreeing, the rollout
 * ends as a rollback with the numbers in the audit note, no client ever served by the candidate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { AUTH, MODEL, shadowOf, startShadowStack } from '../../helpers/shadow-stack.js';

const BODY = JSON.stringify({ instances: [1] });

interface ModelBody {
  revision: number;
  rolledBack: boolean;
  note: string;
  reason: string;
  rollout: { step: number } | null;
  policy: { canary: number | null; percent: number; shadow: { version: number } | null };
}

const gatePlan = { shadow: { minRequests: 20, minAgreement: 0.99 }, steps: [50, 100], minDwellSeconds: 3600, minRequests: 0 };

test('a failing shadow stage rolls back, no live request ever reaching the candidate', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, canary: 2, percent: 0 } });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const model = async () => (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  const started = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/plan`, JSON.stringify({ plan: gatePlan }), { ...AUTH, 'content-type': 'application/json' });
  assert.equal(started.status, 200, started.text);
  const inStage = started.json<ModelBody>();
  assert.equal(inStage.policy.percent, 0, 'no live share during the shadow stage');
  assert.equal(inStage.policy.shadow?.version, 2, 'the candidate is the shadow');
  assert.equal(inStage.rollout?.step, 0);

  let served = 0;
  await waitFor(async () => {
    const reply = await client.post(stack.predictUrl, BODY);
    assert.equal(reply.headers['x-model-version'], '1', 'every client answered by stable');
    served++;
    return (await model()).rolledBack;
  }, 20_000, 'the rollback');
  const after = await model();
  assert.equal(after.reason, 'rollback');
  assert.match(after.note, /^shadow stage failed \(.+\): agreement 0\.0% over \d+ compared pairs \(at least 99\.0% needed\), shadow error rate 0\.0%/);
  assert.equal(after.policy.shadow, null);
  assert.equal(after.policy.percent, 0);
  assert.equal(after.rollout, null);
  const copies = (await shadowOf(client, stack))!.sent;
  assert.equal(stack.sims.get(2)!.counters().byOperation.predict, copies, 'the candidate replica saw only copies');
  assert.ok(served >= 20);
  const audit = (await client.get(`${stack.gw.admin}/api/audit?model=${MODEL}&limit=1`, AUTH)).json<{ entries: Array<{ reason: string; note: string; actor: string }> }>();
  assert.equal(audit.entries[0]?.reason, 'rollback');
  assert.equal(audit.entries[0]?.actor, 'rollback-controller');
  assert.match(audit.entries[0]?.note ?? '', /agreement 0\.0%/);
});

test('a passing shadow stage goes on to the first step', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1 } });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const model = async () => (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  const put = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 1, canary: 3, plan: gatePlan }), {
    ...AUTH,
    'content-type': 'application/json',
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json<ModelBody>().policy.percent, 0);
  await waitFor(async () => {
    await client.post(stack.predictUrl, BODY);
    return (await model()).policy.percent === 50;
  }, 20_000, 'the first step');
  const after = await model();
  assert.equal(after.reason, 'rollout');
  assert.match(after.note, /^shadow stage passed \(.+\): agreement 100\.0% over \d+ compared pairs/);
  assert.equal(after.policy.shadow, null);
  assert.equal(after.rollout?.step, 0);
  assert.equal(after.rolledBack, false);
});
