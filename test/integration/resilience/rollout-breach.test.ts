/**
 * A breach during a progressive rollout rolls the canary back and ends the rollout: percent 0,
 * state rolled-back, no rollout in progress (a rollback that left it running would be stepped up
 * again once its dwell time passed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { MODEL, startStack } from '../../helpers/stack.js';

interface View {
  state: string;
  rolledBack: boolean;
  policy: { percent: number; canary: number | null };
  rollout: { step: number } | null;
}

test('a canary failing at the first step of a rollout plan is rolled back, with the rollout cleared', async () => {
  const stack = await startStack({
    stableReplicas: 1,
    canaryReplicas: 1,
    policy: { stable: 1, canary: 2, percent: 0, plan: { steps: [20, 50, 100], minDwellSeconds: 3_600, minRequests: 1 } },
  });
  const client = new TestClient(8);
  const auth = { authorization: `Bearer ${TEST_TOKEN}` };
  const view = async (): Promise<View> => (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<View>();
  const load = steadyLoad(client, [stack.predictUrl], 4);
  try {
    const before = await view();
    assert.deepEqual([before.state, before.policy.percent, before.rollout?.step], ['rolling-out', 20, 0]);
    await waitFor(() => load.outcome.ok > 100, 10_000, 'traffic at the first step');
    stack.canary[0]!.setFaults({ errorRate: 1, errorStatus: 500 });
    await waitFor(async () => (await view()).rolledBack, 10_000, 'the rollback');
    const after = await view();
    assert.deepEqual([after.state, after.policy.percent, after.policy.canary, after.rollout], ['rolled-back', 0, 2, null]);
    const audit = (await client.get(`${stack.gw.admin}/api/audit?model=${MODEL}&limit=5`, auth)).json<{ entries: Array<{ reason: string; after: { rollout: unknown } }> }>();
    const entry = audit.entries.find((e) => e.reason === 'rollback');
    assert.ok(entry !== undefined, 'the rollback is in the audit trail');
    assert.equal(entry.after.rollout, null);
  } finally {
    await load.stop();
    await client.close();
    await stack.close();
  }
});
