/**
 * The gRPC listener's connections: one silent for a whole deadline is closed (GOAWAY, then the
 * socket), which is how a connection nghttp2 ended for a protocol error is reclaimed (node:http2
 * sends the GOAWAY but keeps the socket); a grpc-js client whose idle connection was closed so
 * just reconnects for its next call. An answer given before the client ended its side is followed
 * by RST_STREAM NO_ERROR, so the stream does not stay open. Streams opened and reset at once
 * (HTTP/2 rapid reset) cost the replicas nothing.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRAME, H2_ERROR, PREFACE, RawH2, dataFrame, grpcRequestHeaders, headersFrame, rstStreamFrame, settingsFrame } from '../../adversarial/raw-h2.js';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec } from '../../../gateway/src/tfserving/protos.js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

/** proxy.deadlineMs, and so the listener's idle period: short, so the test waits little. */
const DEADLINE_MS = 500;

let stack: Stack;
let client: TfServingClient;
const predict = { model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };

before(async () => {
  stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1 }, proxy: { deadlineMs: DEADLINE_MS } });
  client = tfServingClient(stack.gw.grpc);
});
after(async () => {
  client.close();
  await stack.close();
});

test('a connection ended by nghttp2 for a protocol error is closed, not kept for as long as the client likes', async () => {
  const conn = await RawH2.open(Number(stack.gw.grpc.split(':')[1]), { preface: Buffer.concat([PREFACE, settingsFrame(), dataFrame(0, Buffer.from('x'), false)]) });
  try {
    assert.ok(await conn.until(() => conn.goaway !== undefined, 2_000), 'GOAWAY');
    assert.equal(conn.goaway?.code, H2_ERROR.PROTOCOL_ERROR);
    assert.ok(await conn.until(() => conn.closed, DEADLINE_MS * 3 + 2_000), 'the gateway closed the connection');
    assert.ok(conn.frames.some((f) => f.type === FRAME.GOAWAY));
  } finally {
    conn.close();
  }
});

test('an idle grpc-js connection closed by the gateway: the next call reconnects and succeeds', async () => {
  const first = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', predict);
  assert.deepEqual(first.outputs.y.float_val, [2.5]);
  // Two idle periods: the first GOAWAY and the close have happened by then.
  await sleep(DEADLINE_MS * 3);
  const second = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', predict);
  assert.deepEqual(second.outputs.y.float_val, [2.5]);
});

test('an early answer (message too large) ends the stream with RST_STREAM NO_ERROR while the client is still sending', async () => {
  const session = http2.connect(`http://${stack.gw.grpc}`);
  session.on('error', () => undefined);
  try {
    const outcome = await new Promise<{ status: string | undefined; rstCode: number }>((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': '/tensorflow.serving.PredictionService/Predict', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      let status: string | undefined;
      stream.on('response', (headers) => (status = headers['grpc-status'] as string | undefined));
      stream.on('error', () => undefined);
      stream.resume();
      stream.write(Buffer.from([0, 0xff, 0xff, 0xff, 0xff]));
      // The client never ends its side: only the gateway can close the stream, or this timer (CANCEL).
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 5_000);
      stream.on('close', () => {
        clearTimeout(timer);
        resolve({ status, rstCode: stream.rstCode ?? -1 });
      });
    });
    assert.deepEqual(outcome, { status: '8', rstCode: http2.constants.NGHTTP2_NO_ERROR });
  } finally {
    session.destroy();
  }
});

test('rapid reset: calls whose stream the client reset in the same write never reach a replica', async () => {
  const body = frameMessage(messageCodec<object>('tensorflow.serving.PredictRequest').encode(predict));
  const replicaCalls = (): number => stack.stable.reduce((n, s) => n + s.counters().byProtocol.grpc, 0);
  const before = replicaCalls();
  const conn = await RawH2.open(Number(stack.gw.grpc.split(':')[1]));
  try {
    const frames: Buffer[] = [];
    // Within nghttp2's reset burst (1,000), so the connection is not ended before the last.
    for (let i = 0; i < 900; i++) {
      const id = 1 + 2 * i;
      frames.push(headersFrame(id, grpcRequestHeaders('/tensorflow.serving.PredictionService/Predict'), false), dataFrame(id, body, true), rstStreamFrame(id, H2_ERROR.CANCEL));
    }
    conn.write(Buffer.concat(frames));
    await conn.drain();
    // A call on the same connection after the storm is answered: the storm was read through.
    const last = 1 + 2 * 900;
    conn.write(Buffer.concat([headersFrame(last, grpcRequestHeaders('/tensorflow.serving.PredictionService/Predict'), false), dataFrame(last, body, true)]));
    assert.ok(await conn.until(() => conn.ended.has(last), 10_000), 'the call after the storm was answered');
  } finally {
    conn.close();
  }
  // That last call, and of the 900 reset ones at most a few: a stream whose RST_STREAM fell into
  // the next socket read (about 64 KiB each) had its call started already, an ordinary cancel.
  const resetForwarded = replicaCalls() - before - 1;
  assert.ok(resetForwarded <= 10, `${resetForwarded} of 900 reset calls reached the replica`);
});

test('a health Watch, silent until the status changes, is not cut by the idle timeout', async () => {
  const session = http2.connect(`http://${stack.gw.grpc}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    const messages: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => messages.push(chunk));
    stream.end(frameMessage(Buffer.alloc(0)));
    // Well past two idle periods.
    await sleep(DEADLINE_MS * 5);
    assert.equal(stream.closed, false, 'the Watch is still open');
    assert.deepEqual([...Buffer.concat(messages)], [0, 0, 0, 0, 2, 0x08, 0x01], 'SERVING, once');
    stream.close(http2.constants.NGHTTP2_CANCEL);
  } finally {
    session.destroy();
  }
});
