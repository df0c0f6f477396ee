/**
 * The drain's recovery is judged on seconds since the drain began. A canary that drains in the
 * first second of its policy (the window then covers that second only) must not be declared
 * recovered a moment later because the window, growing with the policy's age, now reaches back to
 * healthy traffic from before the fault. Time is the test's: the controller is ticked by hand and
 * Date is mocked, so the sequence is exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CanaryController } from '../../../gateway/src/controlplane/canary-controller.js';
import type { WriterContext } from '../../../gateway/src/controlplane/policy-writer.js';
import { DEFAULT_RESILIENCE, type ResilienceSettings } from '../../../gateway/src/config/load.js';
import { VersionPool } from '../../../gateway/src/dataplane/pool.js';
import { capturingLogger } from '../../helpers/logs.js';

const resilience: ResilienceSettings = {
  ...DEFAULT_RESILIENCE,
  drain: { errorRate: 0.5, windowSeconds: 2, minRequests: 4 },
  analysis: { ...DEFAULT_RESILIENCE.analysis, enabled: false },
};

function record(pool: VersionPool, ok: number, failed: number): void {
  for (let i = 0; i < ok; i++) pool.stats.record(2, false);
  for (let i = 0; i < failed; i++) pool.stats.record(2, true);
}

test('a drain begun in the policy\'s first second is not ended by healthy seconds from before the fault', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const stable = new VersionPool('m', 1, [], resilience);
  const canary = new VersionPool('m', 2, [], resilience);
  // The controller reads only these fields of the snapshot's model.
  const model = { name: 'm', revision: 1, stable, canary, decisions: { canary: {} }, stored: { rolledBack: false }, policy: { plan: null, onNewVersion: null } };
  const ctx = { snapshots: { current: { models: new Map([['m', model]]) } } } as unknown as WriterContext;
  const { logger, lines } = capturingLogger('info');
  const controller = new CanaryController(ctx, logger);
  const drains = (): string => JSON.stringify(lines.filter((l) => /draining/.test(l.msg)).map((l) => [l.msg, l['why']]));

  controller.tick(); // the policy comes into force now
  record(canary, 150, 0); // a healthy second
  canary.stats.tick();
  record(canary, 20, 30); // the fault: 60% fail
  t.mock.timers.tick(500);
  controller.tick();
  assert.equal(canary.draining, true, `drains on 60% errors: ${drains()}`);

  // One second into the policy: the analysis window may now reach back one closed second, which
  // holds the 150 healthy requests: 30 errors in 200 requests is under half the threshold.
  t.mock.timers.tick(500);
  controller.tick();
  assert.equal(canary.draining, true, `still draining: ${drains()}`);

  // Probes succeed from now on; the drain ends once its window holds only seconds since it began.
  canary.stats.tick();
  record(canary, 5, 0);
  t.mock.timers.tick(1_000);
  controller.tick();
  assert.equal(canary.draining, true, 'the second the drain began in is still in the window: 30 of 55 failed');
  canary.stats.tick();
  record(canary, 5, 0);
  t.mock.timers.tick(1_000);
  controller.tick();
  assert.equal(canary.draining, true, 'the window of 2 s still reaches the second the drain began in');
  canary.stats.tick();
  record(canary, 5, 0);
  t.mock.timers.tick(1_000);
  controller.tick();
  assert.equal(canary.draining, false, `recovered on probes alone: ${drains()}`);
  assert.match(drains(), /recovered: error rate 0\.0% over 15 requests/);
});
