/**
 * The state changes an operator or a controller can make to a model, as pure functions of the
 * stored state. Shared by the admin API and the rollout controller, so an automatic rollback is
 * exactly the rollback an operator would make.
 *
 * Rules of thumb: an operator's change of the routing ends a rolled-back state; setting the
 * percentage by hand ends a running rollout (the operator took over); a policy with a plan starts
 * its rollout at the first step; a rollback or a promotion ends the rollout.
 */
import { Shadow, type PolicyDocument, type PolicyInput, type RolloutPlan, type ShadowInput } from '../policy/schema.js';
import { fillDefaults } from '../schema-defaults.js';
import { controlOf, MAX_REJECTED, type RolloutProgress, type StoredPolicy, type VersionsState } from '../policy/stored.js';
import { ChangeRefusedError, type Change } from './policy-writer.js';

type Policy = PolicyInput | PolicyDocument;

function requireCanary(current: StoredPolicy, action: string): number {
  if (current.policy.canary === null) {
    throw new ChangeRefusedError(`${current.model} has no canary to ${action}`, [
      { path: '/canary', message: 'is null; set a canary version with PUT /api/models/{model}/policy first' },
    ]);
  }
  return current.policy.canary;
}

function started(plan: RolloutPlan | null | undefined): RolloutProgress | null {
  return plan === null || plan === undefined ? null : { step: 0, since: new Date().toISOString() };
}

function withNote(change: Omit<Change, 'note'>, note: string | undefined): Change {
  return note === undefined ? change : { ...change, note };
}

/**
 * The routing a plan starts with: its first step's percentage, or, with a shadow stage, no live
 * traffic for the canary and the canary as the shadow (the stage ends when the controller judges it).
 */
export function planStart<P extends Policy>(policy: P, plan: RolloutPlan): P {
  const gate = plan.shadow;
  if (gate === undefined) return { ...policy, percent: plan.steps[0] as number };
  const canary = policy.canary ?? null;
  if (canary === null) return policy;
  return { ...policy, percent: 0, shadow: { version: canary, percent: gate.percent ?? 100, ...(gate.tolerance === undefined ? {} : { tolerance: gate.tolerance }) } };
}

/** Whether a model stands in its plan's shadow stage: a rollout at its first step, the canary with no share. */
export function inShadowStage(policy: PolicyDocument, rollout: RolloutProgress | null): boolean {
  return policy.plan?.shadow !== undefined && rollout !== null && rollout.step === 0 && policy.percent === 0 && policy.canary !== null && policy.shadow?.version === policy.canary;
}

/** The shadow stage passed: the first step's share now, the shadow ends. */
export function shadowStagePassed(current: StoredPolicy, plan: RolloutPlan, note: string): Change {
  return {
    ...controlOf(current),
    policy: { ...current.policy, percent: plan.steps[0] as number, shadow: null },
    rolledBack: false,
    rollout: { step: 0, since: new Date().toISOString() },
    note,
  };
}

/** The shadow stage failed: a rollback, and the shadow ends. */
export function shadowStageFailed(current: StoredPolicy, note: string): Change {
  const change = rollback(current, note);
  return { ...change, policy: { ...change.policy, shadow: null } };
}

/** A whole new policy: a plan in it (re)starts the rollout at its first step (or its shadow stage). */
export function replacePolicy(current: StoredPolicy, policy: Policy, note?: string): Change {
  const rollout = started(policy.plan);
  const plan = policy.plan;
  return withNote({ ...controlOf(current), policy: plan === null || plan === undefined ? policy : planStart(policy, plan), rolledBack: false, rollout }, note);
}

export function setPercent(current: StoredPolicy, percent: number, note?: string): Change {
  requireCanary(current, 'send traffic to');
  return withNote({ ...controlOf(current), policy: { ...current.policy, percent }, rolledBack: false, rollout: null }, note);
}

export function setRules(current: StoredPolicy, rules: Partial<Pick<PolicyDocument, 'headerRules' | 'cookieRules' | 'sticky' | 'salt'>>, note?: string): Change {
  return withNote({ ...controlOf(current), policy: { ...current.policy, ...rules }, rolledBack: false }, note);
}

/** A plan starts at its first step now; null stops a rollout where it stands. */
export function setPlan(current: StoredPolicy, plan: RolloutPlan | null, note?: string): Change {
  if (plan !== null) requireCanary(current, 'roll out');
  const policy = { ...current.policy, plan };
  return withNote(
    {
      ...controlOf(current),
      policy: plan === null ? policy : planStart(policy, plan),
      rolledBack: false,
      rollout: started(plan),
    },
    note,
  );
}

/** A rollback of the candidate rejects it: `onNewVersion` does not try it again (see startCandidate). */
export function rollback(current: StoredPolicy, note: string): Change {
  const canary = requireCanary(current, 'roll back');
  const { versions } = current;
  const rejected =
    versions.candidate === canary ? { ...versions, candidate: null, rejected: [...versions.rejected, { version: canary, at: new Date().toISOString(), note }].slice(-MAX_REJECTED) } : versions;
  return { ...controlOf(current), policy: { ...current.policy, percent: 0 }, rolledBack: true, rollout: null, versions: rejected, note };
}

export function promote(current: StoredPolicy, note?: string): Change {
  const canary = requireCanary(current, 'promote');
  return {
    ...controlOf(current),
    // A shadow of the promoted version would now shadow stable itself: it ends with the promotion.
    policy: { ...current.policy, stable: canary, canary: null, percent: 0, plan: null, shadow: current.policy.shadow?.version === canary ? null : current.policy.shadow },
    rolledBack: false,
    rollout: null,
    versions: { ...current.versions, candidate: null },
    note: note ?? `promoted version ${canary}`,
  };
}

/** Sets or clears the shadow; routing and the rollout stand as they are. */
export function setShadow(current: StoredPolicy, shadow: ShadowInput | null, note?: string): Change {
  // Filled here so the change is a whole document; validation checks it whole before any write.
  const filled = shadow === null ? null : fillDefaults(Shadow, shadow);
  return withNote({ ...controlOf(current), policy: { ...current.policy, shadow: filled } }, note);
}

/** Null when already in that state (nothing to write). */
export function setPaused(current: StoredPolicy, paused: boolean, note?: string): Change | null {
  if (current.paused === paused) return null;
  return { ...controlOf(current), policy: current.policy, paused, note: note ?? (paused ? 'pause' : 'resume') };
}

/** The rollout's next step. */
export function stepUp(current: StoredPolicy, plan: RolloutPlan, step: number, note: string): Change {
  return {
    ...controlOf(current),
    policy: { ...current.policy, percent: plan.steps[step] as number },
    rolledBack: false,
    rollout: { step, since: new Date().toISOString() },
    note,
  };
}

/** The versions a policy sends requests or copies to: the ones discovery may not remove. */
export function routedVersions(policy: PolicyDocument): Set<number> {
  const out = new Set([policy.stable]);
  if (policy.canary !== null) out.add(policy.canary);
  if (policy.shadow !== null) out.add(policy.shadow.version);
  return out;
}

/**
 * Most versions a model may have discovered at once: each is a pool with its health checks, and
 * what a replica reports is not the gateway's to trust without bound. TF Serving keeps a handful
 * (`latest N`); past this, only the newest found versions join.
 */
export const MAX_DISCOVERED_VERSIONS = 32;

/**
 * Versions found on the replicas join the discovered list, gone ones leave it unless the policy
 * routes to them (they leave at a later poll, once it no longer does). Null when nothing changes.
 */
export function discoveryChange(current: StoredPolicy, found: readonly number[], gone: readonly number[], note: (added: number[], removed: number[]) => string): Change | null {
  const known = new Set(current.versions.discovered);
  const routed = routedVersions(current.policy);
  const removed = gone.filter((v) => known.has(v) && !routed.has(v));
  const room = Math.max(0, MAX_DISCOVERED_VERSIONS - (known.size - removed.length));
  const newcomers = found.filter((v) => !known.has(v)).sort((a, b) => a - b);
  const added = room === 0 ? [] : newcomers.slice(-room);
  if (added.length === 0 && removed.length === 0) return null;
  const leaving = new Set(removed);
  const discovered = [...current.versions.discovered.filter((v) => !leaving.has(v)), ...added].sort((a, b) => a - b);
  return { ...controlOf(current), policy: current.policy, versions: { ...current.versions, discovered }, note: note(added, removed) };
}

/**
 * The version `onNewVersion` should roll out now, or null: the newest discovered version, when it
 * is newer than stable, was not rejected, and nothing else is under test (an operator's canary is
 * left alone; an older candidate gives way to it, as does a rolled-back canary).
 */
export function nextCandidate(current: Pick<StoredPolicy, 'policy' | 'versions' | 'rolledBack' | 'paused'>): number | null {
  const { policy, versions } = current;
  if (policy.onNewVersion === null || current.paused) return null;
  const newest = versions.discovered.at(-1);
  if (newest === undefined || newest <= policy.stable) return null;
  if (versions.rejected.some((r) => r.version === newest)) return null;
  if (policy.canary === newest && !current.rolledBack) return null;
  if (policy.canary !== null && !current.rolledBack && versions.candidate !== policy.canary) return null;
  if (versions.candidate !== null && versions.candidate > newest) return null;
  return newest;
}

/** `version` becomes the candidate: the canary, rolled out by `onNewVersion`'s plan from its start. */
export function startCandidate(current: StoredPolicy, version: number, note: string): Change {
  const onNewVersion = current.policy.onNewVersion;
  if (onNewVersion === null) throw new ChangeRefusedError(`${current.model} has no onNewVersion`, [{ path: '/onNewVersion', message: 'is null' }]);
  const plan = onNewVersion.plan;
  // A shadow of another version would compete with the candidate's shadow stage for copies.
  const policy = planStart({ ...current.policy, canary: version, percent: 0, plan, shadow: null }, plan);
  const shadow = policy.shadow === null ? null : fillDefaults(Shadow, policy.shadow);
  return {
    ...controlOf(current),
    policy: { ...policy, shadow },
    rolledBack: false,
    rollout: { step: 0, since: new Date().toISOString() },
    versions: { ...current.versions, candidate: version },
    note,
  };
}

/** An operator clears a rejection: the version may be tried again. */
export function clearRejected(current: StoredPolicy, version: number, note?: string): Change {
  const rejected = current.versions.rejected.filter((r) => r.version !== version);
  if (rejected.length === current.versions.rejected.length) {
    const listed = current.versions.rejected.map((r) => r.version).join(', ') || 'none';
    throw new ChangeRefusedError(`version ${version} of ${current.model} is not rejected`, [{ path: '/version', message: `is not rejected (rejected: ${listed})` }]);
  }
  const versions: VersionsState = { ...current.versions, rejected };
  return { ...controlOf(current), policy: current.policy, versions, note: note ?? `version ${version} no longer rejected: it may be tried again` };
}
