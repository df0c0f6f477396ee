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
import type { RolloutProgress, StoredPolicy } from '../policy/stored.js';
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
    policy: { ...current.policy, percent: plan.steps[0] as number, shadow: null },
    paused: current.paused,
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
  return withNote({ policy: plan === null || plan === undefined ? policy : planStart(policy, plan), paused: current.paused, rolledBack: false, rollout }, note);
}

export function setPercent(current: StoredPolicy, percent: number, note?: string): Change {
  requireCanary(current, 'send traffic to');
  return withNote({ policy: { ...current.policy, percent }, paused: current.paused, rolledBack: false, rollout: null }, note);
}

export function setRules(current: StoredPolicy, rules: Partial<Pick<PolicyDocument, 'headerRules' | 'cookieRules' | 'sticky' | 'salt'>>, note?: string): Change {
  return withNote({ policy: { ...current.policy, ...rules }, paused: current.paused, rolledBack: false, rollout: current.rollout }, note);
}

/** A plan starts at its first step now; null stops a rollout where it stands. */
export function setPlan(current: StoredPolicy, plan: RolloutPlan | null, note?: string): Change {
  if (plan !== null) requireCanary(current, 'roll out');
  const policy = { ...current.policy, plan };
  return withNote(
    {
      policy: plan === null ? policy : planStart(policy, plan),
      paused: current.paused,
      rolledBack: false,
      rollout: started(plan),
    },
    note,
  );
}

export function rollback(current: StoredPolicy, note: string): Change {
  requireCanary(current, 'roll back');
  return { policy: { ...current.policy, percent: 0 }, paused: current.paused, rolledBack: true, rollout: null, note };
}

export function promote(current: StoredPolicy, note?: string): Change {
  const canary = requireCanary(current, 'promote');
  return {
    // A shadow of the promoted version would now shadow stable itself: it ends with the promotion.
    policy: { ...current.policy, stable: canary, canary: null, percent: 0, plan: null, shadow: current.policy.shadow?.version === canary ? null : current.policy.shadow },
    paused: current.paused,
    rolledBack: false,
    rollout: null,
    note: note ?? `promoted version ${canary}`,
  };
}

/** Sets or clears the shadow; routing and the rollout stand as they are. */
export function setShadow(current: StoredPolicy, shadow: ShadowInput | null, note?: string): Change {
  // Filled here so the change is a whole document; validation checks it whole before any write.
  const filled = shadow === null ? null : fillDefaults(Shadow, shadow);
  return withNote({ policy: { ...current.policy, shadow: filled }, paused: current.paused, rolledBack: current.rolledBack, rollout: current.rollout }, note);
}

/** Null when already in that state (nothing to write). */
export function setPaused(current: StoredPolicy, paused: boolean, note?: string): Change | null {
  if (current.paused === paused) return null;
  return { policy: current.policy, paused, rolledBack: current.rolledBack, rollout: current.rollout, note: note ?? (paused ? 'pause' : 'resume') };
}

/** The rollout's next step. */
export function stepUp(current: StoredPolicy, plan: RolloutPlan, step: number, note: string): Change {
  return {
    policy: { ...current.policy, percent: plan.steps[step] as number },
    paused: current.paused,
    rolledBack: false,
    rollout: { step, since: new Date().toISOString() },
    note,
  };
}
