/**
 * The only writer of the routing snapshot. It takes whole policies from the store (change
 * messages, periodic resyncs, this gateway's own writes), checks them against the pools this
 * gateway has, compiles a new snapshot and swaps it in. A policy it cannot route (a version this
 * instance has no pool for) is refused loudly and the previous one stays.
 *
 * Change messages are applied only when newer than what is in force (they may race with a write's
 * own result); a resync applies whatever differs, because the store is the authority (it may have
 * been reset, or a message lost during a partition).
 */
import type { Logger } from 'pino';
import { validatePolicy } from '../policy/validate.js';
import { controlOf, type StoredPolicy } from '../policy/stored.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import { compileModel, type CompiledModel, type SnapshotHolder } from '../dataplane/snapshot.js';
import type { GatewayEvents } from './events.js';
import { StoreUnavailableError, type PolicyStore, type SeedEntry } from './store/types.js';

export type ApplySource = 'message' | 'write' | 'resync';

export class PolicyWatcher {
  readonly #store: PolicyStore;
  readonly #pools: PoolRegistry;
  readonly #holder: SnapshotHolder;
  readonly #labels: { stable: string; canary: string };
  readonly #events: GatewayEvents;
  readonly #log: Logger;
  readonly #models: readonly string[];
  #timer: NodeJS.Timeout | undefined;
  #resyncing: Promise<void> | undefined;
  #synced = false;
  readonly #onChange = (stored: StoredPolicy): void => void this.apply(stored, 'message');
  readonly #onAvailable = (): void => void this.resync();

  constructor(options: {
    store: PolicyStore;
    pools: PoolRegistry;
    holder: SnapshotHolder;
    labels: { stable: string; canary: string };
    events: GatewayEvents;
    log: Logger;
  }) {
    this.#store = options.store;
    this.#pools = options.pools;
    this.#holder = options.holder;
    this.#labels = options.labels;
    this.#events = options.events;
    this.#log = options.log;
    this.#models = [...options.pools.models()].map(([name]) => name);
  }

  /**
   * Whether this gateway has taken the store's policies at least once: false while it runs on its
   * configuration's policies because the store was unreachable at start (readiness says so).
   */
  get synced(): boolean {
    return this.#synced;
  }

  /** Applies `initial`, then follows the store: change events, reconnections and a periodic resync. */
  start(initial: readonly StoredPolicy[], resyncIntervalMs: number, fromStore: boolean): void {
    for (const stored of initial) this.apply(stored, 'resync');
    this.#synced = fromStore;
    this.#store.on('change', this.#onChange);
    this.#store.on('available', this.#onAvailable);
    this.#timer = setInterval(() => void this.resync(), resyncIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#store.off('change', this.#onChange);
    this.#store.off('available', this.#onAvailable);
  }

  /** Compares every model with the store and takes what differs. Quiet while the store is down. */
  resync(): Promise<void> {
    this.#resyncing ??= (async () => {
      try {
        const stored = await this.#store.load(this.#models);
        for (const s of stored) this.apply(s, 'resync');
        this.#synced = true;
      } catch (err) {
        if (err instanceof StoreUnavailableError) this.#log.debug({ err: err.message }, 'resync skipped: store unavailable');
        else this.#log.error({ err }, 'resync failed');
      } finally {
        this.#resyncing = undefined;
      }
    })();
    return this.#resyncing;
  }

  /**
   * What to store for models the store has no policy for: the policy in force here (so a store that
   * lost its data gets the cluster's last state back, not the configuration's first one).
   */
  seed(): ReadonlyMap<string, SeedEntry> {
    const out = new Map<string, SeedEntry>();
    for (const model of this.#holder.current.models.values()) {
      out.set(model.name, {
        policy: model.policy,
        ...controlOf(model.stored),
        revision: Math.max(1, model.revision),
        actor: model.revision === 0 ? 'config' : model.stored.updatedBy,
      });
    }
    return out;
  }

  /** The compiled model in force, if any. */
  compiled(model: string): CompiledModel | undefined {
    return this.#holder.current.models.get(model);
  }

  /** Compiles every model again with the pools as they are now (a pool was added or removed). */
  recompile(): void {
    const models = new Map(this.#holder.current.models);
    for (const [name, model] of models) {
      const pools = this.#pools.pools(name);
      if (pools !== undefined) models.set(name, compileModel(model.stored, pools, this.#labels));
    }
    this.#holder.swap({ models });
  }

  /** Returns false when the policy was refused (and the previous one kept) or was not newer. */
  apply(stored: StoredPolicy, source: ApplySource): boolean {
    const pools = this.#pools.pools(stored.model);
    if (pools === undefined) {
      this.#log.warn({ model: stored.model, revision: stored.revision }, 'ignoring a policy for a model this gateway does not serve');
      return false;
    }
    const current = this.#holder.current.models.get(stored.model);
    if (current !== undefined) {
      if (current.revision === stored.revision) return false;
      if (source !== 'resync' && current.revision > stored.revision) return false;
    }
    const check = validatePolicy(stored.policy, { model: stored.model, versions: this.#pools.versions(stored.model) });
    if (!check.ok) {
      this.#log.error({ model: stored.model, revision: stored.revision, issues: check.issues }, 'refusing a stored policy this gateway cannot route');
      return false;
    }
    const accepted: StoredPolicy = { ...stored, policy: check.policy };
    const models = new Map(this.#holder.current.models);
    models.set(stored.model, compileModel(accepted, pools, this.#labels));
    this.#holder.swap({ models });
    const p = accepted.policy;
    this.#log.info(
      { model: stored.model, revision: stored.revision, stable: p.stable, canary: p.canary, percent: p.percent, rolledBack: stored.rolledBack, paused: stored.paused, by: stored.updatedBy, reason: stored.reason, source },
      'policy in force',
    );
    this.#events.emit('policy', accepted);
    if (accepted.reason === 'rollback' && accepted.rolledBack && current?.stored.rolledBack !== true) {
      // Every gateway announces the rollback it now routes by, whoever wrote it.
      this.#events.emit('rollback', {
        model: accepted.model,
        revision: accepted.revision,
        version: accepted.policy.canary,
        by: accepted.updatedBy,
        note: accepted.note,
      });
    }
    return true;
  }
}
