/**
 * Every row of the contract's REST table against the simulator, over real sockets, with TF
 * Serving's exact bytes where the TF source pins them down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { errorOf, get, post } from './http-client.js';

const T = { timeout: 15_000 };

function statusEntry(version: string, state: string): string {
  return `  {\n   "version": "${version}",\n   "state": "${state}",\n   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }`;
}

function statusBody(...entries: string[]): string {
  return `{\n "model_version_status": [\n${entries.join(',\n')}\n ]\n}\n`;
}

const DIM = { dim: [{ size: '-1', name: '' }, { size: '1', name: '' }], unknown_rank: false };
const tinfo = (name: string, dtype: string, shape: unknown): Record<string, unknown> =>
  shape === undefined ? { name, dtype } : { name, dtype, tensor_shape: shape };
const sigdef = (inputs: Record<string, unknown>, outputs: Record<string, unknown>, method: string): Record<string, unknown> => ({
  inputs,
  outputs,
  method_name: method,
  defaults: {},
});

/** tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_2_versions_metadata.json */
const HALF_PLUS_TWO_SIGNATURES = {
  regress_x2_to_y3: sigdef({ inputs: tinfo('x2:0', 'DT_FLOAT', DIM) }, { outputs: tinfo('y3:0', 'DT_FLOAT', DIM) }, 'tensorflow/serving/regress'),
  serving_default: sigdef({ x: tinfo('x:0', 'DT_FLOAT', DIM) }, { y: tinfo('y:0', 'DT_FLOAT', DIM) }, 'tensorflow/serving/predict'),
  classify_x_to_y: sigdef(
    { inputs: tinfo('tf_example:0', 'DT_STRING', { dim: [], unknown_rank: true }) },
    { scores: tinfo('y:0', 'DT_FLOAT', DIM) },
    'tensorflow/serving/classify',
  ),
  classify_x2_to_y3: sigdef({ inputs: tinfo('x2:0', 'DT_FLOAT', DIM) }, { scores: tinfo('y3:0', 'DT_FLOAT', DIM) }, 'tensorflow/serving/classify'),
  regress_x_to_y2: sigdef(
    { inputs: tinfo('tf_example:0', 'DT_STRING', { dim: [], unknown_rank: true }) },
    { outputs: tinfo('y2:0', 'DT_FLOAT', DIM) },
    'tensorflow/serving/regress',
  ),
  regress_x_to_y: sigdef(
    { inputs: tinfo('tf_example:0', 'DT_STRING', { dim: [], unknown_rank: true }) },
    { outputs: tinfo('y:0', 'DT_FLOAT', DIM) },
    'tensorflow/serving/regress',
  ),
};

/** A serialized tf.Example {x: [1.0]}, written out by hand. */
const EXAMPLE_X_1 = Buffer.from('0a0f0a0d0a0178120812060a040000803f', 'hex').toString('base64');

describe('half_plus_two replica, versions 1 and 2 AVAILABLE, 3 LOADING', () => {
  let sim: SimulatorHandle;
  let url: string;
  before(async () => {
    sim = await startReplica({ versions: [1, 2, 3], versionStates: { '3': 'LOADING' }, labels: { stable: 1, canary: 2 } });
    url = sim.url;
  });
  after(() => sim.close());

  it('GET /v1/models/{name}: every version, highest first, TF protobuf JSON layout', T, async () => {
    const r = await get(url, '/v1/models/half_plus_two');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.body, statusBody(statusEntry('3', 'LOADING'), statusEntry('2', 'AVAILABLE'), statusEntry('1', 'AVAILABLE')));
  });

  it('GET /v1/models/{name}/versions/{N}: that version only, 200 whatever its state', T, async () => {
    const r = await get(url, '/v1/models/half_plus_two/versions/3');
    assert.equal(r.status, 200);
    assert.equal(r.body, statusBody(statusEntry('3', 'LOADING')));
    const leadingZeros = await get(url, '/v1/models/half_plus_two/versions/0001');
    assert.equal(leadingZeros.body, statusBody(statusEntry('1', 'AVAILABLE')));
  });

  it('GET /v1/models/{name}/labels/{L}: label not resolved, all versions, 200 even for an unknown label', T, async () => {
    const all = statusBody(statusEntry('3', 'LOADING'), statusEntry('2', 'AVAILABLE'), statusEntry('1', 'AVAILABLE'));
    for (const label of ['stable', 'no-such-label']) {
      const r = await get(url, `/v1/models/half_plus_two/labels/${label}`);
      assert.equal(r.status, 200, label);
      assert.equal(r.body, all, label);
    }
  });

  it('GET .../metadata: latest AVAILABLE version, signature defs of the half_plus_two SavedModel', T, async () => {
    const r = await get(url, '/v1/models/half_plus_two/metadata');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.ok(
      r.body.startsWith(
        '{\n"model_spec":{\n "name": "half_plus_two",\n "version": "2",\n "signature_name": ""\n}\n,\n"metadata": {"signature_def": {\n "signature_def": {\n  "regress_x2_to_y3": {\n   "inputs": {\n    "inputs": {\n     "name": "x2:0",\n     "dtype": "DT_FLOAT",\n',
      ),
      r.body.slice(0, 300),
    );
    assert.ok(r.body.endsWith('\n }\n}\n}\n}\n'));
    const doc = JSON.parse(r.body) as { model_spec: unknown; metadata: { signature_def: { signature_def: unknown } } };
    assert.deepEqual(doc.model_spec, { name: 'half_plus_two', version: '2', signature_name: '' });
    assert.deepEqual(doc.metadata.signature_def.signature_def, HALF_PLUS_TWO_SIGNATURES);
  });

  it('GET .../versions/{N}/metadata and .../labels/{L}/metadata name the version', T, async () => {
    const v1 = JSON.parse((await get(url, '/v1/models/half_plus_two/versions/1/metadata')).body) as { model_spec: { version: string } };
    assert.equal(v1.model_spec.version, '1');
    const canary = JSON.parse((await get(url, '/v1/models/half_plus_two/labels/canary/metadata')).body) as { model_spec: { version: string } };
    assert.equal(canary.model_spec.version, '2');
    const loading = await get(url, '/v1/models/half_plus_two/versions/3/metadata');
    assert.equal(loading.status, 404);
    assert.equal(errorOf(loading), 'Servable not found for request: Specific(half_plus_two, 3)');
  });

  it('POST :predict, row format: {"predictions": ...} laid out as TF writes it', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[1.0,2.0,5.0]}');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.body, '{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}');
    assert.deepEqual(JSON.parse(r.body), { predictions: [2.5, 3.0, 4.5] });
  });

  it('POST :predict, columnar format: {"outputs": ...}', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:predict', '{"inputs":[3,4]}');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{\n    "outputs": [\n        3.5,\n        4.0\n    ]\n}');
    const scalar = await post(url, '/v1/models/half_plus_two:predict', '{"inputs":{"x":7}}');
    assert.equal(scalar.body, '{\n    "outputs": 5.5\n}');
  });

  it('POST :predict with signature_name, nested instances, a version and a label', T, async () => {
    const body = '{"signature_name": "serving_default", "instances": [[1.0, 2.0], [3.0, 4.0]]}';
    for (const path of ['/v1/models/half_plus_two:predict', '/v1/models/half_plus_two/versions/1:predict', '/v1/models/half_plus_two/labels/stable:predict']) {
      const r = await post(url, path, body);
      assert.equal(r.status, 200, path);
      assert.equal(r.body, '{\n    "predictions": [[2.5, 3.0], [3.5, 4.0]\n    ]\n}', path);
    }
    const named = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[{"x":1.0},{"x":3.0}]}');
    assert.deepEqual(JSON.parse(named.body), { predictions: [2.5, 3.5] });
    const x2 = await post(url, '/v1/models/half_plus_two:predict', '{"signature_name":"regress_x2_to_y3","inputs":[2.0]}');
    assert.deepEqual(JSON.parse(x2.body), { outputs: [4.0] });
  });

  it('POST :predict accepts NaN and Infinity and writes them back as bare tokens', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[NaN, Infinity, -Infinity, 1e39]}');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{\n    "predictions": [NaN, Infinity, -Infinity, Infinity\n    ]\n}');
  });

  it('POST :predict decodes {"b64": ...} values for string inputs (serialized tf.Examples)', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:predict', `{"signature_name":"regress_x_to_y","instances":[{"b64":"${EXAMPLE_X_1}"}]}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, '{\n    "predictions": [[2.5]\n    ]\n}');
  });

  it('POST :regress on a regress signature (TF test: x=80 -> 42)', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:regress', '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{\n    "results": [42.0]\n}');
    const y2 = await post(url, '/v1/models/half_plus_two/labels/stable:regress', '{"signature_name":"regress_x_to_y2","examples":[{"x":1.0},{"x":[2.0]}]}');
    assert.deepEqual(JSON.parse(y2.body), { results: [3.5, 4.0] });
  });

  it('POST :classify on a classify signature (TF test: x=20 -> [["", 12]]), context features included', T, async () => {
    const r = await post(url, '/v1/models/half_plus_two:classify', '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{\n    "results": [[["", 12.0]]\n    ]\n}');
    const ctx = await post(url, '/v1/models/half_plus_two:classify', '{"signature_name":"classify_x_to_y","context":{"x":10.0},"examples":[{},{"x":2.0}]}');
    assert.deepEqual(JSON.parse(ctx.body), { results: [[['', 7.0]], [['', 3.0]]] });
  });

  it('gzip request bodies are inflated (net_http auto_uncompress_input); a bad one reads as empty', T, async () => {
    const zipped = gzipSync('{"instances":[1.0]}');
    const r = await post(url, '/v1/models/half_plus_two:predict', zipped, { headers: { 'Content-Encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { predictions: [2.5] });
    const broken = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[1.0]}', { headers: { 'Content-Encoding': 'x-gzip' } });
    assert.equal(broken.status, 400);
    assert.equal(errorOf(broken), 'JSON Parse error: The document is empty');
    // The value is matched case-sensitively: "GZIP" is not inflated.
    const upper = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[1.0]}', { headers: { 'Content-Encoding': 'GZIP' } });
    assert.equal(upper.status, 200);
  });

  it('answers never say which version served them, and keep-alive connections are reused', T, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await post(url, '/v1/models/half_plus_two:predict', '{"instances":[1]}', { agent });
      const b = await get(url, '/v1/models/half_plus_two', { agent });
      assert.equal(a.localPort, b.localPort);
      assert.deepEqual(Object.keys(a.headers).sort(), ['connection', 'content-length', 'content-type', 'date']);
      assert.equal(a.headers['keep-alive'], undefined);
    } finally {
      agent.destroy();
    }
  });
});

describe('half_plus_three replica under another name', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startReplica({ model: 'saved_model_half_plus_three', versions: [123], behaviour: 'half_plus_three' });
  });
  after(() => sim.close());

  it('predict computes 0.5x + 3', T, async () => {
    const r = await post(sim.url, '/v1/models/saved_model_half_plus_three:predict', '{"instances": [1.0,2.0,5.0]}');
    assert.equal(r.body, '{\n    "predictions": [3.5, 4.0, 5.5\n    ]\n}');
  });

  it('regress on tensorflow/serving/regress: x=1, x=2 -> [3.5, 4.0] (TF REST docs)', T, async () => {
    const r = await post(sim.url, '/v1/models/saved_model_half_plus_three:regress', '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{\n    "results": [3.5, 4.0]\n}');
  });

  it('metadata lists its two signatures, without tensor shapes', T, async () => {
    const r = await get(sim.url, '/v1/models/saved_model_half_plus_three/versions/123/metadata');
    const doc = JSON.parse(r.body) as { model_spec: unknown; metadata: { signature_def: { signature_def: unknown } } };
    assert.deepEqual(doc.model_spec, { name: 'saved_model_half_plus_three', version: '123', signature_name: '' });
    assert.deepEqual(doc.metadata.signature_def.signature_def, {
      serving_default: sigdef({ x: tinfo('x:0', 'DT_FLOAT', undefined) }, { y: tinfo('y:0', 'DT_FLOAT', undefined) }, 'tensorflow/serving/predict'),
      'tensorflow/serving/regress': sigdef(
        { inputs: tinfo('tf_example:0', 'DT_FLOAT', undefined) },
        { outputs: tinfo('Identity:0', 'DT_FLOAT', undefined) },
        'tensorflow/serving/regress',
      ),
    });
  });

  it('the half_plus_two signatures do not exist here', T, async () => {
    const r = await post(sim.url, '/v1/models/saved_model_half_plus_three:regress', '{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}');
    assert.equal(r.status, 400);
    assert.equal(errorOf(r), 'No signature was found with the name: regress_x_to_y');
  });
});
