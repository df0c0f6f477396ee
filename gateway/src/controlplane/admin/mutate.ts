/**
 * Every admin write is a read-modify-write of one model's stored state: read it from the store
 * (the authority, not this gateway's snapshot), compute the new state, validate the whole policy,
 * write it compare-and-set on the revision read. With If-Match the client's revision must be the
 * stored one (409 otherwise); without it a lost race is retried a few times. The result is applied
 * here at once, so the answer shows it in force; other gateways follow from the change message.
 */
import type { PolicyDocument, PolicyInput } from '../../policy/schema.js';
import type { StoredPolicy, ChangeReason } from '../../policy/stored.js';
import { validatePolicy } from '../../policy/validate.js';
import { RevisionConflictError, StoreUnavailableError } from '../store/types.js';
import type { AdminContext } from './context.js';
import { AdminError, unknownModel } from './errors.js';

export interface Change {
  /** Validated whole (schema and pools) before anything is written. */
  readonly policy: PolicyInput | PolicyDocument;
  readonly paused: boolean;
  readonly rolledBack: boolean;
  readonly note?: string;
}

export interface MutationOptions {
  readonly actor: string;
  readonly reason: ChangeReason;
  readonly ifMatch: number | undefined;
}

const ATTEMPTS = 5;

export async function mutate(
  ctx: AdminContext,
  model: string,
  options: MutationOptions,
  change: (current: StoredPolicy) => Change | null,
): Promise<StoredPolicy> {
  if (ctx.snapshots.current.models.get(model) === undefined) throw unknownModel(model);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await storeCall(() => ctx.store.load([model])).then((list) => list[0]);
    if (current === undefined) throw new AdminError(503, `the policy store has no policy for ${model} yet; retry shortly`);
    if (options.ifMatch !== undefined && current.revision !== options.ifMatch) throw conflict(current);
    const next = change(current);
    if (next === null) return current;
    const check = validatePolicy(next.policy, { model, versions: ctx.pools.versions(model) });
    if (!check.ok) throw new AdminError(400, 'invalid policy', check.issues);
    try {
      const stored = await storeCall(() =>
        ctx.store.put({
          model,
          policy: check.policy,
          paused: next.paused,
          rolledBack: next.rolledBack,
          expectedRevision: current.revision,
          actor: options.actor,
          reason: options.reason,
          note: next.note ?? '',
        }),
      );
      ctx.watcher.apply(stored, 'write');
      return stored;
    } catch (err) {
      if (!(err instanceof RevisionConflictError)) throw err;
      if (options.ifMatch !== undefined) throw conflict(err.current);
    }
  }
  throw new AdminError(409, `the policy of ${model} kept changing under this write; retry`);
}

function conflict(current: StoredPolicy | undefined): AdminError {
  return new AdminError(409, 'the policy changed since you read it', [
    { path: '/headers/if-match', message: `current revision is ${current?.revision ?? 0}; reload and retry` },
  ]);
}

/** A store outage is the client's 503: nothing was written. */
async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof StoreUnavailableError) {
      const outcome = err.maybeApplied
        ? 'the store did not answer in time, so this write may or may not have been applied: read the model again once the store is back before retrying'
        : 'nothing was written';
      throw new AdminError(503, `${err.message}; ${outcome}. Routing continues on the last policy in force.`);
    }
    throw err;
  }
}
