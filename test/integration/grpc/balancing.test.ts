/**
 * Every gRPC call is routed on its own, which an L4 balancer in front of HTTP/2 cannot do: 20,000
 * keyless Predict calls over one client connection at a 10% canary land 9-11% on the canary and
 * spread over every stable replica; a sticky key in the metadata keeps its cohort on one side.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { tfServingClient, type TfServingClient } from '../../helpers/grpc-client.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
let client: TfServingClient;

before(async () => {
  stack = await startStack({ stableReplicas: 3, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 10, sticky: { header: 'x-user-id' } } });
  // One channel: grpc-js keeps one HTTP/2 connection to the gateway.
  client = tfServingClient(stack.gw.grpc);
});
after(async () => {
  client.close();
  await stack.close();
});

const request = { model_spec: { name: MODEL }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };

async function predictions(count: number, concurrency: number): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const answer = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', request);
        out.push(answer.outputs.y.float_val[0] as number);
      }
    }),
  );
  return out;
}

test('20,000 keyless calls on one connection: 9-11% on the canary, every stable replica used', async () => {
  for (const sim of [...stack.stable, ...stack.canary]) sim.resetCounters();
  const answers = await predictions(20_000, 64);
  const canary = answers.filter((y) => y === 3.5).length / answers.length;
  assert.ok(canary >= 0.09 && canary <= 0.11, `canary share ${(canary * 100).toFixed(2)}%`);
  const perStable = stack.stable.map((s) => s.counters().byProtocol.grpc);
  for (const calls of perStable) assert.ok(calls > 20_000 * 0.9 * 0.2, `every stable replica takes its share of calls: ${perStable.join(', ')}`);
});

test('a sticky key in the metadata keeps a user on one side; users split near the percentage', async () => {
  const sides = await Promise.all(
    Array.from({ length: 400 }, async (_, user) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-user-id', `user-${user}`);
      const seen = new Set<number>();
      for (let k = 0; k < 3; k++) {
        const answer = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', request, { metadata });
        seen.add(answer.outputs.y.float_val[0] as number);
      }
      return seen;
    }),
  );
  sides.forEach((seen, user) => assert.equal(seen.size, 1, `user-${user} saw one version`));
  const onCanary = sides.filter((s) => s.has(3.5)).length / sides.length;
  assert.ok(onCanary > 0.03 && onCanary < 0.2, `${(onCanary * 100).toFixed(1)}% of users on the canary`);
});
