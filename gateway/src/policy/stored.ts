/**
 * A model's policy as the store keeps it: the routing document plus the control flags and who
 * changed it, under a revision that only grows. Shared by the store, the snapshot and the admin API.
 */
import type { PolicyDocument } from './schema.js';

export type ChangeReason = 'config' | 'manual' | 'rollback' | 'promotion';

export const CHANGE_REASONS: readonly ChangeReason[] = ['config', 'manual', 'rollback', 'promotion'];

export interface StoredPolicy {
  readonly model: string;
  /** 0 only for a policy taken from the configuration while the store was unreachable. */
  readonly revision: number;
  readonly policy: PolicyDocument;
  /** Automation (rollout steps) holds still while paused; routing is unchanged. */
  readonly paused: boolean;
  /**
   * Set by a rollback, cleared by the next operator change of the routing: while set, every
   * unpinned request goes to stable, whatever the rules say (pins still reach the canary).
   */
  readonly rolledBack: boolean;
  readonly updatedAt: string;
  /** Name of the admin token, `config`, or the controller that wrote it. */
  readonly updatedBy: string;
  readonly reason: ChangeReason;
}

