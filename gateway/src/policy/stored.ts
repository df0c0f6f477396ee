/**
 * A model's policy as the store keeps it: the routing document plus the control flags and who
 * changed it, under a revision that only grows. Shared by the store, the snapshot and the admin API.
 */
import Type, { type Static } from 'typebox';
import type { PolicyDocument } from './schema.js';

export const ChangeReason = Type.Enum(['config', 'manual', 'rollback', 'promotion', 'rollout', 'discovery'], {
  description:
    'config: from a configuration file; manual: an operator; rollback, promotion, rollout: an operator or the controller; discovery: versions found on or gone from the replicas.',
});
export type ChangeReason = Static<typeof ChangeReason>;

export const CHANGE_REASONS: readonly ChangeReason[] = ChangeReason.enum;

/** Where a progressive rollout stands: the index of the plan's step in force, and since when. */
export const RolloutProgress = Type.Object({ step: Type.Integer({ minimum: 0 }), since: Type.String() });
export type RolloutProgress = Readonly<Static<typeof RolloutProgress>>;

/** Rejected candidates a model keeps (the oldest is forgotten first). */
export const MAX_REJECTED = 20;

export const RejectedVersion = Type.Object(
  {
    version: Type.Integer({ minimum: 0 }),
    at: Type.String({ description: 'When it was rejected.' }),
    note: Type.String({ description: 'Why: the rollback that ended its rollout, with its numbers.' }),
  },
  { additionalProperties: false },
);
export type RejectedVersion = Readonly<Static<typeof RejectedVersion>>;

/**
 * The versions of a model as the cluster knows them: found on its replicas (discovery), the one
 * `onNewVersion` is rolling out, and the ones that failed. Stored with the policy, so one write
 * changes them for every gateway, and every change is audited.
 */
export const VersionsState = Type.Object(
  {
    discovered: Type.Array(Type.Integer({ minimum: 0 }), {
      description: "Versions found AVAILABLE on the model's replicas (`discover`), ascending; empty for a model without discovery.",
    }),
    candidate: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'The discovered version `onNewVersion` is rolling out (the canary), or null.',
    }),
    rejected: Type.Array(RejectedVersion, {
      maxItems: MAX_REJECTED,
      description: 'Candidates whose rollout failed, oldest first: not tried again until an operator clears them or a newer version appears.',
    }),
  },
  { additionalProperties: false },
);
export interface VersionsState {
  readonly discovered: readonly number[];
  readonly candidate: number | null;
  readonly rejected: readonly RejectedVersion[];
}

export const NO_VERSIONS: VersionsState = Object.freeze({ discovered: Object.freeze([]), candidate: null, rejected: Object.freeze([]) });

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
  readonly versions: VersionsState;
}

/** The control flags of any object that carries them (a stored policy, a write, a seed). */
export function controlOf(value: ControlState): ControlState {
  return { paused: value.paused, rolledBack: value.rolledBack, rollout: value.rollout, versions: value.versions };
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

