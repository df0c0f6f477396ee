/**
 * The rules of discovery and of onNewVersion, as pure functions: which versions a poll finds,
 * what a discovery write changes, which version becomes the candidate, and what a rollback,
 * promotion or clearing does to it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clearRejected, discoveryChange, MAX_DISCOVERED_VERSIONS, nextCandidate, promote, rollback, startCandidate } from '../../../gateway/src/controlplane/changes.js';
import { foundVersions, observe, parseModelStatus } from '../../../gateway/src/controlplane/discovery.js';
import { ChangeRefusedError } from '../../../gateway/src/controlplane/policy-writer.js';
import { validatePolicy } from '../../../gateway/src/policy/validate.js';
import { MAX_REJECTED, NO_VERSIONS, type StoredPolicy, type VersionsState } from '../../../gateway/src/policy/stored.js';

const plan = { shadow: { minRequests: 10, minAgreement: 0.99 }, steps: [10, 100], minDwellSeconds: 0, minRequests: 0 };

function stored(policy: Record<string, unknown>, versions: Partial<VersionsState> = {}, rolledBack = false): StoredPolicy {
  const checked = validatePolicy(policy, { model: 'm', versions: new Set([1, 2, 3, 4, 5, 6]) });
  assert.ok(checked.ok, JSON.stringify(checked));
  return {
    model: 'm',
    revision: 7,
    policy: checked.policy,
    paused: false,
    rolledBack,
    rollout: null,
    versions: { ...NO_VERSIONS, ...versions },
    updatedAt: '',
    updatedBy: '',
    reason: 'manual',
    note: '',
    provisional: false,
  };
}

test('model status answers are read as TF Serving writes them; anything else is no answer', () => {
  const body = JSON.stringify({
    model_version_status: [
      { version: '3', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
      { version: '2', state: 'END', status: { error_code: 'OK', error_message: '' } },
    ],
  });
  assert.deepEqual([...parseModelStatus(body)!], [[3, 'AVAILABLE'], [2, 'END']]);
  assert.equal(parseModelStatus('not json'), undefined);
  assert.equal(parseModelStatus('{"error": "x"}'), undefined);
  // Versions that are not version numbers are skipped, not trusted.
  assert.deepEqual([...parseModelStatus('{"model_version_status": [{"version": "-1", "state": "AVAILABLE"}, {"version": "99999999999999999", "state": "AVAILABLE"}, null, {"version": "4"}]}')!], []);
});

test('a version is found once AVAILABLE on minShare of the replicas polled, and one at least', () => {
  const avail = (...versions: number[]) => new Map(versions.map((v) => [v, 'AVAILABLE']));
  const o = observe([avail(1, 2), avail(2, 3), new Map([[3, 'LOADING']]), undefined]);
  assert.equal(o.polled, 4);
  assert.equal(o.answered, 3);
  assert.deepEqual(foundVersions(o, 0.5), [2], '2 of 4 replicas: half');
  assert.deepEqual(foundVersions(o, 0.25), [1, 2, 3]);
  assert.deepEqual(foundVersions(o, 1), []);
  assert.deepEqual(foundVersions(observe([new Map()]), 0.01), [], 'one replica at least');
  assert.deepEqual(foundVersions(observe([avail(1), avail(1), avail(1)]), 1), [1]);
});

test('a discovery write adds found versions and removes gone ones the policy does not route to', () => {
  const note = (added: number[], removed: number[]) => `+${added} -${removed}`;
  const current = stored({ stable: 2, canary: 3, shadow: { version: 4, percent: 5 } }, { discovered: [1, 2, 3, 4] });
  assert.equal(discoveryChange(current, [1, 2], [], note), null, 'nothing new');
  assert.equal(discoveryChange(current, [], [2, 3, 4], note), null, 'stable, canary and shadow are routed');
  const change = discoveryChange(current, [6, 5], [1, 2], note);
  assert.deepEqual(change?.versions.discovered, [2, 3, 4, 5, 6]);
  assert.equal(change?.note, '+5,6 -1');
  assert.deepEqual(change?.policy, current.policy, 'routing unchanged');
});

test('a model discovers at most MAX_DISCOVERED_VERSIONS versions: past it, only the newest found join', () => {
  const note = () => '';
  const full = Array.from({ length: MAX_DISCOVERED_VERSIONS - 2 }, (_, i) => i + 1);
  const current = stored({ stable: 2 }, { discovered: full });
  const flood = Array.from({ length: 1000 }, (_, i) => 1000 + i);
  assert.deepEqual(discoveryChange(current, flood, [], note)?.versions.discovered.slice(-2), [1998, 1999], 'room for two: the two newest');
  const room = discoveryChange(current, [5000], [1, 3], note);
  assert.equal(room?.versions.discovered.length, MAX_DISCOVERED_VERSIONS - 3, 'gone ones make room');
  const fuller = stored({ stable: 2 }, { discovered: Array.from({ length: MAX_DISCOVERED_VERSIONS }, (_, i) => i + 1) });
  assert.equal(discoveryChange(fuller, [7000], [], note), null, 'no room: nothing changes');
});

test('the candidate: the newest discovered version above stable, not rejected, with no operator canary in the way', () => {
  const auto = { onNewVersion: { plan } };
  assert.equal(nextCandidate(stored({ stable: 2 }, { discovered: [1, 2, 3] })), null, 'off without onNewVersion');
  assert.equal(nextCandidate(stored({ stable: 2, ...auto }, { discovered: [1, 2, 3] })), 3);
  assert.equal(nextCandidate(stored({ stable: 3, ...auto }, { discovered: [1, 2, 3] })), null, 'nothing newer than stable');
  assert.equal(nextCandidate({ ...stored({ stable: 2, ...auto }, { discovered: [3] }), paused: true }), null, 'paused');
  assert.equal(nextCandidate(stored({ stable: 2, ...auto }, { discovered: [3], rejected: [{ version: 3, at: '', note: '' }] })), null, 'rejected');
  assert.equal(nextCandidate(stored({ stable: 2, canary: 3, ...auto }, { discovered: [3], candidate: 3 })), null, 'already the candidate');
  assert.equal(nextCandidate(stored({ stable: 2, canary: 3, percent: 5, ...auto }, { discovered: [3, 4] })), null, "an operator's canary is left alone");
  assert.equal(nextCandidate(stored({ stable: 2, canary: 3, ...auto }, { discovered: [3, 4], candidate: 3 })), 4, 'a newer version replaces the candidate');
  assert.equal(nextCandidate(stored({ stable: 2, canary: 3, ...auto }, { discovered: [3, 4] }, true)), 4, 'a rolled-back canary gives way');
});

test('starting a candidate sets it as the canary in its shadow stage; its rollback rejects it, its promotion ends it', () => {
  const current = stored({ stable: 2, shadow: { version: 1, percent: 10 }, onNewVersion: { plan } }, { discovered: [1, 2, 3] });
  const started = startCandidate(current, 3, 'found');
  assert.equal(started.policy.canary, 3);
  assert.equal(started.policy.percent, 0);
  assert.equal(started.policy.shadow?.version, 3, 'the shadow stage copies to the candidate (an older shadow ends)');
  assert.equal(started.rollout?.step, 0);
  assert.equal(started.versions.candidate, 3);
  assert.ok(validatePolicy(started.policy, { model: 'm', versions: new Set([1, 2, 3]) }).ok, 'a whole valid policy');

  const running: StoredPolicy = { ...current, policy: started.policy as StoredPolicy['policy'], rollout: started.rollout, versions: started.versions };
  const failed = rollback(running, 'shadow stage failed: agreement 0.0%');
  assert.equal(failed.rolledBack, true);
  assert.equal(failed.versions.candidate, null);
  assert.deepEqual(failed.versions.rejected.map((r) => [r.version, r.note]), [[3, 'shadow stage failed: agreement 0.0%']]);
  assert.deepEqual(rollback(stored({ stable: 2, canary: 3 }), 'x').versions.rejected, [], "an operator's canary is not rejected by its rollback");

  const done = promote(running);
  assert.equal(done.policy.stable, 3);
  assert.equal(done.versions.candidate, null);
  assert.deepEqual(done.versions.rejected, []);
});

test('the rejected list keeps the newest MAX_REJECTED; clearing one is refused when it is not there', () => {
  const many = Array.from({ length: MAX_REJECTED }, (_, i) => ({ version: 100 + i, at: '', note: '' }));
  const running = stored({ stable: 2, canary: 3 }, { discovered: [3], candidate: 3, rejected: many });
  const rejected = rollback(running, 'bad').versions.rejected;
  assert.equal(rejected.length, MAX_REJECTED);
  assert.equal(rejected[0]?.version, 101, 'the oldest is forgotten');
  assert.equal(rejected.at(-1)?.version, 3);
  const cleared = clearRejected({ ...running, versions: { ...running.versions, rejected } }, 3);
  assert.equal(cleared.versions.rejected.length, MAX_REJECTED - 1);
  assert.match(cleared.note ?? '', /version 3 no longer rejected/);
  assert.throws(() => clearRejected(running, 3), (err: unknown) => err instanceof ChangeRefusedError && /version 3 of m is not rejected/.test(err.message));
});

test("onNewVersion's plan is checked as a plan's steps are", () => {
  const result = validatePolicy({ stable: 1, onNewVersion: { plan: { ...plan, steps: [50, 20] } } }, { model: 'm', versions: new Set([1]) });
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.issues.map((i) => i.path), ['/onNewVersion/plan/steps/1']);
});
