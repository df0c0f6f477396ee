/**
 * A model's policy as the store keeps it: the routing document plus the control flags and who
 * changed it, under a revision that only grows. Shared by the store, the snapshot and the admin API.
 */
import Type, { type Static } from 'typebox';
import type { PolicyDocument } from './schema.js';

export const ChangeReason = Type.Enum(['config', 'manual', 'rollback', 'promotion', 'rollout'], {
  description: 'config: from a configuration file; manual: an operator; rollback, promotion, rollout: an operator or the controller.',
});
export type ChangeReason = Static<typeof ChangeReason>;

export const CHANGE_REASONS: readonly ChangeReason[] = ChangeReason.enum;

/** Where a progressive rollout stands: the index of the plan's step in force, and since when. */
export const RolloutProgress = Type.Object({ step: Type.Integer({ minimum: 0 }), since: Type.String() });
export type RolloutProgress = Readonly<Static<typeof RolloutProgress>>;

/** Control flags stored with the policy; the stores keep and audit them as a whole. */
export interface ControlState {
  /** Automation (rollout steps) holds still while paused; routing is unchanged. */
  readonly paused: boolean;
  /**
   * Set by a rollback, cleared by the next operator change of the routing: while set, every
   * unpinned request goes to stable, whatever the rules say (pins still reach the canary).
   */
  readonly rolledBack: boolean;
  /** Set while the policy's plan is being rolled out; null otherwise. */
  readonly rollout: RolloutProgress | null;
}

/** The control flags of any object that carries them (a stored policy, a write, a seed). */
export function controlOf(value: ControlState): ControlState {
  return { paused: value.paused, rolledBack: value.rolledBack, rollout: value.rollout };
}

export interface StoredPolicy extends ControlState {
  readonly model: string;
  /** 0 only for a policy taken from the configuration while the store was unreachable. */
  readonly revision: number;
  readonly policy: PolicyDocument;
  readonly updatedAt: string;
  /** Name of the admin token, `config`, or the controller that wrote it. */
  readonly updatedBy: string;
  readonly reason: ChangeReason;
  /** Why, in words (an automatic rollback says which numbers breached). */
  readonly note: string;
  /**
   * A configuration file's policy, stored by a gateway that had not yet reached the store (a first
   * start, or a store that came back empty): no gateway has vouched for it as the cluster's state,
   * so any gateway that has (one holding a policy it read from the store) replaces it. Cleared by
   * the next write.
   */
  readonly provisional: boolean;
}

