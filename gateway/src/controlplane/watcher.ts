/**
 * The only writer of the routing snapshot. It takes whole policies from the store, checks them
 * against the pools this gateway has, compiles a new snapshot and swaps it in. A policy it cannot
 * use (a version this instance has no pool for) is refused loudly and the previous one stays.
 */
import type { Logger } from 'pino';
import { validatePolicy } from '../policy/validate.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import { compileModel, type CompiledModel, type SnapshotHolder } from '../dataplane/snapshot.js';
import type { PolicyStore, StoredPolicy } from './store/types.js';

export class PolicyWatcher {
  readonly #store: PolicyStore;
  readonly #pools: PoolRegistry;
  readonly #holder: SnapshotHolder;
  readonly #labels: { stable: string; canary: string };
  readonly #log: Logger;
  #unsubscribe: (() => void) | undefined;

  constructor(store: PolicyStore, pools: PoolRegistry, holder: SnapshotHolder, labels: { stable: string; canary: string }, log: Logger) {
    this.#store = store;
    this.#pools = pools;
    this.#holder = holder;
    this.#labels = labels;
    this.#log = log;
  }

  /** Applies what the store holds now, then follows its changes. */
  start(initial: readonly StoredPolicy[]): void {
    this.#unsubscribe = this.#store.subscribe((change) => this.apply(change));
    for (const stored of initial) this.apply(stored);
  }

  stop(): void {
    this.#unsubscribe?.();
  }

  /** Returns false when the policy was refused (and the previous one kept). */
  apply(stored: StoredPolicy): boolean {
    const pools = this.#pools.pools(stored.model);
    if (pools === undefined) {
      this.#log.warn({ model: stored.model, revision: stored.revision }, 'ignoring a policy for a model this gateway does not serve');
      return false;
    }
    const current = this.#holder.current.models.get(stored.model);
    if (current !== undefined && current.revision >= stored.revision) return true;
    const check = validatePolicy(stored.policy, { model: stored.model, versions: this.#pools.versions(stored.model) });
    if (!check.ok) {
      this.#log.error({ model: stored.model, revision: stored.revision, issues: check.issues }, 'refusing a stored policy this gateway cannot route');
      return false;
    }
    const compiled: CompiledModel = compileModel({ name: stored.model, policy: check.policy, revision: stored.revision, pools }, this.#labels);
    const models = new Map(this.#holder.current.models);
    models.set(stored.model, compiled);
    this.#holder.swap({ models });
    this.#log.info(
      { model: stored.model, revision: stored.revision, stable: check.policy.stable, canary: check.policy.canary, percent: check.policy.percent, by: stored.updatedBy, reason: stored.reason },
      'policy in force',
    );
    return true;
  }
}
