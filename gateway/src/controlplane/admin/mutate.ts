/**
 * The admin API's writes: the shared policy writer (see ../policy-writer.ts), its failures turned
 * into HTTP answers.
 */
import type { StoredPolicy } from '../../policy/stored.js';
import { ChangeRefusedError, ConflictError, InvalidPolicyError, UnknownModelError, writePolicy, type Change, type WriteOptions } from '../policy-writer.js';
import { StoreUnavailableError } from '../store/types.js';
import type { AdminContext } from './context.js';
import { AdminError, unknownModel } from './errors.js';

export type { Change };

export async function mutate(
  ctx: AdminContext,
  model: string,
  options: WriteOptions,
  change: (current: StoredPolicy) => Change | null,
): Promise<StoredPolicy> {
  try {
    return await writePolicy(ctx, model, options, change);
  } catch (err) {
    if (err instanceof UnknownModelError) throw unknownModel(model);
    if (err instanceof InvalidPolicyError) throw new AdminError(400, 'invalid policy', err.issues);
    if (err instanceof ChangeRefusedError) throw new AdminError(409, err.message, err.issues);
    if (err instanceof ConflictError) {
      const currentRevision = err.current?.revision;
      throw new AdminError(
        409,
        err.message,
        [{ path: '/headers/if-match', message: `current revision is ${currentRevision ?? 'unknown'}; reload and retry` }],
        currentRevision === undefined ? {} : { currentRevision },
      );
    }
    if (err instanceof StoreUnavailableError) {
      const outcome = err.maybeApplied
        ? 'the store did not answer in time, so this write may or may not have been applied: read the model again once the store is back before retrying'
        : 'nothing was written';
      throw new AdminError(503, `${err.message}; ${outcome}. Routing continues on the last policy in force.`);
    }
    throw err;
  }
}
