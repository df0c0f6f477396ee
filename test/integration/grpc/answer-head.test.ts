/**
 * The head of a gRPC answer through the gateway is the replica's, plus x-model-version and
 * x-request-id, and nothing of node's own: grpc C++ (TF Serving) sends no Date header, and
 * node:http2 adds one to every answer unless told not to. The same for answers of the gateway's own
 * (Trailers-Only) and for its health service. Compared header by header with a call straight to
 * the simulated replica, which answers as grpc C++ does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { startTestGateway } from '../../helpers/gateway.js';
import { firstOkPredict, framedPredict, grpcStatusOf, PREDICT_PATH, rawCall, type RawAnswer } from '../../helpers/grpc-client.js';
import { MODEL, replicaEntry } from '../../helpers/stack.js';

const HEALTH = '/grpc.health.v1.Health/Check';
const HEADERS = { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' } as const;

const names = (a: RawAnswer): string[] => Object.keys(a.headers).sort();

test("a gRPC answer's head is the replica's and the gateway's two headers, with no Date", async (t) => {
  const sim = await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 });
  const gw = await startTestGateway({
    models: { [MODEL]: { pools: { '1': { replicas: [replicaEntry(sim)] } }, policy: { stable: 1 }, healthCheck: { intervalMs: 200, timeoutMs: 1_000 } } },
  });
  t.after(async () => {
    await gw.close();
    await sim.close();
  });

  const via = await firstOkPredict(gw.grpc, MODEL, HEADERS);
  const direct = await rawCall(sim.grpcAddress as string, PREDICT_PATH, framedPredict(MODEL), HEADERS);
  assert.equal(grpcStatusOf(direct), '0');
  assert.equal(direct.headers['date'], undefined, 'the simulated replica sends no Date, as grpc C++');
  assert.deepEqual(names(via), [...names(direct), 'x-model-version', 'x-request-id'].sort());

  // An unknown model: the gateway answers itself (Trailers-Only), with the head a replica sends.
  const unknownDirect = await rawCall(sim.grpcAddress as string, PREDICT_PATH, framedPredict('no_such_model'), HEADERS);
  const own = await rawCall(gw.grpc, PREDICT_PATH, framedPredict('no_such_model'), HEADERS);
  assert.equal(own.headers['grpc-status'], '5');
  assert.equal(unknownDirect.headers['grpc-status'], '5');
  assert.deepEqual(names(own), [...names(unknownDirect), 'x-request-id'].sort(), "the gateway's own NOT_FOUND: the replica's head and x-request-id");

  const health = await rawCall(gw.grpc, HEALTH, frameMessage(new Uint8Array(0)), HEADERS);
  assert.equal(grpcStatusOf(health), '0');
  assert.equal(health.headers['date'], undefined, 'the health service sends no Date');
});
