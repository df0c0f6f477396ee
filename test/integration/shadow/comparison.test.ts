/**
 * The comparison of each live/shadow pair, over real sockets: a shadow version that answers as the
 * live one agrees (100%), one that answers differently disagrees (0%) with both answers shown; the
 * results are in the admin API's model view, the event stream's stats ticks and /metrics; gRPC
 * calls are copied and compared (TensorProto values) as REST requests are.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { tfServingClient } from '../../helpers/grpc-client.js';
import { TestClient } from '../../helpers/http.js';
import { openEventStream } from '../../helpers/sse.js';
import { streamSchemaViolations } from '../../helpers/stream-schemas.js';
import { AUTH, MODEL, startShadowStack, waitForPairs } from '../../helpers/shadow-stack.js';

const BODY = JSON.stringify({ instances: [1, 2, 5] });

test('REST: a shadow answering as the live version agrees 100%, one answering otherwise 0%, with both answers shown', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 3, percent: 100 } } });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  for (let i = 0; i < 20; i++) assert.equal((await client.post(stack.predictUrl, BODY)).status, 200);
  const agreeing = await waitForPairs(client, stack, 20);
  assert.equal(agreeing.results?.version, 3);
  assert.equal(agreeing.results?.compared, 20);
  assert.equal(agreeing.results?.agreementRate, 1);
  assert.equal(agreeing.results?.maxAbsDiff, 0);
  assert.equal(agreeing.results?.meanAbsDiff, 0);
  assert.equal(agreeing.results?.errorRate, 0);
  assert.ok(agreeing.results?.p99Ms !== null && agreeing.results!.p99Ms! >= 0);
  assert.deepEqual(agreeing.results?.disagreements, []);

  // Version 2 (half_plus_three): every prediction off by exactly 1. Results start over.
  const set = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/shadow`, JSON.stringify({ shadow: { version: 2, percent: 100 } }), {
    ...AUTH,
    'content-type': 'application/json',
  });
  assert.equal(set.status, 200, set.text);
  for (let i = 0; i < 10; i++) assert.equal((await client.post(stack.predictUrl, BODY)).json<{ predictions: number[] }>().predictions[0], 2.5);
  const differing = await waitForPairs(client, stack, 10);
  assert.equal(differing.results?.version, 2);
  assert.equal(differing.results?.compared, 10);
  assert.equal(differing.results?.agreementRate, 0);
  assert.equal(differing.results?.maxAbsDiff, 1);
  assert.equal(differing.results?.meanAbsDiff, 1);
  const last = differing.results!.disagreements[0]!;
  assert.equal(differing.results!.disagreements.length, 5, 'the last five are kept');
  assert.equal(last.protocol, 'rest');
  assert.equal(last.operation, 'predict');
  assert.equal(last.liveVersion, 1);
  assert.deepEqual(JSON.parse(last.live), { predictions: [2.5, 3, 4.5] });
  assert.deepEqual(JSON.parse(last.shadow), { predictions: [3.5, 4, 5.5] });
  assert.match(last.detail, /^\/predictions\/0: live 2.5, shadow 3.5/);

  const metrics = (await client.get(`${stack.gw.admin}/metrics`, AUTH)).text;
  assert.match(metrics, new RegExp(`canary_gateway_shadow_agreement_ratio\\{model="${MODEL}",version="2"\\} 0\\n`));
  assert.match(metrics, new RegExp(`canary_gateway_shadow_pairs_total\\{model="${MODEL}",version="2",outcome="disagreed"\\} 10\\n`));
  assert.match(metrics, new RegExp(`canary_gateway_shadow_abs_diff_max\\{model="${MODEL}",version="2"\\} 1\\n`));
  assert.match(metrics, new RegExp(`canary_gateway_shadow_requests_total\\{model="${MODEL}"\\} 30\\n`));

  // The event stream: the snapshot and every stats tick carry the model's shadow.
  const events = await openEventStream(`${stack.gw.admin}/api/events`, TEST_TOKEN);
  t.after(() => events.close());
  const tick = await events.waitFor((e) => e.event === 'stats', 5_000, 'a stats tick');
  const model = (tick.data as { models: Array<{ name: string; shadow: { results: { agreementRate: number } } | null }> }).models.find((m) => m.name === MODEL);
  assert.equal(model?.shadow?.results.agreementRate, 0);
  // Every field sent (the results, the disagreements with both answers, the history's agreement) is declared.
  assert.deepEqual(streamSchemaViolations(events.events), []);
  // A page opened now gets the agreement of the ticks so far, for its chart.
  const later = await openEventStream(`${stack.gw.admin}/api/events`, TEST_TOKEN);
  t.after(() => later.close());
  const snapshot = (await later.waitFor((e) => e.event === 'snapshot', 5_000, 'the snapshot')).data as { history: Record<string, Array<{ shadow?: { agreementRate: number | null } }>> };
  assert.ok(snapshot.history[MODEL]?.some((s) => s.shadow?.agreementRate === 0), 'the history carries the agreement for the chart');
});

test('REST classify and regress are compared too; a shadow that cannot answer them counts as errors', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 3, percent: 100 } } });
  const client = new TestClient(2);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const regressBody = JSON.stringify({ signature_name: 'regress_x_to_y', examples: [{ x: 1.5 }, { x: 2.5 }] });
  const regress = await client.post(`${stack.gw.rest}/v1/models/${MODEL}:regress`, regressBody);
  assert.equal(regress.status, 200, regress.text);
  const classify = await client.post(`${stack.gw.rest}/v1/models/${MODEL}:classify`, JSON.stringify({ signature_name: 'classify_x_to_y', examples: [{ x: 1.5 }] }));
  assert.equal(classify.status, 200, classify.text);
  const agreeing = await waitForPairs(client, stack, 2);
  assert.equal(agreeing.results?.totals.agreed, 2, JSON.stringify(agreeing.results));
  assert.ok((agreeing.results?.meanAbsDiff ?? 1) === 0);
  // Version 2 (an older export) has no regress_x_to_y signature: its 400 is the shadow's error.
  const set = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/shadow`, JSON.stringify({ shadow: { version: 2, percent: 100 } }), {
    ...AUTH,
    'content-type': 'application/json',
  });
  assert.equal(set.status, 200, set.text);
  assert.equal((await client.post(`${stack.gw.rest}/v1/models/${MODEL}:regress`, regressBody)).status, 200);
  const failing = await waitForPairs(client, stack, 1);
  assert.equal(failing.results?.totals.error, 1);
});

test('gRPC: Predict calls are copied and compared (TensorProto values)', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 2, percent: 100 } } });
  const client = new TestClient(2);
  const grpc = tfServingClient(stack.gw.grpc);
  t.after(async () => {
    grpc.close();
    await client.close();
    await stack.close();
  });
  const predict = { model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '3' }] }, float_val: [1, 2, 5] } } };
  for (let i = 0; i < 5; i++) {
    const answer = await grpc.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', predict);
    assert.deepEqual(answer.outputs.y.float_val, [2.5, 3, 4.5], 'the live answer');
  }
  const view = await waitForPairs(client, stack, 5);
  assert.equal(stack.sims.get(2)!.counters().byProtocol.grpc, 5, 'the copies went over gRPC');
  assert.equal(view.results?.totals.disagreed, 5, JSON.stringify(view.results));
  assert.equal(view.results?.maxAbsDiff, 1);
  const last = view.results!.disagreements[0]!;
  assert.equal(last.protocol, 'grpc');
  assert.match(last.detail, /^\/outputs\/y\/0: live 2.5, shadow 3.5/);
  assert.match(last.live, /"float_val":\[2.5,3,4.5\]/);
  assert.match(last.shadow, /"float_val":\[3.5,4,5.5\]/);

  const agree = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/shadow`, JSON.stringify({ shadow: { version: 3, percent: 100 } }), {
    ...AUTH,
    'content-type': 'application/json',
  });
  assert.equal(agree.status, 200);
  for (let i = 0; i < 5; i++) await grpc.call('PredictionService', 'Predict', predict);
  const agreeing = await waitForPairs(client, stack, 5);
  assert.equal(agreeing.results?.version, 3);
  assert.equal(agreeing.results?.agreementRate, 1);
});

test('answers over maxCompareBytes are not compared: the pair is counted as skipped', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 3, percent: 100, maxCompareBytes: 1024 } } });
  const client = new TestClient(2);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const big = await client.post(stack.predictUrl, JSON.stringify({ instances: Array.from({ length: 400 }, (_, i) => i) }));
  assert.equal(big.status, 200);
  assert.ok(big.text.length > 1024);
  const small = await client.post(stack.predictUrl, BODY);
  assert.equal(small.status, 200);
  const view = await waitForPairs(client, stack, 2);
  assert.deepEqual(view.results?.totals, { agreed: 1, disagreed: 0, error: 0, skipped: 1 });
});
