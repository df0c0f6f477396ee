/**
 * Every change of a model's stored state, by an operator or a controller, is a read-modify-write:
 * read it from the store (the authority, not this gateway's snapshot), compute the new state,
 * validate the whole policy, write it compare-and-set on the revision read. With `ifMatch` the
 * caller's revision must be the stored one; without it a lost race is retried on the fresh state.
 * The result is applied here at once; other gateways follow from the change message. A store found
 * behind what is in force here (it lost data) gets the policy in force back first.
 */
import type { PolicyDocument, PolicyInput } from '../policy/schema.js';
import type { ChangeReason, ControlState, StoredPolicy } from '../policy/stored.js';
import { validatePolicy } from '../policy/validate.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import type { SnapshotHolder } from '../dataplane/snapshot.js';
import type { Issue } from '../validation.js';
import { RevisionConflictError, StoreUnavailableError, type PolicyStore } from './store/types.js';
import type { PolicyWatcher } from './watcher.js';

export interface Change extends ControlState {
  /** Validated whole (schema and pools) before anything is written. */
  readonly policy: PolicyInput | PolicyDocument;
  readonly note?: string;
}

export interface WriteOptions {
  readonly actor: string;
  readonly reason: ChangeReason;
  /** Write only if the stored revision is this one. */
  readonly ifMatch: number | undefined;
}

export interface WriterContext {
  readonly store: PolicyStore;
  readonly watcher: PolicyWatcher;
  readonly snapshots: SnapshotHolder;
  readonly pools: PoolRegistry;
}

export class UnknownModelError extends Error {}
export class InvalidPolicyError extends Error {
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[]) {
    super('invalid policy');
    this.issues = issues;
  }
}
/** The stored revision is not the one the write was based on. */
export class ConflictError extends Error {
  readonly current: StoredPolicy | undefined;
  constructor(current: StoredPolicy | undefined, message = 'the policy changed since it was read') {
    super(message);
    this.current = current;
  }
}
/** A change function refuses the current state (e.g. "no canary to roll back"). */
export class ChangeRefusedError extends Error {
  readonly issues: readonly Issue[];
  constructor(message: string, issues: readonly Issue[]) {
    super(message);
    this.issues = issues;
  }
}

const ATTEMPTS = 5;

/**
 * `change` returns the new state, or null for "nothing to do" (the current state is returned).
 * Throws UnknownModelError, InvalidPolicyError, ChangeRefusedError, ConflictError or
 * StoreUnavailableError; nothing is written in any of those cases (but see maybeApplied).
 */
export async function writePolicy(
  ctx: WriterContext,
  model: string,
  options: WriteOptions,
  change: (current: StoredPolicy) => Change | null,
): Promise<StoredPolicy> {
  if (ctx.snapshots.current.models.get(model) === undefined) throw new UnknownModelError(`unknown model ${model}`);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = (await ctx.store.load([model]))[0];
    if (ctx.watcher.storeBehind(model, current)) {
      // The store lost data since this gateway read it: written on as it is, the change would
      // start from an older state (or a file's), and If-Match would compare with the wrong revision.
      await ctx.watcher.resync();
      continue;
    }
    if (current === undefined) throw new StoreUnavailableError(`the store has no policy for ${model} yet`);
    if (options.ifMatch !== undefined && current.revision !== options.ifMatch) throw new ConflictError(current);
    const next = change(current);
    if (next === null) return current;
    // A candidate an operator replaced (another canary, or none) is no longer rolled out automatically.
    const versions = next.versions.candidate !== null && next.policy.canary !== next.versions.candidate ? { ...next.versions, candidate: null } : next.versions;
    const check = validatePolicy(next.policy, { model, versions: ctx.pools.versions(model) });
    if (!check.ok) throw new InvalidPolicyError(check.issues);
    try {
      const stored = await ctx.store.put({
        model,
        policy: check.policy,
        paused: next.paused,
        rolledBack: next.rolledBack,
        rollout: next.rollout,
        versions,
        expectedRevision: current.revision,
        actor: options.actor,
        reason: options.reason,
        note: next.note ?? '',
      });
      ctx.watcher.apply(stored, 'write');
      return stored;
    } catch (err) {
      if (!(err instanceof RevisionConflictError)) throw err;
      if (options.ifMatch !== undefined) throw new ConflictError(err.current);
    }
  }
  throw new ConflictError(undefined, `the policy of ${model} kept changing under this write`);
}
