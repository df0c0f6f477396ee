/**
 * Every error point of the contract against the simulator: status codes, TF's texts, the order
 * in which TF checks things, and what libevent answers before TF's code runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { call, errorOf, get, post, rawExchange, type Reply } from './http-client.js';

const T = { timeout: 15_000 };
const M = '/v1/models/half_plus_two';

const NOT_FOUND_PAGE = '<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n';

function assertTfError(r: Reply, status: number, message: string): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.body, `{\n    "error": ${JSON.stringify(message)}\n}`);
}

describe('TF Serving errors', () => {
  let sim: SimulatorHandle;
  let url: string;
  before(async () => {
    sim = await startReplica({ versions: [1, 2, 3], versionStates: { '2': 'UNLOADING', '3': 'END' }, labels: { stable: 1, gone: 3 } });
    url = sim.url;
  });
  after(() => sim.close());

  it('status of an unknown model or version: 404 with GetModelStatus texts', T, async () => {
    assertTfError(await get(url, '/v1/models/foo'), 404, 'Could not find any versions of model foo');
    assertTfError(await get(url, '/v1/models/foo/labels/stable'), 404, 'Could not find any versions of model foo');
    assertTfError(await get(url, `${M}/versions/7`), 404, 'Could not find version 7 of model half_plus_two');
    assertTfError(await get(url, '/v1/models/foo/versions/7'), 404, 'Could not find version 7 of model foo');
  });

  it('inference on an unknown model: 404 Latest(name); on an unknown or non-AVAILABLE version: 404 Specific(name, v)', T, async () => {
    const body = '{ "instances": [1] }';
    assertTfError(await post(url, '/v1/models/foo:predict', body), 404, 'Servable not found for request: Latest(foo)');
    assertTfError(await post(url, '/v1/models/foo/versions/1:predict', body), 404, 'Servable not found for request: Specific(foo, 1)');
    assertTfError(await post(url, `${M}/versions/7:predict`, body), 404, 'Servable not found for request: Specific(half_plus_two, 7)');
    assertTfError(await post(url, `${M}/versions/2:classify`, '{"examples":[{"x":1.0}]}'), 404, 'Servable not found for request: Specific(half_plus_two, 2)');
    assertTfError(await post(url, `${M}/versions/3:regress`, '{"examples":[{"x":1.0}]}'), 404, 'Servable not found for request: Specific(half_plus_two, 3)');
    // A label pointing at a version that is no longer AVAILABLE.
    assertTfError(await post(url, `${M}/labels/gone:predict`, body), 404, 'Servable not found for request: Specific(half_plus_two, 3)');
    assertTfError(await get(url, '/v1/models/foo/metadata'), 404, 'Servable not found for request: Latest(foo)');
  });

  it('an unknown label on inference or metadata: 400 Unrecognized servable version label', T, async () => {
    assertTfError(await post(url, `${M}/labels/x:predict`, '{ "instances": [1] }'), 400, 'Unrecognized servable version label: x');
    assertTfError(await post(url, '/v1/models/foo/labels/stable:predict', '{ "instances": [1] }'), 400, 'Unrecognized servable version label: stable');
    assertTfError(await get(url, `${M}/labels/x/metadata`), 400, 'Unrecognized servable version label: x');
  });

  it('JSON is parsed before the model is looked up: bad JSON to an unknown model is a 400', T, async () => {
    assertTfError(await post(url, '/v1/models/foo:predict', ''), 400, 'JSON Parse error: The document is empty');
    assertTfError(await post(url, `${M}:predict`, ''), 400, 'JSON Parse error: The document is empty');
    assertTfError(await post(url, '/v1/models/foo/versions/9:regress', 'instances = [1, 2]'), 400, 'JSON Parse error: Invalid value. at offset: 0');
    assertTfError(await post(url, '/v1/models/foo/labels/x:classify', '{"examples": [1'), 400, "JSON Parse error: Missing a comma or ']' after an array element. at offset: 15");
    // Classify/regress build their examples before the lookup too...
    assertTfError(await post(url, '/v1/models/foo:regress', '{}'), 400, "JSON Value: {} When method is classify, key 'examples' is expected and was not found");
    // ...but predict needs the signature first: a missing key on an unknown model is its 404.
    assertTfError(await post(url, '/v1/models/foo:predict', '{}'), 404, 'Servable not found for request: Latest(foo)');
    assertTfError(await post(url, '/v1/models/foo:predict', '{"signature_name":1}'), 400, `JSON Value: {\n    "signature_name": 1\n} not formatted correctly. 'signature_name' key must be a string value.`);
  });

  it('GET /v1/models: 400 Missing model name in request.', T, async () => {
    assertTfError(await get(url, '/v1/models'), 400, 'Missing model name in request.');
    assertTfError(await get(url, '/v1/models/metadata'), 404, 'Could not find any versions of model metadata');
  });

  it('malformed paths: versions+labels, /version/ singular, verbs in capitals, wrong method per path', T, async () => {
    const cases: Array<[string, string]> = [
      ['POST', '/v1/models/foo/versions/50/labels/some_label:regress'],
      ['POST', '/v1/models/foo/version/50:regress'],
      ['GET', '/v1/models/foo/version/50'],
      ['POST', '/v1/models/foo/label/some_label:regress'],
      ['POST', '/v1/models/foo/versions/HELLO:regress'],
      ['POST', `${M}:PREDICT`],
      ['POST', `${M}:Regress`],
      ['GET', `${M}:predict`],
      ['POST', `${M}/metadata`],
      ['POST', '/v1/models'],
      ['GET', '/v1/foo'],
      ['GET', '/v1/models/debug/model_name'],
      ['POST', `${M}:predict?x=1`],
    ];
    for (const [method, path] of cases) {
      // Node's client would send a GET body without a length; TF ignores GET bodies anyway.
      const r = await call(url, method, path, method === 'POST' ? { body: '{}' } : {});
      assertTfError(r, 400, `Malformed request: ${method} ${path}`);
    }
  });

  it('version numbers: int64 overflow is a 400, leading zeros are dropped', T, async () => {
    assertTfError(await post(url, '/v1/models/foo/versions/18446744073709551615:regress', '{}'), 400, 'Failed to convert version: 18446744073709551615 to numeric.');
    assertTfError(await post(url, '/v1/models/foo/versions/0007:predict', '{}'), 404, 'Servable not found for request: Specific(foo, 7)');
  });

  it('model names and labels are URL-decoded; the path match ignores case but not the verb', T, async () => {
    assertTfError(await get(url, '/v1/models/a%20b%2Fc'), 404, 'Could not find any versions of model a b/c');
    const r = await post(url, '/V1/Models/half_plus_two/Versions/1:predict', '{"instances":[1.0]}');
    assert.equal(r.status, 200);
    const q = await get(url, `${M}?x=1`);
    assertTfError(q, 404, 'Could not find any versions of model half_plus_two?x=1');
  });

  it('methods other than GET/POST on /v1: 400 Malformed request (HEAD without a body)', T, async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      assertTfError(await call(url, method, M), 400, `Malformed request: ${method} ${M}`);
    }
    const head = await call(url, 'HEAD', M);
    assert.equal(head.status, 400);
    assert.equal(head.body, '');
  });

  it('methods libevent does not accept: 501 HTML page, connection closed', T, async () => {
    const trace = await call(url, 'TRACE', M);
    assert.equal(trace.status, 501);
    assert.equal(trace.statusText, 'Not Implemented');
    assert.equal(trace.headers['content-type'], 'text/html');
    assert.equal(trace.headers['connection'], 'close');
    assert.equal(trace.body, '<HTML><HEAD>\n<TITLE>501 Not Implemented</TITLE>\n</HEAD><BODY>\n<H1>Not Implemented</H1>\n</BODY></HTML>\n');
    const raw = await rawExchange(sim.port, `FOO ${M} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 501 Not Implemented\r\n/);
    assert.match(raw, /<TITLE>501 Not Implemented<\/TITLE>/);
    const connect = await rawExchange(sim.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.match(connect, /^HTTP\/1\.1 501 Not Implemented\r\n/);
  });

  it('OPTIONS is a CORS preflight: 200 with an http(s) Origin, 400 without; no body, libevent content type', T, async () => {
    const okReply = await call(url, 'OPTIONS', `${M}:predict`, { headers: { Origin: 'https://app.example' } });
    assert.equal(okReply.status, 200);
    assert.equal(okReply.body, '');
    assert.equal(okReply.headers['content-type'], 'text/html; charset=ISO-8859-1');
    assert.equal(okReply.headers['content-length'], '0');
    assert.equal(okReply.headers['access-control-allow-origin'], undefined);
    const noOrigin = await call(url, 'OPTIONS', `${M}:predict`);
    assert.equal(noOrigin.status, 400);
    assert.equal(noOrigin.body, '');
    const badOrigin = await call(url, 'OPTIONS', M, { headers: { Origin: 'null' } });
    assert.equal(badOrigin.status, 400);
    const outside = await call(url, 'OPTIONS', '/elsewhere', { headers: { Origin: 'http://a' } });
    assert.equal(outside.status, 404);
  });

  it('paths outside /v1: 404 libevent HTML page, not JSON', T, async () => {
    for (const path of ['/', '/v1', '/V2/models/half_plus_two', '/monitoring/prometheus/metrics', '/_simulator']) {
      const r = await get(url, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['content-type'], 'text/html', path);
      assert.equal(r.headers['connection'], 'close', path);
      assert.equal(r.body, NOT_FOUND_PAGE, path);
    }
  });

  it('a request-target libevent cannot parse: 400 HTML page', T, async () => {
    const raw = await rawExchange(sim.port, `GET ${M}/a"b HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(raw, /<TITLE>400 Bad Request<\/TITLE>/);
    const pct = await get(url, '/v1/models/a%zz');
    assert.equal(pct.status, 400);
    assert.equal(pct.headers['content-type'], 'text/html');
  });

  it('predict bodies: both keys, neither key, wrong shapes and types', T, async () => {
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [1], "inputs": [1]}'),
      400,
      `JSON Value: {\n    "instances": [1],\n    "inputs": [1]\n} Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist `,
    );
    assertTfError(await post(url, `${M}:predict`, '{"signature_name":"serving_default"}'), 400, "Missing 'inputs' or 'instances' key");
    assertTfError(await post(url, `${M}:predict`, '{"instances": 1}'), 400, `JSON Value: {\n    "instances": 1\n} Expecting 'instances' to be an list/array`);
    assertTfError(await post(url, `${M}:predict`, '{"instances": []}'), 400, `JSON Value: {\n    "instances": []\n} No values in 'instances' array`);
    assertTfError(
      await post(url, `${M}:predict`, '{ "instances": ["x", "y"] }'),
      400,
      `Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: "x" Type: String is not of expected type: float`,
    );
    assertTfError(await post(url, `${M}:predict`, '{"inputs": [true]}'), 400, 'JSON Value: true Type: True is not of expected type: float');
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [[1, 2], [3]]}'),
      400,
      "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 1",
    );
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [[1, [2]]]}'),
      400,
      "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Encountered list at unexpected level: 1 expected < 1",
    );
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [{"x": 1}, [2]]}'),
      400,
      'Expecting object but got list at item 1 of input list',
    );
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [{"y": 1}]}'),
      400,
      "Failed to process element: 0 key: y of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: y",
    );
    assertTfError(await post(url, `${M}:predict`, '{"inputs": {"y": [1]}}'), 400, "Missing named input: x in 'inputs' object.");
    assertTfError(
      await post(url, `${M}:predict`, '{"instances": [{"b64": "aGk="}]}'),
      400,
      `Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: {\n    "b64": "aGk="\n} Type: Object is not of expected type: float`,
    );
  });

  it('unknown signatures get the text of the code path that looks them up', T, async () => {
    assertTfError(await post(url, `${M}:predict`, '{"signature_name":"nope","instances":[1]}'), 400, 'Serving signature name: "nope" not found in signature def');
    assertTfError(await post(url, `${M}:regress`, '{"signature_name":"nope","examples":[{"x":1.0}]}'), 400, 'No signature was found with the name: nope');
    assertTfError(await post(url, `${M}:classify`, '{"signature_name":"nope","examples":[{"x":1.0}]}'), 400, 'No signature was found with the name: nope');
  });

  it('regress/classify: signature mismatches and tf.Example parsing errors', T, async () => {
    const noInputs = errorOf(await post(url, `${M}:regress`, '{"examples":[{"x":1.0}]}'));
    assert.ok(noInputs.startsWith('No regression inputs found in SignatureDef: goo.gle/debugstr  \ninputs {\n  key: "x"\n  value {\n    name: "x:0"\n    dtype: DT_FLOAT\n'), noInputs);
    assert.ok(noInputs.endsWith('method_name: "tensorflow/serving/predict"\n'), noInputs);
    assertTfError(
      await post(url, `${M}:regress`, '{"signature_name":"regress_x_to_y","examples":[{"x":1}]}'),
      400,
      "Name: <unknown>, Key: x, Index: 0.  Data types don't match. Data type: int64 but expected type: float\n\t [[{{node ParseExample/ParseExample}}]]",
    );
    assertTfError(
      await post(url, `${M}:regress`, '{"signature_name":"regress_x_to_y","examples":[{"x":1.0},{"z":1.0}]}'),
      400,
      'Name: <unknown>, Feature: x (data type: float) is required but could not be found.\n\t [[{{node ParseExample/ParseExample}}]]',
    );
    assertTfError(
      await post(url, `${M}:regress`, '{"signature_name":"regress_x2_to_y3","examples":[{"x":1.0}]}'),
      400,
      'Expects arg[0] to be float but string is provided',
    );
  });

  it('HTTP status lines carry libevent reason phrases', T, async () => {
    const r = await post(url, '/v1/models/foo:predict', '{"instances":[1]}');
    assert.equal(r.statusText, 'Not Found');
    const bad = await get(url, '/v1/models');
    assert.equal(bad.statusText, 'Bad Request');
  });
});

describe('CORS support (--rest_api_enable_cors_support)', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startReplica({ cors: true });
  });
  after(() => sim.close());

  it('adds the CORS headers to /v1 answers and preflights', T, async () => {
    for (const r of [await get(sim.url, '/v1/models/half_plus_two'), await call(sim.url, 'OPTIONS', M, { headers: { Origin: 'http://a' } }), await get(sim.url, '/v1/models')]) {
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.equal(r.headers['access-control-allow-methods'], 'POST, GET');
      assert.equal(r.headers['access-control-allow-headers'], 'Content-Type');
    }
    const page = await get(sim.url, '/');
    assert.equal(page.headers['access-control-allow-origin'], undefined);
  });
});
