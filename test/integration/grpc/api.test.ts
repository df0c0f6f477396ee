/**
 * TF Serving's gRPC API through the gateway, with @grpc/grpc-js as users write clients: every
 * PredictionService and ModelService method returns what the replica returns (plus the version in
 * the initial metadata), and what the gateway answers itself is TF Serving's exact code and message,
 * with no replica touched.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RELOAD_CONFIG_ANSWER } from '../../../gateway/src/protocols/grpc/listener.js';
import { messageCodec } from '../../../gateway/src/tfserving/protos.js';
import { grpcError, rawCall, tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
let client: TfServingClient;

const spec = (extra: Record<string, unknown> = {}) => ({ name: MODEL, ...extra });
const predict = (x: number[], extra: Record<string, unknown> = {}) => ({
  model_spec: spec(extra),
  inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: String(x.length) }] }, float_val: x } },
});
interface PredictResponse {
  outputs: { y: { float_val: number[] } };
  model_spec: { name: string; version: { value: string } };
}

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 0, headerRules: [{ header: 'x-canary' }] } });
  client = tfServingClient(stack.gw.grpc);
});
after(async () => {
  client.close();
  await stack.close();
});

/** Calls Predict and returns the response with the x-model-version the gateway put in the metadata. */
function predictWithVersion(request: object, metadata = new grpc.Metadata()): Promise<{ response: PredictResponse; version: string | undefined }> {
  return new Promise((resolve, reject) => {
    const raw = new grpc.Client(stack.gw.grpc, grpc.credentials.createInsecure());
    let version: string | undefined;
    const call = raw.makeUnaryRequest(
      '/tensorflow.serving.PredictionService/Predict',
      (value: Buffer) => value,
      (value: Buffer) => value,
      encodePredict(request),
      metadata,
      { deadline: Date.now() + 5_000 },
      (err, value) => {
        raw.close();
        if (err !== null) reject(err);
        else resolve({ response: decodePredict(value as Buffer), version });
      },
    );
    call.on('metadata', (m: grpc.Metadata) => (version = m.get('x-model-version')[0] as string | undefined));
  });
}

test('Predict: the stable version answers by default, the canary on a header rule, and the initial metadata says which', async () => {
  const stableAnswer = await predictWithVersion(predict([1, 2, 5]));
  assert.deepEqual(stableAnswer.response.outputs.y.float_val, [2.5, 3, 4.5]);
  assert.equal(stableAnswer.version, '1');
  assert.equal(stableAnswer.response.model_spec.version.value, '1', 'the replica served exactly the version the gateway chose');
  const metadata = new grpc.Metadata();
  metadata.set('x-canary', 'always');
  const canaryAnswer = await predictWithVersion(predict([1, 2, 5]), metadata);
  assert.deepEqual(canaryAnswer.response.outputs.y.float_val, [3.5, 4, 5.5]);
  assert.equal(canaryAnswer.version, '2');
});

test('version and label pins: the message sent on names the chosen version', async () => {
  const pinned = await client.call<PredictResponse>('PredictionService', 'Predict', predict([1], { version: { value: '2' } }));
  assert.deepEqual(pinned.outputs.y.float_val, [3.5]);
  assert.equal(pinned.model_spec.version.value, '2');
  const labelled = await client.call<PredictResponse>('PredictionService', 'Predict', predict([1], { version_label: 'canary' }));
  assert.deepEqual(labelled.outputs.y.float_val, [3.5]);
  const stableLabel = await client.call<PredictResponse>('PredictionService', 'Predict', predict([1], { version_label: 'stable' }));
  assert.deepEqual(stableLabel.outputs.y.float_val, [2.5]);
});

test('Classify, Regress, MultiInference, GetModelMetadata and GetModelStatus return what the replica returns', async () => {
  const examples = { example_list: { examples: [{ features: { feature: { x: { float_list: { value: [1] } } } } }] } };
  const regress = await client.call<{ result: { regressions: Array<{ value: number }> } }>('PredictionService', 'Regress', {
    model_spec: spec({ signature_name: 'regress_x_to_y', version: { value: '1' } }),
    input: examples,
  });
  assert.deepEqual(regress.result.regressions.map((r) => r.value), [2.5]);
  const classify = await client.call<{ result: { classifications: unknown[] } }>('PredictionService', 'Classify', {
    model_spec: spec({ signature_name: 'classify_x_to_y', version: { value: '1' } }),
    input: examples,
  });
  assert.equal(classify.result.classifications.length, 1);
  const multi = await client.call<{ results: unknown[] }>('PredictionService', 'MultiInference', {
    tasks: [{ model_spec: spec({ signature_name: 'regress_x_to_y', version: { value: '1' } }), method_name: 'tensorflow/serving/regress' }],
    input: examples,
  });
  assert.equal(multi.results.length, 1);
  const metadata = await client.call<{ model_spec: { name: string; version: { value: string } }; metadata: Record<string, unknown> }>('PredictionService', 'GetModelMetadata', {
    model_spec: spec(),
    metadata_field: ['signature_def'],
  });
  assert.equal(metadata.model_spec.name, MODEL);
  assert.ok('signature_def' in metadata.metadata);
  const status = await client.call<{ model_version_status: Array<{ version: string; state: string }> }>('ModelService', 'GetModelStatus', { model_spec: spec({ version: { value: '2' } }) });
  assert.deepEqual(status.model_version_status.map((s) => [s.version, s.state]), [['2', 'AVAILABLE']]);
});

test('unknown model, version and label: TF Serving\'s code and message, and no replica touched', async () => {
  const grpcCalls = (): number => [...stack.stable, ...stack.canary].reduce((n, s) => n + s.counters().byProtocol.grpc, 0);
  const before = grpcCalls();
  await assert.rejects(client.call('PredictionService', 'Predict', { model_spec: { name: 'nope' } }), grpcError(grpc.status.NOT_FOUND, 'Servable not found for request: Latest(nope)'));
  await assert.rejects(client.call('PredictionService', 'Predict', predict([1], { version: { value: '7' } })), grpcError(grpc.status.NOT_FOUND, `Servable not found for request: Specific(${MODEL}, 7)`));
  await assert.rejects(client.call('PredictionService', 'Predict', predict([1], { version_label: 'nope' })), grpcError(grpc.status.INVALID_ARGUMENT, 'Unrecognized servable version label: nope'));
  await assert.rejects(client.call('PredictionService', 'Predict', { model_spec: {} }), grpcError(grpc.status.INVALID_ARGUMENT, 'ModelSpec has no name specified.'));
  await assert.rejects(client.call('ModelService', 'GetModelStatus', {}), grpcError(grpc.status.INVALID_ARGUMENT, 'Missing ModelSpec'));
  await assert.rejects(client.call('ModelService', 'GetModelStatus', { model_spec: { name: 'nope' } }), grpcError(grpc.status.NOT_FOUND, 'Could not find any versions of model nope'));
  await assert.rejects(
    client.call('ModelService', 'GetModelStatus', { model_spec: spec({ version: { value: '7' } }) }),
    grpcError(grpc.status.NOT_FOUND, `Could not find version 7 of model ${MODEL}`),
  );
  await assert.rejects(
    client.call('PredictionService', 'MultiInference', { tasks: [{ model_spec: spec() }, { model_spec: { name: 'other' } }] }),
    grpcError(grpc.status.INVALID_ARGUMENT, 'All ModelSpecs in a MultiInferenceRequest must access the same model name.'),
  );
  await assert.rejects(client.call('ModelService', 'HandleReloadConfigRequest', { config: {} }), grpcError(RELOAD_CONFIG_ANSWER.code, RELOAD_CONFIG_ANSWER.message));
  const after = grpcCalls();
  assert.equal(after, before, 'the gateway answered every one itself');
});

test('on the wire: errors are Trailers-Only; an unknown method is UNIMPLEMENTED; no te header is UNKNOWN', async () => {
  const grpcHeaders = { te: 'trailers', 'content-type': 'application/grpc' };
  const notFound = await rawCall(stack.gw.grpc, '/tensorflow.serving.PredictionService/Predict', Buffer.from([0, 0, 0, 0, 6, 0x0a, 0x04, 0x0a, 0x02, 0x6e, 0x6f]), grpcHeaders);
  assert.equal(notFound.headers[':status'], 200);
  assert.equal(notFound.headers['grpc-status'], String(grpc.status.NOT_FOUND));
  assert.equal(notFound.headers['grpc-message'], 'Servable not found for request: Latest(no)');
  assert.equal(notFound.headersEndStream, true, 'one HEADERS frame with END_STREAM');
  const unknown = await rawCall(stack.gw.grpc, '/tensorflow.serving.SessionService/SessionRun', Buffer.from([0, 0, 0, 0, 0]), grpcHeaders);
  assert.equal(unknown.headers['grpc-status'], String(grpc.status.UNIMPLEMENTED));
  const noTe = await rawCall(stack.gw.grpc, '/tensorflow.serving.PredictionService/Predict', Buffer.from([0, 0, 0, 0, 0]), { 'content-type': 'application/grpc' });
  assert.equal(noTe.headers['grpc-status'], String(grpc.status.UNKNOWN));
  assert.equal(noTe.headers['grpc-message'], 'Missing :te header');
});

test('grpc.health.v1: SERVING while the gateway is ready', async () => {
  const answer = await rawCall(stack.gw.grpc, '/grpc.health.v1.Health/Check', Buffer.from([0, 0, 0, 0, 0]), { te: 'trailers', 'content-type': 'application/grpc' });
  assert.equal(answer.trailers?.['grpc-status'], '0');
  assert.deepEqual([...answer.data], [0, 0, 0, 0, 2, 0x08, 0x01], 'HealthCheckResponse { status: SERVING }');
});

// Predict through grpc-js with raw bytes, so the initial metadata can be read.
const predictRequestCodec = messageCodec<object>('tensorflow.serving.PredictRequest');
const predictResponseCodec = messageCodec<PredictResponse>('tensorflow.serving.PredictResponse');
function encodePredict(request: object): Buffer {
  return Buffer.from(predictRequestCodec.encode(request));
}
function decodePredict(bytes: Buffer): PredictResponse {
  return predictResponseCodec.decode(bytes);
}

test('the admin API counts each version\'s requests per protocol: gRPC calls apart from REST requests', async () => {
  const view = async (): Promise<Record<string, { rest: number; grpc: number }>> => {
    const res = await fetch(`${stack.gw.admin}/api/models/${MODEL}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { pools: Array<{ version: number; requestsByProtocol: { rest: number; grpc: number } }> };
    return Object.fromEntries(body.pools.map((p) => [String(p.version), p.requestsByProtocol]));
  };
  const start = await view();
  const canary = new grpc.Metadata();
  canary.set('x-canary', 'always');
  for (let i = 0; i < 3; i++) await predictWithVersion(predict([1]), canary);
  await predictWithVersion(predict([1]));
  const rest = await fetch(`${stack.gw.rest}/v1/models/${MODEL}:predict`, { method: 'POST', body: '{"instances": [1.0]}', headers: { 'x-canary': 'never' } });
  assert.equal(rest.status, 200);
  await rest.text();
  const end = await view();
  assert.deepEqual(
    { '1': { rest: end['1']!.rest - start['1']!.rest, grpc: end['1']!.grpc - start['1']!.grpc }, '2': { rest: end['2']!.rest - start['2']!.rest, grpc: end['2']!.grpc - start['2']!.grpc } },
    { '1': { rest: 1, grpc: 1 }, '2': { rest: 0, grpc: 3 } },
  );
});
