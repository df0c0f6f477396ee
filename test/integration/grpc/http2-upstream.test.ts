/**
 * What HTTP/2 itself does to the gateway's sessions to a replica: a replica that tells its
 * connections GOAWAY again and again (a restarting sidecar, a connection age limit), and one that
 * refuses streams with RST_STREAM(REFUSED_STREAM) (an overloaded grpc server). No keyless call
 * fails: a GOAWAY'd session is replaced, a refused stream is retried on another replica and counted
 * against the one that refused it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startSimulator, type SimulatorHandle } from '../../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { startGrpcRelay, type GrpcRelay } from '../../helpers/grpc-relay.js';
import { MODEL, replicaEntry } from '../../helpers/stack.js';

const request = { model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };

interface Setup {
  readonly gw: TestGateway;
  readonly relay: GrpcRelay;
  readonly relayed: SimulatorHandle;
  readonly client: TfServingClient;
  close(): Promise<void>;
}

/** Two stable replicas; the first one's gRPC port is reached through the relay. */
async function setup(): Promise<Setup> {
  const sims = [
    await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 }),
    await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 }),
  ];
  const relay = await startGrpcRelay(sims[0]!.grpcAddress as string);
  const gw = await startTestGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [{ url: sims[0]!.url, grpcPort: relay.port }, replicaEntry(sims[1]!)] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
      },
    },
  });
  const client = tfServingClient(gw.grpc);
  return {
    gw,
    relay,
    relayed: sims[0]!,
    client,
    close: async () => {
      client.close();
      await gw.close();
      await relay.close();
      await Promise.all(sims.map((s) => s.close()));
    },
  };
}

/** `workers` loops of keyless Predict calls until stopped; failures by code. */
function load(client: TfServingClient, workers: number): { readonly calls: number; stop(): Promise<{ calls: number; failed: Record<string, number> }> } {
  let running = true;
  let calls = 0;
  const failed: Record<string, number> = {};
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      calls++;
      try {
        await client.call('PredictionService', 'Predict', request);
      } catch (err) {
        const code = grpc.status[(err as grpc.ServiceError).code] ?? 'unknown';
        failed[code] = (failed[code] ?? 0) + 1;
      }
    }
  });
  return {
    get calls() {
      return calls;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return { calls, failed };
    },
  };
}

test('a replica that says GOAWAY every 100 ms under load: no call fails, the gateway opens new sessions and keeps using it', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const traffic = load(s.client, 8);
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s.relay.goAway();
  }
  const relayedBefore = s.relay.counts.relayed;
  const callsBefore = traffic.calls;
  await waitFor(() => traffic.calls >= callsBefore + 200, 10_000, '200 more calls after the last GOAWAY');
  const { calls, failed } = await traffic.stop();
  assert.deepEqual(failed, {}, `${calls} calls`);
  assert.ok(s.relay.sessions >= 5, `${s.relay.sessions} sessions opened to the replica`);
  assert.ok(s.relay.counts.relayed > relayedBefore, 'calls still reach the replica after its last GOAWAY');
});

test('a replica that refuses every stream: its calls are retried elsewhere, none fails, and it is taken out of rotation', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  s.relay.refuse(true);
  const traffic = load(s.client, 8);
  const replica = async (): Promise<{ ejections: number; breaker: string }> => {
    const res = await fetch(`${s.gw.admin}/api/models/${MODEL}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    const view = (await res.json()) as { pools: Array<{ replicas: Array<{ url: string; ejections: number; breaker: string }> }> };
    return view.pools[0]!.replicas.find((r) => r.url === s.relayed.url)!;
  };
  await waitFor(async () => {
    const r = await replica();
    return r.ejections > 0 || r.breaker !== 'closed';
  }, 10_000, 'the refusing replica ejected or its breaker open');
  // Traffic goes on over the other replica (and the refusing one's trials once readmitted).
  const callsBefore = traffic.calls;
  await waitFor(() => traffic.calls >= callsBefore + 200, 10_000, '200 more calls once it is out');
  const { calls, failed } = await traffic.stop();
  assert.ok(s.relay.counts.refused > 0, 'streams were refused');
  assert.deepEqual(failed, {}, `${calls} calls, ${s.relay.counts.refused} refused streams`);
});
