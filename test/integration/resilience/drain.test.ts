/**
 * Drain hysteresis: a canary failing 60% of its requests drains to stable and stays drained (only a
 * probe trickle reaches it) for well over two drain windows, although draining empties its window;
 * once the fault is gone the probes show it and the canary takes its share again. A rollback ends
 * the drain (no unpinned request goes to the canary then, so nothing could ever show a recovery).
 * Breakers, ejection, retries and the automatic rollback are off, so the drain is the only protection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { capturingLogger } from '../../helpers/logs.js';
import type { Logger } from '../../../gateway/src/observability/logger.js';
import { steadyLoad } from '../../helpers/load.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

const WINDOW_SECONDS = 2;

/** The simulator's fault dice, made exact: 0, 0.2, 0.4, 0.6, 0.8, ... so an error rate of 0.6 fails 3 in 5. */
function cyclingDice(): () => number {
  let i = 0;
  return () => (i++ % 5) / 5;
}

const auth = { authorization: `Bearer ${TEST_TOKEN}` };

function startDrainStack(logger?: Logger): Promise<Stack> {
  return startStack({
    ...(logger === undefined ? {} : { logger }),
    stableReplicas: 1,
    canaryReplicas: 1,
    policy: { stable: 1, canary: 2, percent: 50 },
    resilience: {
      breaker: { volumeThreshold: 100_000 },
      retry: { budgetPercent: 0, minRetriesPerSecond: 0 },
      ejection: { consecutiveFailures: 10_000 },
      drain: { errorRate: 0.5, windowSeconds: WINDOW_SECONDS, minRequests: 4 },
      analysis: { enabled: false },
    },
    simulator: (version) => (version === 2 ? { random: cyclingDice() } : {}),
  });
}

async function drainingInAdminApi(client: TestClient, stack: Stack): Promise<boolean> {
  const view = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<{ pools: Array<{ version: number; draining: boolean }> }>();
  return view.pools.find((p) => p.version === 2)!.draining;
}

test('a canary failing 60% stays drained for over two windows, with (almost) no requests, and takes traffic again once fixed', async () => {
  // The controller's own account of each drain start and end, for the message of a failure.
  const { logger, lines } = capturingLogger('info');
  const drainLog = (): string => JSON.stringify(lines.filter((l) => /draining/.test(l.msg)).map((l) => ({ time: l['time'], msg: l.msg, why: l['why'], errorRate: l['errorRate'], requests: l['requests'] })));
  const stack = await startDrainStack(logger);
  const client = new TestClient(16);
  const canary = stack.canary[0]!;
  const pool = stack.gw.gateway.pools.pools(MODEL)!.get(2)!;
  const draining = (): Promise<boolean> => drainingInAdminApi(client, stack);
  const load = steadyLoad(client, [stack.predictUrl], 8);
  let watch: NodeJS.Timeout | undefined;
  try {
    await waitFor(() => load.outcome.ok > 300, 10_000, 'traffic before the fault');
    assert.ok(canary.counters().byOperation.predict > 50, 'the canary had its share');
    canary.setFaults({ errorRate: 0.6, errorStatus: 500 });
    await waitFor(draining, 5_000, 'the canary draining (admin API)');

    // Watch the flag closely: without hysteresis it drops for a tick every time the window empties.
    let undrained = 0;
    watch = setInterval(() => {
      if (!pool.draining) undrained++;
    }, 20);
    const canaryBefore = canary.counters().byOperation.predict;
    const totalBefore = load.outcome.ok + load.outcome.failures.length;
    await new Promise((resolve) => setTimeout(resolve, 2.5 * WINDOW_SECONDS * 1000));
    clearInterval(watch);
    const canaryDuring = canary.counters().byOperation.predict - canaryBefore;
    const totalDuring = load.outcome.ok + load.outcome.failures.length - totalBefore;
    assert.equal(undrained, 0, `draining never switched off while the canary was failing: ${drainLog()}`);
    assert.ok(await draining(), 'still draining (admin API)');
    // Its share would be half of the requests; a probe trickle is a small fraction of that.
    assert.ok(canaryDuring < totalDuring * 0.1, `the canary got ${canaryDuring} of ${totalDuring} requests while drained`);
    assert.ok(canaryDuring > 0, 'probes still reached it');

    canary.clearFaults();
    await waitFor(async () => !(await draining()), 10_000, 'the drain to end once the probes succeed');
    const canaryAtRecovery = canary.counters().byOperation.predict;
    await waitFor(() => canary.counters().byOperation.predict > canaryAtRecovery + 200, 10_000, 'the canary taking traffic again');
  } finally {
    clearInterval(watch);
    await load.stop();
    await client.close();
    await stack.close();
  }
});

test('a rollback ends the drain of a canary that is still failing', async () => {
  const stack = await startDrainStack();
  const client = new TestClient(16);
  const load = steadyLoad(client, [stack.predictUrl], 8);
  try {
    await waitFor(() => load.outcome.ok > 100, 10_000, 'traffic before the fault');
    stack.canary[0]!.setFaults({ errorRate: 0.6, errorStatus: 500 });
    await waitFor(() => drainingInAdminApi(client, stack), 5_000, 'the canary draining');
    const rolledBack = await client.send('POST', `${stack.gw.admin}/api/models/${MODEL}/rollback`, JSON.stringify({ note: 'drained canary' }), {
      ...auth,
      'content-type': 'application/json',
    });
    assert.equal(rolledBack.status, 200, rolledBack.text);
    await waitFor(async () => !(await drainingInAdminApi(client, stack)), 5_000, 'the drain to end with the rollback');
    // And it stays ended: nothing goes to the canary to be judged any more.
    await new Promise((resolve) => setTimeout(resolve, WINDOW_SECONDS * 1000));
    assert.equal(await drainingInAdminApi(client, stack), false);
  } finally {
    await load.stop();
    await client.close();
    await stack.close();
  }
});
