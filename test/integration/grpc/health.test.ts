/**
 * grpc.health.v1 on the gateway's gRPC port: Watch streams say SERVING, are told NOT_SERVING and
 * ended when the gateway shuts down (so they do not hold the drain), and their number is capped.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { MAX_HEALTH_WATCHES, TOO_MANY_WATCHES } from '../../../gateway/src/protocols/grpc/health.js';
import { waitFor } from '../../helpers/gateway.js';
import { rawCall } from '../../helpers/grpc-client.js';
import { startStack } from '../../helpers/stack.js';

const HEADERS = { te: 'trailers', 'content-type': 'application/grpc' } as const;
const EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
const SERVING = [0, 0, 0, 0, 2, 0x08, 0x01];
const NOT_SERVING = [0, 0, 0, 0, 2, 0x08, 0x02];

interface Watch {
  readonly data: number[];
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  readonly closed: boolean;
}

function watch(session: http2.ClientHttp2Session): Watch {
  const state: { data: number[]; trailers: http2.IncomingHttpHeaders | undefined; closed: boolean } = { data: [], trailers: undefined, closed: false };
  const stream = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', ...HEADERS });
  stream.on('data', (c: Buffer) => state.data.push(...c));
  stream.on('trailers', (t) => (state.trailers = t));
  stream.on('error', () => undefined);
  stream.on('close', () => (state.closed = true));
  stream.end(EMPTY_REQUEST);
  return state;
}

test('Watch: SERVING at once, NOT_SERVING once a shutdown fails readiness, then the end of the stream (OK) when the drain starts', async () => {
  const stack = await startStack({ shutdown: { readinessDelayMs: 1_500, drainTimeoutMs: 5_000 } });
  const session = http2.connect(`http://${stack.gw.grpc}`);
  session.on('error', () => undefined);
  try {
    const w = watch(session);
    await waitFor(() => w.data.length >= SERVING.length, 5_000, 'the first status');
    assert.deepEqual(w.data, SERVING);
    const shutdown = stack.gw.gateway.shutdown();
    // Within the readiness delay (the poll runs every second), before the drain.
    await waitFor(() => w.data.length >= SERVING.length + NOT_SERVING.length, 1_400, 'NOT_SERVING while readiness fails');
    assert.equal(w.closed, false, 'still open during the readiness delay');
    await waitFor(() => w.closed, 5_000, 'the watch ended by the drain');
    assert.deepEqual(w.data, [...SERVING, ...NOT_SERVING], 'told once');
    assert.equal(w.trailers?.['grpc-status'], '0');
    await shutdown;
  } finally {
    session.destroy();
    await stack.close();
  }
});

test(`at most ${MAX_HEALTH_WATCHES} watches at once: one more is RESOURCE_EXHAUSTED, Check still answers`, async () => {
  const stack = await startStack();
  // The listener allows 1,000 streams per connection: the watches are spread over two.
  const sessions = [http2.connect(`http://${stack.gw.grpc}`), http2.connect(`http://${stack.gw.grpc}`)];
  for (const s of sessions) s.on('error', () => undefined);
  try {
    const watches = Array.from({ length: MAX_HEALTH_WATCHES }, (_, i) => watch(sessions[i % 2]!));
    await waitFor(() => watches.every((w) => w.data.length >= SERVING.length), 20_000, 'every watch answered');
    const refused = await rawCall(stack.gw.grpc, '/grpc.health.v1.Health/Watch', EMPTY_REQUEST, HEADERS);
    assert.equal(refused.headers['grpc-status'], '8', 'RESOURCE_EXHAUSTED');
    assert.equal(decodeURIComponent(String(refused.headers['grpc-message'])), TOO_MANY_WATCHES);
    const check = await rawCall(stack.gw.grpc, '/grpc.health.v1.Health/Check', EMPTY_REQUEST, HEADERS);
    assert.deepEqual([...check.data], SERVING);
    // A watch that ends makes room for another.
    sessions[0]!.destroy();
    await waitFor(() => watches.filter((_, i) => i % 2 === 0).every((w) => w.closed), 10_000, 'the first connection\'s watches closed');
    const again = http2.connect(`http://${stack.gw.grpc}`);
    again.on('error', () => undefined);
    try {
      const w = watch(again);
      await waitFor(() => w.data.length >= SERVING.length || w.closed, 5_000, 'a new watch answered');
      assert.deepEqual(w.data, SERVING);
    } finally {
      again.destroy();
    }
  } finally {
    for (const s of sessions) s.destroy();
    await stack.close();
  }
});
