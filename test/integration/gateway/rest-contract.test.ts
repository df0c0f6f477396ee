/**
 * Every row of TF Serving's REST table, and its errors, through the gateway: the answer must be
 * the one the replica itself gives. The replica is the oracle: each request is also sent to it
 * directly (with the label or version the gateway resolved written out), and the two answers must
 * match in status, content type and body.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestClient, type Reply } from '../../helpers/http.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);

before(async () => {
  stack = await startStack({ stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 0 } });
});
after(async () => {
  await client.close();
  await stack.close();
});

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  /** The same request as the replica must see it, when the gateway resolves something. */
  readonly direct?: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Served by a replica (x-model-version set) or answered by the gateway itself. */
  readonly proxied: boolean;
  readonly status: number;
}

const m = `/v1/models/${MODEL}`;
const CASES: Case[] = [
  { name: 'status of every version', method: 'GET', path: m, proxied: true, status: 200 },
  { name: 'status of one version', method: 'GET', path: `${m}/versions/1`, proxied: true, status: 200 },
  { name: 'status with a leading-zero version', method: 'GET', path: `${m}/versions/001`, direct: `${m}/versions/1`, proxied: true, status: 200 },
  { name: 'status by label is not resolved (all versions)', method: 'GET', path: `${m}/labels/stable`, proxied: true, status: 200 },
  { name: 'status by an unknown label is 200 too', method: 'GET', path: `${m}/labels/nightly`, proxied: true, status: 200 },
  { name: 'metadata', method: 'GET', path: `${m}/metadata`, direct: `${m}/versions/1/metadata`, proxied: true, status: 200 },
  { name: 'metadata of a version', method: 'GET', path: `${m}/versions/1/metadata`, proxied: true, status: 200 },
  { name: 'metadata by label', method: 'GET', path: `${m}/labels/stable/metadata`, direct: `${m}/versions/1/metadata`, proxied: true, status: 200 },
  { name: 'predict, row form', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"instances": [1.0, 2.0, 5.0]}', proxied: true, status: 200 },
  { name: 'predict, columnar form', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"inputs": [3, 4]}', proxied: true, status: 200 },
  { name: 'predict with a signature and NaN', method: 'POST', path: `${m}/versions/1:predict`, body: '{"signature_name": "serving_default", "instances": [NaN, 1]}', proxied: true, status: 200 },
  { name: 'predict on the canary version', method: 'POST', path: `${m}/versions/2:predict`, body: '{"instances": [1.0, 2.0, 5.0]}', proxied: true, status: 200 },
  { name: 'predict by canary label', method: 'POST', path: `${m}/labels/canary:predict`, direct: `${m}/versions/2:predict`, body: '{"instances": [1.0]}', proxied: true, status: 200 },
  { name: 'regress', method: 'POST', path: `${m}:regress`, direct: `${m}/versions/1:regress`, body: '{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]}', proxied: true, status: 200 },
  { name: 'classify', method: 'POST', path: `${m}:classify`, direct: `${m}/versions/1:classify`, body: '{"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}', proxied: true, status: 200 },
  // Client errors that only the replica can judge pass through unchanged.
  { name: 'both instances and inputs', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"instances": [1], "inputs": [1]}', proxied: true, status: 400 },
  { name: 'neither instances nor inputs', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"signature_name": "serving_default"}', proxied: true, status: 400 },
  { name: 'empty body', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '', proxied: true, status: 400 },
  { name: 'wrong input type', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"instances": ["a"]}', proxied: true, status: 400 },
  { name: 'unknown signature', method: 'POST', path: `${m}:predict`, direct: `${m}/versions/1:predict`, body: '{"signature_name": "nope", "instances": [1]}', proxied: true, status: 400 },
  // Answered by the gateway, in the replica's words.
  { name: 'unknown model', method: 'POST', path: '/v1/models/foo:predict', body: '{"instances": [1]}', proxied: false, status: 404 },
  { name: 'unknown model, bad JSON first', method: 'POST', path: '/v1/models/foo:predict', body: '{"instances": [1', proxied: false, status: 400 },
  { name: 'unknown model, empty body', method: 'POST', path: '/v1/models/foo:regress', body: '', proxied: false, status: 400 },
  { name: 'status of an unknown model', method: 'GET', path: '/v1/models/foo', proxied: false, status: 404 },
  { name: 'status of an unknown model version', method: 'GET', path: '/v1/models/foo/versions/3', proxied: false, status: 404 },
  { name: 'metadata of an unknown model', method: 'GET', path: '/v1/models/foo/metadata', proxied: false, status: 404 },
  { name: 'a query string is part of the model name', method: 'GET', path: `${m}?verbose=1`, proxied: false, status: 404 },
  { name: 'unknown version', method: 'POST', path: `${m}/versions/7:predict`, body: '{"instances": [1]}', proxied: false, status: 404 },
  { name: 'status of an unknown version', method: 'GET', path: `${m}/versions/7`, proxied: false, status: 404 },
  { name: 'metadata of an unknown version', method: 'GET', path: `${m}/versions/7/metadata`, proxied: false, status: 404 },
  { name: 'unknown label on inference', method: 'POST', path: `${m}/labels/nightly:predict`, body: '{"instances": [1]}', proxied: false, status: 400 },
  { name: 'version beyond int64', method: 'POST', path: `${m}/versions/99999999999999999999:predict`, body: '{"instances": [1]}', proxied: false, status: 400 },
  { name: 'list of models', method: 'GET', path: '/v1/models', proxied: false, status: 400 },
  { name: 'version and label together', method: 'POST', path: `${m}/versions/1/labels/stable:predict`, body: '{}', proxied: false, status: 400 },
  { name: 'singular /version/', method: 'GET', path: `${m}/version/1`, proxied: false, status: 400 },
  { name: 'the verb is case-sensitive', method: 'POST', path: `${m}:PREDICT`, body: '{"instances": [1]}', proxied: false, status: 400 },
  { name: 'a query string after the verb', method: 'POST', path: `${m}:predict?x=1`, body: '{"instances": [1]}', proxied: false, status: 400 },
  { name: 'PUT', method: 'PUT', path: `${m}:predict`, body: '{"instances": [1]}', proxied: false, status: 400 },
  { name: 'DELETE', method: 'DELETE', path: m, proxied: false, status: 400 },
  { name: 'unknown model, a gzip body that does not inflate reads as empty', method: 'POST', path: '/v1/models/foo:predict', body: '{"instances": [1]}', headers: { 'content-encoding': 'gzip' }, proxied: false, status: 400 },
  { name: 'TRACE: libevent refuses the method', method: 'TRACE', path: m, proxied: false, status: 501 },
  { name: 'a target libevent cannot parse', method: 'GET', path: `${m}%zz`, proxied: false, status: 400 },
  { name: 'outside /v1: HTML 404', method: 'GET', path: '/healthz', proxied: false, status: 404 },
  { name: 'CORS preflight with an Origin', method: 'OPTIONS', path: `${m}:predict`, headers: { origin: 'https://app.example' }, proxied: false, status: 200 },
  { name: 'CORS preflight without an Origin', method: 'OPTIONS', path: `${m}:predict`, proxied: false, status: 400 },
];

/** Parsed JSON when it is standard JSON; TF Serving also writes NaN and Infinity, compared as text. */
function normalised(reply: Reply): unknown {
  try {
    return JSON.parse(reply.text) as unknown;
  } catch {
    return reply.text;
  }
}

for (const c of CASES) {
  test(`${c.method} ${c.path}: ${c.name}`, async () => {
    const headers = { ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...c.headers };
    const viaGateway = await client.send(c.method, stack.gw.rest + c.path, c.body, headers);
    const replica = c.path.includes('/versions/2') || c.path.includes('/labels/canary') ? stack.canary[0]! : stack.stable[0]!;
    const direct = await client.send(c.method, replica.url + (c.direct ?? c.path), c.body, headers);
    assert.equal(direct.status, c.status, `the replica itself answers ${direct.status}: ${direct.text}`);
    assert.equal(viaGateway.status, direct.status, viaGateway.text);
    assert.equal(viaGateway.headers['content-type'], direct.headers['content-type']);
    assert.equal(viaGateway.statusText, direct.statusText, 'the same reason phrase');
    assert.deepEqual(normalised(viaGateway), normalised(direct));
    assert.equal(typeof viaGateway.headers['x-request-id'], 'string');
    if (c.proxied) {
      assert.equal(viaGateway.headers['x-model-version'], replica === stack.canary[0] ? '2' : '1');
    } else {
      assert.equal(viaGateway.headers['x-model-version'], undefined, 'answered by the gateway, not a replica');
    }
  });
}

test('requests the gateway answers itself never reach a replica', async () => {
  for (const r of [...stack.stable, ...stack.canary]) r.resetCounters();
  for (const c of CASES.filter((x) => !x.proxied)) {
    const headers = { ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...c.headers };
    await client.send(c.method, stack.gw.rest + c.path, c.body, headers);
  }
  for (const r of [...stack.stable, ...stack.canary]) {
    // Health checks keep polling status; nothing else may have arrived.
    const { predict, classify, regress, metadata, other } = r.counters().byOperation;
    assert.deepEqual({ predict, classify, regress, metadata, other }, { predict: 0, classify: 0, regress: 0, metadata: 0, other: 0 });
  }
});
