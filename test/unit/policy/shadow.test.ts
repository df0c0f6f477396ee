/** A policy's shadow: checked as part of the whole policy, defaults filled from the schema. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validatePolicy } from '../../../gateway/src/policy/validate.js';
import { promote } from '../../../gateway/src/controlplane/changes.js';
import type { StoredPolicy } from '../../../gateway/src/policy/stored.js';
import { NO_VERSIONS } from '../../../gateway/src/policy/stored.js';

const context = { model: 'm', versions: new Set([1, 2, 3]) };

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  const result = validatePolicy(input, context);
  assert.equal(result.ok, false, 'expected the policy to be refused');
  return result.ok ? [] : [...result.issues];
}

test('a shadow gets its defaults from the schema', () => {
  const result = validatePolicy({ stable: 1, shadow: { version: 2, percent: 12.5 } }, context);
  assert.ok(result.ok);
  assert.deepEqual(result.policy.shadow, { version: 2, percent: 12.5, maxInFlight: 32, maxCompareBytes: 1024 * 1024, tolerance: { abs: 1e-6, rel: 1e-3 } });
  const partial = validatePolicy({ stable: 1, shadow: { version: 2, percent: 1, tolerance: { rel: 0.1 } } }, context);
  assert.ok(partial.ok);
  assert.deepEqual(partial.policy.shadow?.tolerance, { abs: 1e-6, rel: 0.1 });
});

test('a bad shadow refuses the whole policy, each problem named by its path', () => {
  assert.deepEqual(issuesOf({ stable: 1, shadow: { version: 9, percent: 10 } }).map((i) => i.path), ['/shadow/version']);
  assert.match(issuesOf({ stable: 1, shadow: { version: 9, percent: 10 } })[0]!.message, /no pool serves version 9 of m \(pools: 1, 2, 3\)/);
  assert.deepEqual(issuesOf({ stable: 1, shadow: { version: 1, percent: 10 } }).map((i) => i.path), ['/shadow/version'], 'not stable itself');
  assert.deepEqual(issuesOf({ stable: 1, shadow: { version: 2, percent: 10.001 } }).map((i) => i.path), ['/shadow/percent']);
  const shape = issuesOf({ stable: 1, shadow: { version: 2, percent: 101, maxInFlight: 0, maxCompareBytes: 1e12, tolerance: { abs: -1 }, colour: 'x' } }).map((i) => i.path).sort();
  // '/shadow' too: "must be null", the other side of the union.
  assert.deepEqual(shape, ['/shadow', '/shadow/colour', '/shadow/maxCompareBytes', '/shadow/maxInFlight', '/shadow/percent', '/shadow/tolerance/abs']);
  assert.deepEqual(issuesOf({ stable: 1, shadow: { percent: 10 } }).map((i) => i.path), ['/shadow/version', '/shadow']);
  // With other problems, all are reported at once.
  assert.deepEqual(issuesOf({ stable: 1, canary: 7, shadow: { version: 8, percent: 10 } }).map((i) => i.path).sort(), ['/canary', '/shadow/version']);
});

test('the canary may be the shadow; a promotion of it ends the shadow', () => {
  const result = validatePolicy({ stable: 1, canary: 2, percent: 10, shadow: { version: 2, percent: 50 } }, context);
  assert.ok(result.ok);
  const stored: StoredPolicy = {
    model: 'm', revision: 3, policy: result.policy, paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS,
    updatedAt: '', updatedBy: 'x', reason: 'manual', note: '', provisional: false,
  };
  const promoted = promote(stored);
  assert.equal(promoted.policy.stable, 2);
  assert.equal(promoted.policy.shadow, null);
  assert.ok(validatePolicy(promoted.policy, context).ok);
  // A shadow of another version stays.
  const other = validatePolicy({ stable: 1, canary: 2, percent: 10, shadow: { version: 3, percent: 50 } }, context);
  assert.ok(other.ok);
  assert.equal(promote({ ...stored, policy: other.policy }).policy.shadow?.version, 3);
});

test('a plan with a shadow stage starts with no live share and the canary as the shadow; without one, at its first step', async () => {
  const { planStart, inShadowStage, shadowStagePassed, shadowStageFailed } = await import('../../../gateway/src/controlplane/changes.js');
  const gate = { shadow: { minRequests: 10, minAgreement: 0.9 }, steps: [5, 50], minDwellSeconds: 0, minRequests: 0 };
  const checked = validatePolicy(planStart({ stable: 1, canary: 2, percent: 30, plan: gate }, gate), context);
  assert.ok(checked.ok);
  assert.equal(checked.policy.percent, 0);
  assert.deepEqual(checked.policy.shadow, { version: 2, percent: 100, maxInFlight: 32, maxCompareBytes: 1024 * 1024, tolerance: { abs: 1e-6, rel: 1e-3 } });
  assert.deepEqual(checked.policy.plan?.shadow, { minRequests: 10, minAgreement: 0.9, percent: 100, tolerance: { abs: 1e-6, rel: 1e-3 } });
  const rollout = { step: 0, since: 'now' };
  assert.equal(inShadowStage(checked.policy, rollout), true);
  assert.equal(inShadowStage(checked.policy, null), false);
  const plain = validatePolicy(planStart({ stable: 1, canary: 2, plan: { ...gate, shadow: undefined } }, { ...gate, shadow: undefined }), context);
  assert.ok(plain.ok);
  assert.equal(plain.policy.percent, 5);
  assert.equal(inShadowStage(plain.policy, rollout), false);
  const stored: StoredPolicy = { model: 'm', revision: 1, policy: checked.policy, paused: false, rolledBack: false, rollout, versions: NO_VERSIONS, updatedAt: '', updatedBy: '', reason: 'rollout', note: '', provisional: false };
  const passed = shadowStagePassed(stored, checked.policy.plan!, 'ok');
  assert.deepEqual([passed.policy.percent, passed.policy.shadow, passed.rollout?.step, passed.rolledBack], [5, null, 0, false]);
  const failed = shadowStageFailed(stored, 'bad');
  assert.deepEqual([failed.policy.percent, failed.policy.shadow, failed.rollout, failed.rolledBack, failed.note], [0, null, null, true, 'bad']);
});
