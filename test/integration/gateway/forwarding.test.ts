/**
 * What crosses the gateway: headers (request id kept or made, forwarded; hop-by-hop dropped both
 * ways), bodies (streamed beyond the retry buffer, refused beyond the limit), the deadline, and a
 * retry on another replica when a connection is reset before any response byte.
 */
import assert from 'node:assert/strict';
import { request as rawRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { startRecordingReplica, type Received, type RecordingReplica } from '../../helpers/recording-replica.js';
import { startStack, versionOfPrediction } from '../../helpers/stack.js';

const client = new TestClient(8);
let recorder: RecordingReplica;
let gw: TestGateway;

before(async () => {
  recorder = await startRecordingReplica('echo', 4);
  gw = await startTestGateway({
    models: { echo: { pools: { '4': { replicas: [recorder.url] } }, policy: { stable: 4 } } },
    proxy: { maxBodyBytes: 4096, retryBufferBytes: 1024 },
  });
});
after(async () => {
  await client.close();
  await gw.close();
  await recorder.close();
});

interface RawReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** node:http request; a body given as several parts goes out chunked. */
function rawPost(url: string, body: string | string[], headers: Record<string, string> = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    for (const part of typeof body === 'string' ? [body] : body) req.write(part);
    req.end();
  });
}

function headerValues(received: Received, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < received.rawHeaders.length; i += 2) {
    if (received.rawHeaders[i]!.toLowerCase() === name) out.push(received.rawHeaders[i + 1]!);
  }
  return out;
}

test('x-request-id: kept when the client sends one, generated otherwise, forwarded either way', async () => {
  const kept = await client.post(`${gw.rest}/v1/models/echo:predict`, '{"instances": [1]}', { 'x-request-id': 'client-id-42' });
  assert.equal(kept.headers['x-request-id'], 'client-id-42');
  assert.deepEqual(headerValues(kept.json<Received>(), 'x-request-id'), ['client-id-42']);

  const made = await client.post(`${gw.rest}/v1/models/echo:predict`, '{"instances": [1]}');
  const id = made.headers['x-request-id'];
  assert.equal(typeof id, 'string');
  assert.deepEqual(headerValues(made.json<Received>(), 'x-request-id'), [id]);
  const other = await client.post(`${gw.rest}/v1/models/echo:predict`, '{"instances": [1]}');
  assert.notEqual(other.headers['x-request-id'], id);

  const unsafe = await client.post(`${gw.rest}/v1/models/echo:predict`, '{}', { 'x-request-id': 'has space' });
  assert.notEqual(unsafe.headers['x-request-id'], 'has space');
});

test('the version is pinned upstream and announced to the client', async () => {
  const reply = await client.post(`${gw.rest}/v1/models/echo:predict`, '{"instances": [1]}');
  assert.equal(reply.json<Received>().path, '/v1/models/echo/versions/4:predict');
  assert.equal(reply.headers['x-model-version'], '4');
});

test('hop-by-hop headers are dropped both ways; end-to-end ones pass', async () => {
  recorder.responseHeaders = ['x-from-replica', 'yes', 'connection', 'x-replica-private', 'x-replica-private', 'secret', 'x-model-version', '99'];
  try {
    // node:http, not undici: undici would not send a Connection header naming other headers.
    const reply = await rawPost(`${gw.rest}/v1/models/echo:predict`, '{"instances": [1]}', {
      'x-client-private': 'secret',
      connection: 'keep-alive, x-client-private',
      te: 'trailers',
      'x-custom': 'kept',
      'x-forwarded-for': '203.0.113.9',
    });
    const seen = JSON.parse(reply.body) as Received;
    assert.deepEqual(headerValues(seen, 'x-client-private'), []);
    assert.deepEqual(headerValues(seen, 'te'), []);
    assert.deepEqual(headerValues(seen, 'x-custom'), ['kept']);
    assert.deepEqual(headerValues(seen, 'x-forwarded-for'), ['203.0.113.9, 127.0.0.1']);
    assert.equal(reply.headers['x-from-replica'], 'yes');
    assert.equal(reply.headers['x-replica-private'], undefined);
    assert.equal(reply.headers['x-model-version'], '4', 'the gateway, not the replica, says which version served');
  } finally {
    recorder.responseHeaders = [];
  }
});

test('a body beyond the retry buffer streams through whole', async () => {
  const body = JSON.stringify({ instances: Array.from({ length: 300 }, (_, i) => i) });
  assert.ok(body.length > 1024 && body.length < 4096);
  const reply = await client.post(`${gw.rest}/v1/models/echo:predict`, body);
  assert.equal(reply.status, 200);
  assert.equal(reply.json<Received>().bodyLength, body.length);
});

test('a body beyond the limit: 413 up front (Content-Length) or while streaming (chunked)', async () => {
  const big = 'x'.repeat(5000);
  const declared = await client.post(`${gw.rest}/v1/models/echo:predict`, big);
  assert.equal(declared.status, 413);
  assert.match(declared.json<{ error: string }>().error, /limit of 4096 bytes/);

  const before = recorder.received.length;
  const chunked = await rawPost(`${gw.rest}/v1/models/echo:predict`, Array.from({ length: 10 }, () => 'y'.repeat(600)));
  assert.equal(chunked.status, 413);
  assert.equal(recorder.received.length, before, 'the replica never received a complete oversized request');
});

test('the deadline: 504 in TF Serving error shape', async () => {
  const stack = await startStack({
    stableReplicas: 1,
    canaryReplicas: 0,
    policy: { stable: 1 },
    proxy: { deadlineMs: 300 },
    simulator: () => ({ faults: { latencyMs: 2_000 } }),
  });
  try {
    const started = Date.now();
    const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
    assert.equal(reply.status, 504);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.match(reply.json<{ error: string }>().error, /within 300 ms/);
    assert.ok(Date.now() - started < 1_500);
  } finally {
    await stack.close();
  }
});

test('a connection reset before any response byte is retried on another replica', async () => {
  const stack = await startStack({
    stableReplicas: 2,
    canaryReplicas: 0,
    policy: { stable: 1 },
    simulator: (_v, index) => (index === 0 ? { faults: { resetRate: 1 } } : {}),
  });
  try {
    for (let i = 0; i < 40; i++) {
      const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(versionOfPrediction(reply.text), 1);
    }
    assert.ok(stack.stable[0]!.counters().faults.resets > 0, 'the resetting replica was tried');
    // Both replicas resetting: one retry, then a clear 503.
    stack.stable[1]!.setFaults({ resetRate: 1 });
    const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
    assert.equal(reply.status, 503);
    assert.match(reply.json<{ error: string }>().error, /half_plus_two version 1/);
  } finally {
    await stack.close();
  }
});
