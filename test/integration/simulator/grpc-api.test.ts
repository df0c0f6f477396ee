/**
 * Every method of TF Serving's gRPC API against the simulator's gRPC port, with @grpc/grpc-js and
 * the project's .proto files as a user's client would: what each answers, the model spec it
 * repeats, and that REST and gRPC compute and report the same things.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { messageCodec, type SignatureDefMapMessage } from '../../../gateway/src/tfserving/protos.js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { get, post } from './http-client.js';

const T = { timeout: 15_000 };
const M = 'half_plus_two';

type Json = Record<string, unknown>;

const floats = (values: number[], shape: number[] = [values.length]): Json => ({
  dtype: 'DT_FLOAT',
  tensor_shape: { dim: shape.map((size) => ({ size })) },
  float_val: values,
});
const example = (x: number): Json => ({ features: { feature: { x: { float_list: { value: [x] } } } } });
const spec = (version: string, signature = 'serving_default'): Json => ({ name: M, version: { value: version }, version_choice: 'version', signature_name: signature });

describe('gRPC API of a half_plus_two replica (versions 1 and 2, label stable=1)', () => {
  let sim: SimulatorHandle;
  let client: TfServingClient;
  before(async () => {
    sim = await startReplica({ grpcPort: 0, versions: [1, 2], labels: { stable: 1 } });
    client = tfServingClient(sim.grpcAddress as string);
  });
  after(async () => {
    client.close();
    await sim.close();
  });

  it('Predict: x=[1,2,5] -> y=[2.5,3,4.5] as a DT_FLOAT TensorProto, from the latest version', T, async () => {
    const r = await client.call('PredictionService', 'Predict', { model_spec: { name: M }, inputs: { x: floats([1, 2, 5]) } });
    // tensor_shape sizes are int64: strings, as the client is set up with longs: String.
    assert.deepEqual(r, { outputs: { y: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '3' }] }, float_val: [2.5, 3, 4.5] } }, model_spec: spec('2') });
  });

  it('Predict by version, by label, a [2,1] batch, and tensor_content instead of float_val', T, async () => {
    const byVersion = await client.call('PredictionService', 'Predict', { model_spec: { name: M, version: { value: 1 } }, inputs: { x: floats([3, 4], [2, 1]) } });
    assert.deepEqual(byVersion['model_spec'], spec('1'));
    assert.deepEqual((byVersion['outputs'] as Json)['y'], { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '2' }, { size: '1' }] }, float_val: [3.5, 4] });
    const byLabel = await client.call('PredictionService', 'Predict', { model_spec: { name: M, version_label: 'stable' }, inputs: { x: floats([1]) } });
    assert.deepEqual(byLabel['model_spec'], spec('1'));
    const content = Buffer.alloc(8);
    content.writeFloatLE(1, 0);
    content.writeFloatLE(5, 4);
    const packed = await client.call('PredictionService', 'Predict', {
      model_spec: { name: M, signature_name: 'serving_default' },
      inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 2 }] }, tensor_content: content } },
      output_filter: ['y'],
    });
    assert.deepEqual((packed['outputs'] as Json)['y'], { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '2' }] }, float_val: [2.5, 4.5] });
  });

  it('Predict: a float_val shorter than the shape repeats its last value (Tensor::FromProto)', T, async () => {
    const r = await client.call('PredictionService', 'Predict', { model_spec: { name: M }, inputs: { x: floats([1, 2], [4]) } });
    assert.deepEqual(((r['outputs'] as Json)['y'] as Json)['float_val'], [2.5, 3, 3, 3]);
  });

  it('Classify: one class per example, score only (the graph has no classes tensor)', T, async () => {
    const r = await client.call('PredictionService', 'Classify', {
      model_spec: { name: M, signature_name: 'classify_x_to_y' },
      input: { example_list: { examples: [example(1), example(2)] } },
    });
    assert.deepEqual(r, { result: { classifications: [{ classes: [{ score: 2.5 }] }, { classes: [{ score: 3 }] }] }, model_spec: spec('2', 'classify_x_to_y') });
  });

  it('Regress: the context is added to every example; the same numbers as REST', T, async () => {
    const r = await client.call('PredictionService', 'Regress', {
      model_spec: { name: M, version: { value: 1 }, signature_name: 'regress_x_to_y' },
      input: { example_list_with_context: { context: example(3), examples: [{}, example(1)] } },
    });
    // An example's own x follows the context's bytes, and the last occurrence wins.
    assert.deepEqual(r, { result: { regressions: [{ value: 3.5 }, { value: 2.5 }] }, model_spec: spec('1', 'regress_x_to_y') });
    const rest = await post(sim.url, `/v1/models/${M}/versions/1:regress`, '{"signature_name":"regress_x_to_y","context":{"x":3.0},"examples":[{},{"x":1.0}]}');
    assert.deepEqual(JSON.parse(rest.body), { results: [3.5, 2.5] });
  });

  it('MultiInference: classify and regress signatures in one call, a result per task', T, async () => {
    const r = await client.call('PredictionService', 'MultiInference', {
      tasks: [
        { model_spec: { name: M, signature_name: 'classify_x_to_y' }, method_name: 'tensorflow/serving/classify' },
        { model_spec: { name: M, signature_name: 'regress_x_to_y2' }, method_name: 'tensorflow/serving/regress' },
      ],
      input: { example_list: { examples: [example(1), example(4)] } },
    });
    assert.deepEqual(r, {
      results: [
        { model_spec: spec('2', 'classify_x_to_y'), classification_result: { classifications: [{ classes: [{ score: 2.5 }] }, { classes: [{ score: 4 }] }] }, result: 'classification_result' },
        { model_spec: spec('2', 'regress_x_to_y2'), regression_result: { regressions: [{ value: 3.5 }, { value: 5 }] }, result: 'regression_result' },
      ],
    });
  });

  it('GetModelMetadata: the signature defs in an Any, the same ones the REST metadata lists', T, async () => {
    const r = await client.call<{ model_spec: Json; metadata: Record<string, { type_url: string; value: Buffer }> }>('PredictionService', 'GetModelMetadata', {
      model_spec: { name: M, version_label: 'stable' },
      metadata_field: ['signature_def'],
    });
    assert.deepEqual(r.model_spec, { name: M, version: { value: '1' }, version_choice: 'version' });
    assert.deepEqual(Object.keys(r.metadata), ['signature_def']);
    const any = r.metadata['signature_def'];
    assert.equal(any?.type_url, 'type.googleapis.com/tensorflow.serving.SignatureDefMap');
    const grpcDefs = messageCodec<SignatureDefMapMessage>('tensorflow.serving.SignatureDefMap').decode(any?.value ?? Buffer.alloc(0)).signature_def ?? {};
    const restDefs = (JSON.parse((await get(sim.url, `/v1/models/${M}/versions/1/metadata`)).body) as { metadata: { signature_def: { signature_def: Record<string, Json> } } })
      .metadata.signature_def.signature_def;
    assert.deepEqual(Object.keys(grpcDefs).sort(), Object.keys(restDefs).sort());
    for (const [name, def] of Object.entries(restDefs)) {
      const g = grpcDefs[name];
      assert.equal(g?.method_name, def['method_name'], name);
      for (const side of ['inputs', 'outputs'] as const) {
        const restSide = def[side] as Record<string, { name: string; dtype: string; tensor_shape?: { dim: Array<{ size: string }>; unknown_rank: boolean } }>;
        assert.deepEqual(Object.keys(g?.[side] ?? {}), Object.keys(restSide), `${name} ${side}`);
        for (const [alias, info] of Object.entries(restSide)) {
          const gi = g?.[side]?.[alias];
          assert.equal(gi?.name, info.name);
          // dtype numbers: DT_FLOAT 1, DT_STRING 7.
          assert.equal(gi?.dtype, info.dtype === 'DT_FLOAT' ? 1 : 7);
          assert.deepEqual(gi?.tensor_shape?.dim?.map((d) => d.size) ?? [], info.tensor_shape?.dim.map((d) => d.size) ?? []);
          assert.equal(gi?.tensor_shape?.unknown_rank ?? false, info.tensor_shape?.unknown_rank ?? false);
        }
      }
    }
  });

  it('GetModelStatus: every version highest first, one version when asked, a label ignored', T, async () => {
    const all = await client.call('ModelService', 'GetModelStatus', { model_spec: { name: M } });
    assert.deepEqual(all, {
      model_version_status: [
        { version: '2', state: 'AVAILABLE', status: {} },
        { version: '1', state: 'AVAILABLE', status: {} },
      ],
    });
    const one = await client.call('ModelService', 'GetModelStatus', { model_spec: { name: M, version: { value: 1 } } });
    assert.deepEqual(one, { model_version_status: [{ version: '1', state: 'AVAILABLE', status: {} }] });
    const labelled = await client.call('ModelService', 'GetModelStatus', { model_spec: { name: M, version_label: 'no-such-label' } });
    assert.deepEqual(labelled, all);
  });
});

describe('GetModelStatus reports each version state with its number and status', () => {
  it('START 10, LOADING 20, AVAILABLE 30, UNLOADING 40, END 50, and a failed load END + UNKNOWN', T, async (t) => {
    const sim = await startReplica({
      grpcPort: 0,
      versions: [1, 2, 3, 4, 5, 6],
      versionStates: { '1': 'START', '2': 'LOADING', '4': 'UNLOADING', '5': 'END', '6': { state: 'END', errorCode: 'UNKNOWN', errorMessage: 'load failed' } },
    });
    const client = tfServingClient(sim.grpcAddress as string);
    t.after(async () => {
      client.close();
      await sim.close();
    });
    const r = await client.call<{ model_version_status: Json[] }>('ModelService', 'GetModelStatus', { model_spec: { name: M } });
    assert.deepEqual(r.model_version_status, [
      { version: '6', state: 'END', status: { error_code: 'UNKNOWN', error_message: 'load failed' } },
      { version: '5', state: 'END', status: {} },
      { version: '4', state: 'UNLOADING', status: {} },
      { version: '3', state: 'AVAILABLE', status: {} },
      { version: '2', state: 'LOADING', status: {} },
      { version: '1', state: 'START', status: {} },
    ]);
    sim.setVersionState(2, 'AVAILABLE');
    const after = await client.call<{ model_version_status: Json[] }>('ModelService', 'GetModelStatus', { model_spec: { name: M, version: { value: 2 } } });
    assert.deepEqual(after.model_version_status, [{ version: '2', state: 'AVAILABLE', status: {} }]);
  });
});

describe('HandleReloadConfigRequest', () => {
  const config = (models: Json[]): Json => ({ config: { model_config_list: { config: models } } });
  const own = (labels: Record<string, number> = {}): Json => ({ name: M, base_path: '/models/half_plus_two', model_platform: 'tensorflow', version_labels: labels });

  it('replaces the labels (REST and gRPC both see them); a config without the model unloads it', T, async (t) => {
    const sim = await startReplica({ grpcPort: 0, versions: [1, 2], labels: { old: 1 } });
    const client = tfServingClient(sim.grpcAddress as string);
    t.after(async () => {
      client.close();
      await sim.close();
    });
    const r = await client.call('ModelService', 'HandleReloadConfigRequest', { ...config([own({ stable: 1, canary: 2 })]), metric_names: ['/tensorflow/serving/model_count'] });
    assert.deepEqual(r, { status: {}, metric: [{ name: '/tensorflow/serving/model_count', int64_value_increase: '0', value_increase: 'int64_value_increase' }] });
    assert.deepEqual(sim.settings().labels, { stable: '1', canary: '2' });
    const viaLabel = await client.call('PredictionService', 'Predict', { model_spec: { name: M, version_label: 'canary' }, inputs: { x: floats([1]) } });
    assert.deepEqual(viaLabel['model_spec'], spec('2'));
    assert.equal((await post(sim.url, `/v1/models/${M}/labels/stable:predict`, '{"instances":[1.0]}')).status, 200);
    assert.equal((await post(sim.url, `/v1/models/${M}/labels/old:predict`, '{"instances":[1.0]}')).status, 400);

    await client.call('ModelService', 'HandleReloadConfigRequest', config([{ name: 'other', base_path: 's3://bucket/other', model_platform: 'tensorflow' }]));
    const status = await client.call<{ model_version_status: Json[] }>('ModelService', 'GetModelStatus', { model_spec: { name: M } });
    assert.deepEqual(status.model_version_status.map((s) => s['state']), ['END', 'END']);
    assert.deepEqual(sim.settings().labels, {});
    assert.equal(sim.counters().byOperation.reloadConfig, 2);
  });
});
