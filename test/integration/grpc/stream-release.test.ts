/**
 * A closed HTTP/2 stream keeps nothing of the call it carried: node:http2 can leave a closed
 * stream reachable until a full collection (protocols/grpc/release.ts), so whatever its listeners
 * close over would be copied by every scavenge and promoted. After calls that end every way a call
 * ends (answered by a replica, answered by the gateway itself, cancelled by the client while the
 * replica still works on it), both sides' streams, the client's to the gateway and the gateway's
 * to the replica, hold no listener but one that ignores errors; and while open, each had one
 * 'close' and one 'error' listener, not one per concern.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { startTestGateway, waitFor } from '../../helpers/gateway.js';
import { tfServingClient } from '../../helpers/grpc-client.js';
import { MODEL, replicaEntry } from '../../helpers/stack.js';

const HUNG = 'hung_model';
const input = { inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };
const EVENTS = ['data', 'end', 'close', 'response', 'headers', 'trailers', 'wantTrailers', 'drain', 'finish', 'aborted', 'timeout'] as const;

/** Listeners added to each stream before it closed, by event (what the gateway's and node:http2's code registered). */
const added = new Map<http2.Http2Stream, string[]>();
function countAdded(stream: http2.Http2Stream): void {
  const names: string[] = [];
  added.set(stream, names);
  stream.on('newListener', (event: string | symbol) => names.push(String(event)));
}

/** What is left listening on a stream, by event. */
function listening(stream: http2.Http2Stream): Record<string, number> {
  const left: Record<string, number> = {};
  for (const event of EVENTS) if (stream.listenerCount(event) > 0) left[event] = stream.listenerCount(event);
  return left;
}

test('closed gRPC streams, to the client and to the replica, hold no listener of the call, and had one close and one error listener', async (t) => {
  const sim = await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 });
  const hung = await startSimulator({ model: HUNG, versions: [1], behaviour: 'half_plus_two', grpcPort: 0, faults: { hang: true } });
  const gw = await startTestGateway({
    models: {
      [MODEL]: { pools: { '1': { replicas: [replicaEntry(sim)] } }, policy: { stable: 1 } },
      [HUNG]: { pools: { '1': { replicas: [replicaEntry(hung)] } }, policy: { stable: 1 } },
    },
  });
  const client = tfServingClient(gw.grpc);
  // Every ClientHttp2Session's requests, the gateway's to its replicas among them (the test's own
  // client is grpc-js, whose streams carry no x-request-id: they are told apart by that).
  const probe = http2.connect('http://127.0.0.1:1').on('error', () => undefined);
  const proto = Object.getPrototypeOf(probe) as { request: (...args: unknown[]) => http2.ClientHttp2Stream };
  probe.destroy();
  const request = proto.request;
  const upstream: http2.ClientHttp2Stream[] = [];
  proto.request = function (this: unknown, ...args: unknown[]) {
    const stream = request.apply(this, args);
    if ((args[0] as Record<string, unknown>)['x-request-id'] !== undefined) {
      upstream.push(stream);
      countAdded(stream);
    }
    return stream;
  };
  const served: http2.ServerHttp2Stream[] = [];
  // First, so the gateway's own listeners are counted.
  gw.gateway.grpc.server.prependListener('stream', (stream: http2.ServerHttp2Stream) => {
    served.push(stream);
    countAdded(stream);
  });
  t.after(async () => {
    proto.request = request;
    client.close();
    await gw.close();
    await Promise.all([sim.close(), hung.close()]);
  });

  for (let i = 0; i < 3; i++) await client.call('PredictionService', 'Predict', { model_spec: { name: MODEL }, ...input });
  await assert.rejects(client.call('PredictionService', 'Predict', { model_spec: { name: 'no_such_model' }, ...input }), /Servable not found/);
  // The replica never answers: the client's deadline cancels the call (RST_STREAM) while it is sent on.
  await assert.rejects(client.call('PredictionService', 'Predict', { model_spec: { name: HUNG }, ...input }, { deadlineMs: 300 }), /DEADLINE_EXCEEDED|Deadline/);

  assert.equal(served.length, 5, 'the gateway served five calls');
  assert.equal(upstream.length, 4, 'four calls went to a replica (the unknown model did not)');
  const all = [...served, ...upstream];
  await waitFor(() => all.every((s) => s.closed && s.destroyed), 5_000, 'every stream closed');
  // 'close' is emitted on a tick after the stream is destroyed.
  await new Promise((resolve) => setImmediate(resolve));
  for (const [i, stream] of all.entries()) {
    const side: string = i < served.length ? `client's stream ${i}` : `replica stream ${i - served.length}`;
    assert.deepEqual(listening(stream), {}, `${side} still has listeners`);
    assert.equal(stream.listenerCount('error'), 1, `${side}: one listener ignores late errors`);
    // One listener each for the stream's life: every listener added to a node:http2 stream costs
    // an emit of 'newListener', and a `once` also a removal (docs/performance.md).
    const registered = added.get(stream) ?? [];
    for (const event of ['close', 'error']) {
      assert.equal(registered.filter((e) => e === event).length, 1, `${side}: one '${event}' listener added, not ${JSON.stringify(registered)}`);
    }
  }
});
