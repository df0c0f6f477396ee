/**
 * Shadow traffic over gRPC: a copy of each call goes to the shadow version (its ModelSpec naming
 * that version); a hanging shadow delays no call, holds only its budget, and the rest is dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec } from '../../../gateway/src/tfserving/protos.js';
import { dataFrame, FRAME, grpcRequestHeaders, H2_ERROR, headersFrame, RawH2, rstStreamFrame } from '../../adversarial/raw-h2.js';
import { tfServingClient } from '../../helpers/grpc-client.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, shadowOf, startShadowStack } from '../../helpers/shadow-stack.js';

const predict = { model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };

test('gRPC: a hanging shadow delays no call; copies over the budget are dropped and counted', async (t) => {
  const stack = await startShadowStack({
    policy: { stable: 1, shadow: { version: 2, percent: 100, maxInFlight: 1 } },
    proxy: { deadlineMs: 3_000 },
    simulator: (v) => (v === 2 ? { faults: { hang: true } } : {}),
  });
  const client = new TestClient(2);
  const grpc = tfServingClient(stack.gw.grpc);
  t.after(async () => {
    grpc.close();
    await client.close();
    await stack.close();
  });
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    const answer = await grpc.call<{ outputs: { y: { float_val: number[] } }; model_spec: { version: { value: string } } }>('PredictionService', 'Predict', predict, { deadlineMs: 2_000 });
    assert.deepEqual(answer.outputs.y.float_val, [2.5]);
    assert.equal(answer.model_spec.version.value, '1');
    assert.ok(performance.now() - started < 1_000, 'the call did not wait for the hanging shadow');
  }
  const view = (await shadowOf(client, stack))!;
  assert.equal(view.sent, 1);
  assert.equal(view.inFlight, 1);
  assert.equal(view.dropped.budget, 3);
  const counters = stack.sims.get(2)!.counters();
  assert.equal(counters.byProtocol.grpc, 1);
  assert.equal(counters.byVersion['2'], 1, 'the copy named the shadow version');
});

test('gRPC: calls their client resets at once (HTTP/2 rapid reset) are not copied to the shadow, and give its budget back', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 2, percent: 100, maxInFlight: 1000 } } });
  const client = new TestClient(2);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const port = Number(stack.gw.grpc.split(':')[1]);
  const body = frameMessage(messageCodec<object>('tensorflow.serving.PredictRequest').encode(predict));
  const conn = await RawH2.open(port);
  await conn.until(() => conn.frames.some((f) => f.type === FRAME.SETTINGS), 2_000);
  const frames: Buffer[] = [];
  for (let i = 0, id = 1; i < 200; i++, id += 2) {
    frames.push(headersFrame(id, grpcRequestHeaders('/tensorflow.serving.PredictionService/Predict'), false), dataFrame(id, body, true), rstStreamFrame(id, H2_ERROR.CANCEL));
  }
  conn.write(Buffer.concat(frames));
  await conn.drain();
  await new Promise((resolve) => setTimeout(resolve, 300));
  conn.close();
  const view = (await shadowOf(client, stack))!;
  assert.equal(view.inFlight, 0, 'no copy holds the budget');
  const shadowCalls = stack.sims.get(2)!.counters().byProtocol.grpc;
  assert.ok(shadowCalls <= 2, `${shadowCalls} of 200 reset calls were copied to the shadow`);
});
