/**
 * gRPC calls get the resilience REST requests get, through the same pools, breakers, retries,
 * drain and rollback: a replica killed under load fails no keyless call; a canary answering
 * UNAVAILABLE or INTERNAL is drained and rolled back with at most 0.1% of calls failed; a client's
 * grpc-timeout is enforced (DEADLINE_EXCEEDED near it) and sent on; a client's cancel reaches the
 * replica; an 8 MiB Predict makes the round trip.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startSimulator } from '../../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack } from '../../helpers/stack.js';

const request = (x: number[] = [1]) => ({ model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: String(x.length) }] }, float_val: x } } });
type PredictResponse = { outputs: { y: { float_val: number[] } } };

/** Keyless calls from `workers` loops until stopped; counts what failed, by code. */
function load(client: TfServingClient, workers: number): { stop(): Promise<{ calls: number; failed: Record<string, number> }> } {
  let running = true;
  let calls = 0;
  const failed: Record<string, number> = {};
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      calls++;
      try {
        await client.call<PredictResponse>('PredictionService', 'Predict', request());
      } catch (err) {
        const code = grpc.status[(err as grpc.ServiceError).code] ?? 'unknown';
        failed[code] = (failed[code] ?? 0) + 1;
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { calls, failed };
    },
  };
}

test('a stable replica killed under gRPC load: no keyless call fails', async (t) => {
  const stack = await startStack({ stableReplicas: 3, canaryReplicas: 0, policy: { stable: 1 } });
  const client = tfServingClient(stack.gw.grpc);
  t.after(async () => {
    client.close();
    await stack.close();
  });
  const traffic = load(client, 8);
  await new Promise((r) => setTimeout(r, 500));
  await stack.stable[0]!.close();
  await new Promise((r) => setTimeout(r, 1_500));
  const { calls, failed } = await traffic.stop();
  assert.ok(calls > 200, `${calls} calls`);
  assert.deepEqual(failed, {}, `${calls} calls`);
});

for (const [fault, status] of [['UNAVAILABLE', 503], ['INTERNAL', 500]] as const) {
  test(`a canary answering ${fault}: drained and rolled back, at most 0.1% of calls failed`, async (t) => {
    const stack = await startStack({
      stableReplicas: 2,
      canaryReplicas: 1,
      policy: { stable: 1, canary: 2, percent: 20 },
      resilience: { analysis: { windowSeconds: 2, minRequests: 20, latencyMarginMs: 3_600_000 } },
    });
    const client = tfServingClient(stack.gw.grpc);
    const admin = new TestClient(2);
    t.after(async () => {
      client.close();
      await admin.close();
      await stack.close();
    });
    const traffic = load(client, 8);
    await new Promise((r) => setTimeout(r, 800));
    stack.canary[0]!.setFaults({ errorRate: 1, errorStatus: status });
    await waitFor(
      async () => (await admin.get(`${stack.gw.admin}/api/models/${MODEL}`, { authorization: `Bearer ${TEST_TOKEN}` })).json<{ state: string }>().state === 'rolled-back',
      10_000,
      'the rollback',
    );
    await new Promise((r) => setTimeout(r, 300));
    const { calls, failed } = await traffic.stop();
    const failures = Object.values(failed).reduce((a, b) => a + b, 0);
    assert.ok(failures <= calls * 0.001, `${failures} of ${calls} calls failed: ${JSON.stringify(failed)}`);
    assert.ok(stack.canary[0]!.counters().byProtocol.grpc > 0, 'the canary did take gRPC calls before');
  });
}

/** A gateway whose one replica's gRPC port is a server the test controls (health checks go to a simulator's REST port). */
async function withGrpcReplica(t: { after: (fn: () => Promise<void>) => void }, onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) {
  const sim = await startSimulator({ model: MODEL, versions: [1] });
  const replica = http2.createServer();
  replica.on('stream', onStream);
  replica.listen(0, '127.0.0.1');
  await once(replica, 'listening');
  const gw = await startTestGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [{ url: sim.url, grpcPort: (replica.address() as AddressInfo).port }] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        resilience: { retry: { attemptTimeoutMs: 10_000 } },
      },
    },
  });
  const client = tfServingClient(gw.grpc);
  t.after(async () => {
    client.close();
    await gw.close();
    await new Promise((r) => replica.close(r));
    await sim.close();
  });
  return { gw, client };
}

test("a client's grpc-timeout of 100 ms against a hanging replica: DEADLINE_EXCEEDED near 100 ms, and the time left is sent on", async (t) => {
  let forwardedTimeout: string | undefined;
  const { client } = await withGrpcReplica(t, (stream, headers) => {
    forwardedTimeout = headers['grpc-timeout'] as string | undefined;
    stream.on('error', () => undefined);
    // Never answers.
  });
  const started = performance.now();
  await assert.rejects(client.call('PredictionService', 'Predict', request(), { deadlineMs: 100 }), (err: grpc.ServiceError) => err.code === grpc.status.DEADLINE_EXCEEDED);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 90 && elapsed < 1_000, `${elapsed.toFixed(0)} ms`);
  assert.match(forwardedTimeout ?? '', /^\d+m$/);
  assert.ok(Number(forwardedTimeout?.slice(0, -1)) <= 100, `sent on with what was left: ${forwardedTimeout}`);
});

test("a client's cancel reaches the replica (its stream is reset)", async (t) => {
  let resetCode: number | undefined;
  let arrived = false;
  const { gw } = await withGrpcReplica(t, (stream) => {
    arrived = true;
    stream.on('error', () => undefined);
    stream.on('close', () => (resetCode = stream.rstCode));
  });
  const session = http2.connect(`http://${gw.grpc}`);
  t.after(async () => {
    session.destroy();
  });
  const call = session.request({ ':method': 'POST', ':path': '/tensorflow.serving.PredictionService/Predict', 'content-type': 'application/grpc', te: 'trailers' });
  call.on('error', () => undefined);
  const body = Buffer.from([0x0a, 0x0f, 0x0a, 0x0d, ...Buffer.from(MODEL)]);
  const prefix = Buffer.from([0, 0, 0, 0, body.length]);
  call.end(Buffer.concat([prefix, body]));
  await waitFor(() => arrived, 3_000, 'the call at the replica');
  call.close(http2.constants.NGHTTP2_CANCEL);
  await waitFor(() => resetCode !== undefined, 3_000, 'the replica to see the cancel');
  assert.equal(resetCode, http2.constants.NGHTTP2_CANCEL);
});

test('an 8 MiB Predict makes the round trip', async (t) => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1 } });
  // grpc-js takes at most 4 MiB by default, as TF Serving's clients do: the user raises it.
  const client = tfServingClient(stack.gw.grpc, { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  t.after(async () => {
    client.close();
    await stack.close();
  });
  const x = Array.from({ length: 2 * 1024 * 1024 }, (_, i) => i % 1000);
  const answer = await client.call<PredictResponse>('PredictionService', 'Predict', request(x), { deadlineMs: 30_000 });
  const y = answer.outputs.y.float_val;
  assert.equal(y.length, x.length);
  assert.equal(y[999], 0.5 * 999 + 2);
});
