/**
 * The simulator's gRPC port on the wire, seen through a raw node:http2 client: a success is
 * HEADERS, one length-prefixed DATA message and `grpc-status: 0` trailers; every error is
 * Trailers-Only (one HEADERS frame with END_STREAM, HTTP 200); and the requests grpc C++ refuses
 * before any service runs (no `te: trailers`, not POST, unknown method, unreadable message).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { frameMessage, percentDecode, readMessages } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec } from '../../../gateway/src/tfserving/protos.js';
import { rawCall, type RawAnswer } from '../../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { post } from './http-client.js';

const T = { timeout: 15_000 };
const PREDICT = '/tensorflow.serving.PredictionService/Predict';
const STATUS = '/tensorflow.serving.ModelService/GetModelStatus';
const GRPC = { 'content-type': 'application/grpc', te: 'trailers' };

const predictRequest = messageCodec<object>('tensorflow.serving.PredictRequest');
const body = (name: string, version?: number): Buffer =>
  frameMessage(
    predictRequest.encode({
      model_spec: version === undefined ? { name } : { name, version: { value: String(version) } },
      inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: '3' }] }, float_val: [1, 2, 5] } },
    }),
  );

/** The tags of a message's top-level length-delimited fields, in wire order. */
function topLevelTags(payload: Buffer): number[] {
  const tags: number[] = [];
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = payload[pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
  };
  while (pos < payload.length) {
    tags.push(varint());
    const length = varint();
    pos += length;
  }
  return tags;
}

function assertTrailersOnly(r: RawAnswer, grpcStatus: number, message: string | null): void {
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['content-type'], 'application/grpc');
  assert.equal(r.headersEndStream, true, 'one HEADERS frame carrying END_STREAM');
  assert.equal(r.trailers, null, 'no second HEADERS frame');
  assert.equal(r.data.length, 0, 'no DATA');
  assert.equal(r.headers['grpc-status'], String(grpcStatus));
  if (message === null) assert.equal(r.headers['grpc-message'], undefined, 'no grpc-message for an empty message');
  else assert.equal(percentDecode(String(r.headers['grpc-message'])).toString('utf8'), message);
  assert.equal(r.headers['date'], undefined, 'grpc C++ sends no Date header');
}

describe('gRPC on the wire', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startReplica({ grpcPort: 0, versions: [123] });
  });
  after(() => sim.close());

  it('the contract example request: 0A 13 | 0A 0D "half_plus_two" | 12 02 08 7B', T, () => {
    const spec = messageCodec<object>('tensorflow.serving.GetModelStatusRequest').encode({ model_spec: { name: 'half_plus_two', version: { value: '123' } } });
    assert.equal(Buffer.from(spec).toString('hex'), '0a13' + '0a0d' + Buffer.from('half_plus_two').toString('hex') + '1202087b');
  });

  it('success: HEADERS, one DATA message (outputs, then the model spec), trailers grpc-status 0', T, async () => {
    const r = await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two'), GRPC);
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.equal(r.headers['grpc-status'], undefined);
    assert.equal(r.headersEndStream, false);
    assert.deepEqual(r.trailers, { 'grpc-status': '0' });
    const messages = readMessages(r.data);
    assert.equal(messages?.length, 1);
    const payload = messages?.[0]?.payload ?? Buffer.alloc(0);
    assert.equal(messages?.[0]?.compressed, false);
    // outputs is field 1 (tag 0A), model_spec field 2 (tag 12) written after it.
    const decoded = messageCodec<Record<string, unknown>>('tensorflow.serving.PredictResponse').decode(payload);
    assert.deepEqual(decoded, {
      outputs: { y: { dtype: 1, tensor_shape: { dim: [{ size: '3' }] }, float_val: [2.5, 3, 4.5] } },
      model_spec: { name: 'half_plus_two', version: { value: '123' }, version_choice: 'version', signature_name: 'serving_default' },
    });
    assert.deepEqual(topLevelTags(payload), [0x0a, 0x12]);
  });

  it('an error is Trailers-Only: grpc-status and the percent-encoded grpc-message in one HEADERS frame', T, async () => {
    const r = await rawCall(sim.grpcAddress as string, PREDICT, body('modèle%'), GRPC);
    assertTrailersOnly(r, 5, 'Servable not found for request: Latest(modèle%)');
    assert.equal(r.headers['grpc-message'], 'Servable not found for request: Latest(mod%C3%A8le%25)');
    assertTrailersOnly(await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two', 7), GRPC), 5, 'Servable not found for request: Specific(half_plus_two, 7)');
  });

  it('GetModelStatus: the state travels as its enum number (AVAILABLE = 30), the version as an int64', T, async () => {
    const request = messageCodec<object>('tensorflow.serving.GetModelStatusRequest').encode({ model_spec: { name: 'half_plus_two' } });
    const r = await rawCall(sim.grpcAddress as string, STATUS, frameMessage(request), GRPC);
    const payload = readMessages(r.data)?.[0]?.payload ?? Buffer.alloc(0);
    // model_version_status { version: 123 (08 7B), state: 30 (10 1E), status {} (1A 00) }
    assert.equal(payload.toString('hex'), '0a06087b101e1a00');
  });

  it('no te: trailers -> UNKNOWN "Missing :te header", HTTP 200, Trailers-Only', T, async () => {
    const r = await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two'), { 'content-type': 'application/grpc' });
    assertTrailersOnly(r, 2, 'Missing :te header');
  });

  it('not POST -> UNKNOWN "Bad method header"', T, async () => {
    const r = await rawCall(sim.grpcAddress as string, PREDICT, Buffer.alloc(0), { ':method': 'GET', te: 'trailers' });
    assertTrailersOnly(r, 2, 'Bad method header');
  });

  it('any other path -> UNIMPLEMENTED with no message (SessionService is in the protos, not on the server)', T, async () => {
    for (const path of ['/tensorflow.serving.SessionService/SessionRun', '/tensorflow.serving.PredictionService/predict', '/grpc.health.v1.Health/Check', '/']) {
      assertTrailersOnly(await rawCall(sim.grpcAddress as string, path, body('half_plus_two'), GRPC), 12, null);
    }
  });

  it('the content-type is not checked, as grpc C++ does not', T, async () => {
    const r = await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two'), { 'content-type': 'text/plain', te: 'trailers' });
    assert.deepEqual(r.trailers, { 'grpc-status': '0' });
  });

  it('unreadable bytes -> INTERNAL without a message; no message at all -> INTERNAL "No payload"', T, async () => {
    assertTrailersOnly(await rawCall(sim.grpcAddress as string, PREDICT, frameMessage(Buffer.from([0x0a, 0x7f, 0x01])), GRPC), 13, null);
    assertTrailersOnly(await rawCall(sim.grpcAddress as string, PREDICT, Buffer.alloc(0), GRPC), 13, 'No payload');
  });

  it('a gzip-compressed request (grpc-encoding: gzip, flag 1) is inflated and served', T, async () => {
    const payload = readMessages(body('half_plus_two'))?.[0]?.payload ?? Buffer.alloc(0);
    const r = await rawCall(sim.grpcAddress as string, PREDICT, frameMessage(gzipSync(payload), true), { ...GRPC, 'grpc-encoding': 'gzip' });
    assert.deepEqual(r.trailers, { 'grpc-status': '0' });
    assert.equal(r.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
  });

  it('grpc-timeout: an answer still pending at the deadline ends DEADLINE_EXCEEDED', T, async (t) => {
    sim.setFaults({ latencyMs: 2000 });
    t.after(() => sim.clearFaults());
    const started = Date.now();
    const r = await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two'), { ...GRPC, 'grpc-timeout': '300m' });
    assertTrailersOnly(r, 4, 'Deadline Exceeded');
    const took = Date.now() - started;
    assert.ok(took >= 280 && took < 1500, `answered after ${took} ms`);
  });
});

it('a message over the size limit: RESOURCE_EXHAUSTED as soon as its prefix announces it; REST drops the connection', T, async (t) => {
  const sim = await startReplica({ grpcPort: 0, maxRequestBytes: 1024 });
  t.after(() => sim.close());
  const big = body('m'.repeat(2000));
  const r = await rawCall(sim.grpcAddress as string, PREDICT, big, GRPC);
  assertTrailersOnly(r, 8, `Received message larger than max (${big.length - 5} vs. 1024)`);
  assert.deepEqual(sim.counters().byGrpcStatus, { RESOURCE_EXHAUSTED: 1 });
  // Within the limit, served as usual.
  const small = await rawCall(sim.grpcAddress as string, PREDICT, body('half_plus_two'), GRPC);
  assert.deepEqual(small.trailers, { 'grpc-status': '0' });
  await assert.rejects(post(sim.url, '/v1/models/half_plus_two:predict', `{"instances":[${'1.0,'.repeat(400)}1.0]}`), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message));
});
