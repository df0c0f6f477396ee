/**
 * Header values new on every call go as HPACK literals never indexed (protocols/grpc/wire.ts): the
 * request id and the time left, to the replica, and the request id back to the client, whether a
 * replica answered or the gateway itself. Indexed, each call would add an entry to the HPACK tables
 * of both ends and evict one that repeats. Read off the wire by node:http2's decoder on the other
 * end (its sensitiveHeaders list): the relay in front of the replica, and a raw client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { startTestGateway } from '../../helpers/gateway.js';
import { firstOkPredict, framedPredict, PREDICT_PATH, rawCall } from '../../helpers/grpc-client.js';
import { startGrpcRelay } from '../../helpers/grpc-relay.js';
import { MODEL } from '../../helpers/stack.js';

const HEADERS = { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S', 'user-agent': 'hpack-test' } as const;

test('per-call header values are sent never indexed, to the replica and to the client', async (t) => {
  const sim = await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 });
  const relay = await startGrpcRelay(sim.grpcAddress as string);
  const gw = await startTestGateway({
    models: { [MODEL]: { pools: { '1': { replicas: [{ url: sim.url, grpcPort: relay.port }] } }, policy: { stable: 1 }, healthCheck: { intervalMs: 200, timeoutMs: 1_000 } } },
  });
  t.after(async () => {
    await gw.close();
    await relay.close();
    await sim.close();
  });

  const replied = await firstOkPredict(gw.grpc, MODEL, HEADERS);
  assert.equal(replied.headers['x-model-version'], '1');
  assert.deepEqual([...(replied.neverIndexed ?? [])].sort(), ['x-request-id'], 'the client gets the request id never indexed, the rest as usual');
  const sent = relay.neverIndexed.at(-1) ?? [];
  assert.deepEqual([...sent].sort(), ['grpc-timeout', 'x-request-id'], 'the replica gets the request id and the time left never indexed');

  // An answer of the gateway's own (Trailers-Only) carries the request id the same way.
  const own = await rawCall(gw.grpc, PREDICT_PATH, framedPredict('no_such_model'), HEADERS);
  assert.equal(own.headers['grpc-status'], '5');
  assert.ok(own.headers['x-request-id'] !== undefined);
  assert.deepEqual([...(own.neverIndexed ?? [])], ['x-request-id']);
});
