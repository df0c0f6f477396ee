/**
 * Per-version behaviours: one replica serving half_plus_two under one version and half_plus_three
 * under another, as a TF Serving base path with two exports under `latest 2` does. Every API picks
 * the model of the version that serves the request (explicit, through a label, or the latest
 * AVAILABLE), over REST and gRPC alike; the control endpoint sets a version's behaviour.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { messageCodec, type SignatureDefMapMessage } from '../../../gateway/src/tfserving/protos.js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { call, errorOf, get, post } from './http-client.js';

const T = { timeout: 15_000 };
const M = 'half_plus_two';
const P = `/v1/models/${M}`;

type Json = Record<string, unknown>;

const floats = (values: number[]): Json => ({ dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: values.length }] }, float_val: values });
const example = (x: number): Json => ({ features: { feature: { x: { float_list: { value: [x] } } } } });
const put = (url: string, body: string): ReturnType<typeof call> => call(url, 'PUT', '/_sim/control', { body, headers: { 'Content-Type': 'application/json' } });
const predictions = async (url: string, path: string): Promise<unknown> => {
  const r = await post(url, `${path}:predict`, '{"instances":[1.0,2.0,5.0]}');
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { predictions: unknown }).predictions;
};

const TWO = [2.5, 3.0, 4.5];
const THREE = [3.5, 4.0, 5.5];

describe('one replica, version 1 half_plus_two and version 2 half_plus_three', () => {
  let sim: SimulatorHandle;
  let client: TfServingClient;
  before(async () => {
    sim = await startReplica({ grpcPort: 0, versions: [1, 2], behaviours: { 2: 'half_plus_three' }, labels: { stable: 1, canary: 2 } });
    client = tfServingClient(sim.grpcAddress as string);
  });
  after(async () => {
    client.close();
    await sim.close();
  });

  it('GET /_sim/control shows each version with its behaviour, the default beside them', T, async () => {
    const settings = JSON.parse((await get(sim.url, '/_sim/control')).body) as Json;
    assert.equal(settings['behaviour'], 'half_plus_two');
    assert.deepEqual(settings['versions'], {
      '1': { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: 'half_plus_two' },
      '2': { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: 'half_plus_three' },
    });
  });

  it('REST predict: by version, by label, and the latest AVAILABLE', T, async () => {
    assert.deepEqual(await predictions(sim.url, `${P}/versions/1`), TWO);
    assert.deepEqual(await predictions(sim.url, `${P}/versions/2`), THREE);
    assert.deepEqual(await predictions(sim.url, `${P}/labels/stable`), TWO);
    assert.deepEqual(await predictions(sim.url, `${P}/labels/canary`), THREE);
    assert.deepEqual(await predictions(sim.url, P), THREE);
    // Version 2 going away makes version 1 the latest, and its model answers.
    sim.setVersionState(2, 'UNLOADING');
    try {
      assert.deepEqual(await predictions(sim.url, P), TWO);
    } finally {
      sim.setVersionState(2, 'AVAILABLE');
    }
    assert.deepEqual(await predictions(sim.url, P), THREE);
  });

  it('REST regress, classify and metadata use the signatures of the version served', T, async () => {
    const body = '{"signature_name":"tensorflow/serving/regress","examples":[{"x":1.0},{"x":2.0}]}';
    const three = await post(sim.url, `${P}/versions/2:regress`, body);
    assert.deepEqual(JSON.parse(three.body), { results: [3.5, 4.0] });
    // half_plus_two has no such signature.
    const two = await post(sim.url, `${P}/versions/1:regress`, body);
    assert.equal(two.status, 400);
    assert.match(errorOf(two), /tensorflow\/serving\/regress/);
    const classify = await post(sim.url, `${P}/labels/stable:classify`, '{"signature_name":"classify_x_to_y","examples":[{"x":1.0}]}');
    assert.deepEqual(JSON.parse(classify.body), { results: [[['', 2.5]]] });
    const names = async (path: string): Promise<string[]> =>
      Object.keys((JSON.parse((await get(sim.url, path)).body) as { metadata: { signature_def: { signature_def: Json } } }).metadata.signature_def.signature_def).sort();
    assert.deepEqual(await names(`${P}/versions/2/metadata`), ['serving_default', 'tensorflow/serving/regress']);
    assert.deepEqual(await names(`${P}/metadata`), ['serving_default', 'tensorflow/serving/regress']);
    assert.equal((await names(`${P}/versions/1/metadata`)).length, 6);
  });

  it('gRPC Predict: by version, by label, and the latest AVAILABLE', T, async () => {
    const y = async (modelSpec: Json): Promise<unknown> => {
      const r = await client.call('PredictionService', 'Predict', { model_spec: modelSpec, inputs: { x: floats([1, 2, 5]) } });
      return ((r['outputs'] as Json)['y'] as Json)['float_val'];
    };
    assert.deepEqual(await y({ name: M, version: { value: 1 } }), TWO);
    assert.deepEqual(await y({ name: M, version: { value: 2 } }), THREE);
    assert.deepEqual(await y({ name: M, version_label: 'stable' }), TWO);
    assert.deepEqual(await y({ name: M, version_label: 'canary' }), THREE);
    assert.deepEqual(await y({ name: M }), THREE);
  });

  it('gRPC Regress, Classify, MultiInference and GetModelMetadata follow the version too', T, async () => {
    const regress = await client.call('PredictionService', 'Regress', {
      model_spec: { name: M, version: { value: 2 }, signature_name: 'tensorflow/serving/regress' },
      input: { example_list: { examples: [example(1), example(2)] } },
    });
    assert.deepEqual(regress['result'], { regressions: [{ value: 3.5 }, { value: 4 }] });
    await assert.rejects(
      client.call('PredictionService', 'Regress', {
        model_spec: { name: M, version: { value: 1 }, signature_name: 'tensorflow/serving/regress' },
        input: { example_list: { examples: [example(1)] } },
      }),
      /tensorflow\/serving\/regress/,
    );
    const classify = await client.call('PredictionService', 'Classify', {
      model_spec: { name: M, version_label: 'stable', signature_name: 'classify_x_to_y' },
      input: { example_list: { examples: [example(1)] } },
    });
    assert.deepEqual(classify['result'], { classifications: [{ classes: [{ score: 2.5 }] }] });
    const multi = await client.call<{ results: Json[] }>('PredictionService', 'MultiInference', {
      tasks: [{ model_spec: { name: M, version: { value: 2 }, signature_name: 'tensorflow/serving/regress' }, method_name: 'tensorflow/serving/regress' }],
      input: { example_list: { examples: [example(4)] } },
    });
    assert.deepEqual(multi.results[0]?.['regression_result'], { regressions: [{ value: 5 }] });
    const metadata = async (modelSpec: Json): Promise<string[]> => {
      const r = await client.call<{ metadata: Record<string, { value: Buffer }> }>('PredictionService', 'GetModelMetadata', { model_spec: modelSpec, metadata_field: ['signature_def'] });
      const defs = messageCodec<SignatureDefMapMessage>('tensorflow.serving.SignatureDefMap').decode(r.metadata['signature_def']?.value ?? Buffer.alloc(0)).signature_def ?? {};
      return Object.keys(defs).sort();
    };
    assert.deepEqual(await metadata({ name: M, version: { value: 2 } }), ['serving_default', 'tensorflow/serving/regress']);
    assert.equal((await metadata({ name: M, version_label: 'stable' })).length, 6);
  });
});

describe('per-version behaviour through the control endpoint', () => {
  it('a version added with a behaviour computes it; a state change keeps it; a new version without one gets the default', T, async (t) => {
    const sim = await startReplica({ grpcPort: 0, versions: [1] });
    const client = tfServingClient(sim.grpcAddress as string);
    t.after(async () => {
      client.close();
      await sim.close();
    });
    const added = await put(sim.url, '{"versions":{"3":{"state":"AVAILABLE","behaviour":"half_plus_three"}}}');
    assert.equal(added.status, 200, added.body);
    assert.equal((JSON.parse(added.body) as { versions: Record<string, Json> }).versions['3']?.['behaviour'], 'half_plus_three');
    assert.deepEqual(await predictions(sim.url, P), THREE);
    assert.deepEqual(await predictions(sim.url, `${P}/versions/1`), TWO);
    const grpc = await client.call('PredictionService', 'Predict', { model_spec: { name: M }, inputs: { x: floats([1]) } });
    assert.deepEqual(((grpc['outputs'] as Json)['y'] as Json)['float_val'], [3.5]);

    // The string form and an object without behaviour change the state only.
    assert.equal((await call(sim.url, 'PATCH', '/_sim/control', { body: '{"versions":{"3":"LOADING"}}' })).status, 200);
    assert.equal(sim.settings().versions['3']?.behaviour, 'half_plus_three');
    assert.equal((await put(sim.url, '{"versions":{"3":{"state":"AVAILABLE"}}}')).status, 200);
    assert.deepEqual(await predictions(sim.url, P), THREE);

    // A behaviour can be changed in place, and a new version without one takes the instance's default.
    assert.equal((await put(sim.url, '{"versions":{"3":{"state":"AVAILABLE","behaviour":"half_plus_two"}},"labels":{"next":4}}')).status, 200);
    assert.deepEqual(await predictions(sim.url, P), TWO);
    assert.equal((await put(sim.url, '{"versions":{"4":"AVAILABLE"}}')).status, 200);
    assert.equal(sim.settings().versions['4']?.behaviour, 'half_plus_two');
    assert.deepEqual(await predictions(sim.url, `${P}/labels/next`), TWO);

    // A version forgotten and added again starts from the default.
    sim.update({ versions: { 5: { state: 'AVAILABLE', behaviour: 'half_plus_three' } } });
    sim.removeVersion(5);
    sim.setVersionState(5, 'AVAILABLE');
    assert.equal(sim.settings().versions['5']?.behaviour, 'half_plus_two');
  });

  it('a bad behaviour is refused with 400, nothing changed, faults in the same patch included', T, async (t) => {
    const sim = await startReplica({ versions: [1, 2], behaviours: { 2: 'half_plus_three' } });
    t.after(() => sim.close());
    const before = sim.settings();
    const cases: Array<[string, string]> = [
      ['{"faults":{"errorRate":1},"versions":{"4":{"state":"AVAILABLE","behaviour":"half_plus_four"}}}', 'versions["4"].behaviour must be one of half_plus_two, half_plus_three'],
      ['{"versions":{"2":{"state":"AVAILABLE","behaviour":3}}}', 'versions["2"].behaviour must be one of half_plus_two, half_plus_three'],
      ['{"versions":{"1":{"state":"AVAILABLE","behavior":"half_plus_three"}}}', 'unknown field versions["1"].behavior'],
      ['{"versions":{"4":{"behaviour":"half_plus_three"}}}', 'versions["4"].state must be one of UNKNOWN, START, LOADING, AVAILABLE, UNLOADING, END'],
    ];
    for (const [body, message] of cases) {
      const r = await put(sim.url, body);
      assert.equal(r.status, 400, body);
      assert.deepEqual(JSON.parse(r.body), { error: message }, body);
    }
    assert.deepEqual(sim.settings(), before);
    assert.deepEqual(await predictions(sim.url, P), THREE);
    assert.throws(() => sim.setVersionState(1, { state: 'AVAILABLE', behaviour: 'nope' as 'half_plus_two' }), /versions\["1"\]\.behaviour must be one of/);
    assert.deepEqual(sim.settings(), before);
  });

  it('startSimulator refuses a behaviour for a version it does not serve, or an unknown one', T, async () => {
    await assert.rejects(startReplica({ versions: [1], behaviours: { 2: 'half_plus_three' } }), /a behaviour is given for version 2, which is not served \(versions: 1\)/);
    await assert.rejects(startReplica({ versions: [1], behaviours: { 1: 'half_plus_four' as 'half_plus_two' } }), /unknown behaviour half_plus_four for version 1/);
    // versionStates can add a version and give it its behaviour in one go.
    const sim = await startReplica({ versions: [1], versionStates: { 7: { state: 'AVAILABLE', behaviour: 'half_plus_three' } } });
    try {
      assert.deepEqual(await predictions(sim.url, P), THREE);
      assert.deepEqual(await predictions(sim.url, `${P}/versions/1`), TWO);
    } finally {
      await sim.close();
    }
  });
});
