/**
 * The simulator's faults, version states, load delay and counters on the gRPC port: one set of
 * settings for both ports, so a fault injected for REST hits gRPC calls in the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec } from '../../../gateway/src/tfserving/protos.js';
import { grpcError, rawCall, tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { get, isRefused, post, sleep } from './http-client.js';

const T = { timeout: 20_000 };
const M = 'half_plus_two';
const PREDICT = { model_spec: { name: M }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } } };
const STATUS = { model_spec: { name: M } };
const METADATA = { model_spec: { name: M }, metadata_field: ['signature_def'] };

/** A deterministic random source cycling through the given values. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

async function replicaWithClient(t: { after: (fn: () => Promise<void>) => void }, options: Parameters<typeof startReplica>[0] = {}): Promise<{ sim: SimulatorHandle; client: TfServingClient }> {
  const sim = await startReplica({ grpcPort: 0, ...options });
  const client = tfServingClient(sim.grpcAddress as string);
  t.after(async () => {
    client.close();
    await sim.close();
  });
  return { sim, client };
}

test('error rate 1: inference and metadata calls fail with the status mapped to its gRPC code', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { errorRate: 1, errorStatus: 503 } });
  await assert.rejects(client.call('PredictionService', 'Predict', PREDICT), grpcError(status.UNAVAILABLE, 'tfserving-sim injected fault: UNAVAILABLE'));
  await assert.rejects(client.call('PredictionService', 'GetModelMetadata', METADATA), grpcError(status.UNAVAILABLE, 'tfserving-sim injected fault: UNAVAILABLE'));
  // GetModelStatus is out of the default scope: health checks still see the replica.
  await client.call('ModelService', 'GetModelStatus', STATUS);
  sim.setFaults({ errorStatus: 500, errorMessage: 'boom' });
  await assert.rejects(client.call('PredictionService', 'Predict', PREDICT), grpcError(status.INTERNAL, 'boom'));
  sim.setFaults({ errorStatus: 429, errorMessage: null });
  await assert.rejects(client.call('PredictionService', 'Predict', PREDICT), grpcError(status.RESOURCE_EXHAUSTED, 'tfserving-sim injected fault: RESOURCE_EXHAUSTED'));
  // The REST port shares the faults.
  assert.equal((await post(sim.url, `/v1/models/${M}:predict`, '{"instances":[1.0]}')).status, 429);
  const c = sim.counters();
  assert.equal(c.faults.errors, 5);
  assert.deepEqual(c.byGrpcStatus, { UNAVAILABLE: 2, OK: 1, INTERNAL: 1, RESOURCE_EXHAUSTED: 1 });
});

test('an injected error is Trailers-Only too', T, async (t) => {
  const { sim } = await replicaWithClient(t, { faults: { errorRate: 1, errorStatus: 503 } });
  const body = frameMessage(messageCodec<object>('tensorflow.serving.PredictRequest').encode({ model_spec: { name: M } }));
  const r = await rawCall(sim.grpcAddress as string, '/tensorflow.serving.PredictionService/Predict', body, { 'content-type': 'application/grpc', te: 'trailers' });
  assert.equal(r.headersEndStream, true);
  assert.equal(r.headers['grpc-status'], '14');
  assert.equal(r.headers['grpc-message'], 'tfserving-sim injected fault: UNAVAILABLE');
});

test('scope "all" reaches GetModelStatus and HandleReloadConfigRequest; requests grpc C++ refuses are untouched', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { errorRate: 1, errorStatus: 500, scope: 'all' } });
  await assert.rejects(client.call('ModelService', 'GetModelStatus', STATUS), grpcError(status.INTERNAL, 'tfserving-sim injected fault: INTERNAL'));
  await assert.rejects(client.call('ModelService', 'HandleReloadConfigRequest', {}), grpcError(status.INTERNAL, 'tfserving-sim injected fault: INTERNAL'));
  const r = await rawCall(sim.grpcAddress as string, '/tensorflow.serving.PredictionService/Predict', Buffer.alloc(0), { 'content-type': 'application/grpc' });
  assert.equal(r.headers['grpc-message'], 'Missing :te header');
  assert.equal(sim.counters().faults.errors, 2);
});

test('an error rate below 1 fails that fraction of calls (deterministic random source)', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { errorRate: 0.5 }, random: sequence(0.1, 0.9, 0.49, 0.5) });
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    outcomes.push(
      await client.call('PredictionService', 'Predict', PREDICT).then(
        () => 'OK',
        (e: { code: status }) => status[e.code],
      ),
    );
  }
  assert.deepEqual(outcomes, ['INTERNAL', 'OK', 'INTERNAL', 'OK']);
  assert.equal(sim.counters().faults.errors, 2);
});

test('latency (and jitter) delay calls in scope only', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { latencyMs: 200, jitterMs: 100 }, random: () => 1 });
  await client.call('ModelService', 'GetModelStatus', STATUS); // connect first
  let start = Date.now();
  await client.call('PredictionService', 'Predict', PREDICT);
  const slow = Date.now() - start;
  assert.ok(slow >= 290, `Predict took ${slow} ms, expected >= 300`);
  start = Date.now();
  await client.call('ModelService', 'GetModelStatus', STATUS);
  assert.ok(Date.now() - start < 150, `GetModelStatus took ${Date.now() - start} ms`);
  assert.equal(sim.counters().faults.delayed, 1);
});

test('hang: the call is read and never answered (the client deadline ends it); close() ends the rest', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { hang: true } });
  await assert.rejects(client.call('PredictionService', 'Predict', PREDICT, { deadlineMs: 300 }), (e: { code: status }) => e.code === status.DEADLINE_EXCEEDED);
  assert.equal(sim.counters().faults.hangs, 1);
  const pending = client.call('PredictionService', 'Predict', PREDICT, { deadlineMs: 10_000 });
  await sleep(100);
  const start = Date.now();
  await sim.close();
  await assert.rejects(pending, (e: { code: status }) => e.code === status.UNAVAILABLE || e.code === status.INTERNAL);
  assert.ok(Date.now() - start < 1000, 'closing the replica cut the hung call');
});

test('reset: the stream is reset (RST_STREAM INTERNAL_ERROR) without an answer; the connection stays up', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { faults: { resetRate: 1 } });
  const body = frameMessage(messageCodec<object>('tensorflow.serving.PredictRequest').encode({ model_spec: { name: M } }));
  const r = await rawCall(sim.grpcAddress as string, '/tensorflow.serving.PredictionService/Predict', body, { 'content-type': 'application/grpc', te: 'trailers' });
  assert.equal(r.rstCode, 2);
  assert.deepEqual(r.headers, {}, 'no answer at all');
  await assert.rejects(client.call('PredictionService', 'Predict', PREDICT), (e: { code: status; details: string }) => e.code === status.INTERNAL && /RST_STREAM/.test(e.details));
  // Calls out of scope on the same connection still work.
  await client.call('ModelService', 'GetModelStatus', STATUS);
  assert.equal(sim.counters().faults.resets, 2);
});

test('version states are shared: a LOADING version is NOT_FOUND on both ports, the latest AVAILABLE serves', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { versions: [1, 2] });
  sim.setVersionState(2, 'LOADING');
  const r = await client.call<{ model_spec: { version: { value: string } } }>('PredictionService', 'Predict', PREDICT);
  assert.equal(r.model_spec.version.value, '1');
  const specific = { ...PREDICT, model_spec: { name: M, version: { value: 2 } } };
  await assert.rejects(client.call('PredictionService', 'Predict', specific), grpcError(status.NOT_FOUND, `Servable not found for request: Specific(${M}, 2)`));
  assert.equal((await post(sim.url, `/v1/models/${M}/versions/2:predict`, '{"instances":[1.0]}')).status, 404);
  sim.update({ versions: { '2': 'AVAILABLE' }, labels: { canary: 2 } });
  const viaLabel = await client.call<{ model_spec: { version: { value: string } } }>('PredictionService', 'Predict', { ...PREDICT, model_spec: { name: M, version_label: 'canary' } });
  assert.equal(viaLabel.model_spec.version.value, '2');
});

test('load delay: BOTH ports refuse connections until the model is loaded', T, async (t) => {
  const sim = await startReplica({ grpcPort: 0, loadDelayMs: 600 });
  t.after(() => sim.close());
  assert.ok((sim.grpcPort ?? 0) > 0, 'the gRPC port is known at once');
  assert.equal(await isRefused(sim.port), true);
  assert.equal(await isRefused(sim.grpcPort as number), true);
  await sim.listening;
  assert.equal(await isRefused(sim.port), false);
  assert.equal(await isRefused(sim.grpcPort as number), false);
  const client = tfServingClient(sim.grpcAddress as string);
  t.after(() => client.close());
  await client.call('ModelService', 'GetModelStatus', STATUS);
});

test('counters: both protocols, gRPC methods by operation, versions, gRPC codes', T, async (t) => {
  const { sim, client } = await replicaWithClient(t, { versions: [1, 2], labels: { stable: 1 } });
  await client.call('PredictionService', 'Predict', PREDICT);
  await client.call('PredictionService', 'Predict', { ...PREDICT, model_spec: { name: M, version_label: 'stable' } });
  await client.call('PredictionService', 'GetModelMetadata', METADATA);
  await client.call('ModelService', 'GetModelStatus', STATUS);
  await client.call('PredictionService', 'MultiInference', {
    tasks: [{ model_spec: { name: M, signature_name: 'regress_x_to_y' }, method_name: 'tensorflow/serving/regress' }],
    input: { example_list: { examples: [{ features: { feature: { x: { float_list: { value: [1] } } } } }] } },
  });
  await assert.rejects(client.call('PredictionService', 'Predict', { ...PREDICT, model_spec: { name: 'other' } }));
  await rawCall(sim.grpcAddress as string, '/tensorflow.serving.SessionService/SessionRun', Buffer.alloc(0), { te: 'trailers' });
  await get(sim.url, `/v1/models/${M}`);
  const c = sim.counters();
  assert.equal(c.total, 8);
  assert.deepEqual(c.byProtocol, { rest: 1, grpc: 7 });
  assert.deepEqual(c.byOperation, { status: 2, metadata: 1, predict: 3, classify: 0, regress: 0, multiInference: 1, reloadConfig: 0, other: 1 });
  assert.deepEqual(c.byVersion, { '2': 3, '1': 1 });
  assert.deepEqual(c.byGrpcStatus, { OK: 5, NOT_FOUND: 1, UNIMPLEMENTED: 1 });
  assert.deepEqual(c.byStatus, { '200': 1 });
  sim.resetCounters();
  assert.equal(sim.counters().total, 0);
});
