/**
 * The only writer of the routing snapshot. It takes whole policies from the store (change
 * messages, periodic resyncs, this gateway's own writes), checks them against the pools this
 * gateway has, compiles a new snapshot and swaps it in. A policy it cannot route (a version this
 * instance has no pool for) is refused loudly and the previous one stays.
 *
 * Revisions in force never go down: a policy is taken only when its revision is higher than the
 * one in force (at an equal revision, a resync takes the store's document if it is another one:
 * two histories met after a data loss, and the store's is the one every gateway converges on). A
 * store that is behind (it lost data: restarted empty, flushed, restored from an old backup) does
 * not set this gateway back; the resync puts the policy in force back instead (the seed rule of
 * store/types.ts), so the highest revision any gateway saw wins and a configuration file's policy
 * only fills a gap.
 */
import type { Logger } from 'pino';
import { validatePolicy } from '../policy/validate.js';
import { controlOf, type StoredPolicy } from '../policy/stored.js';
import { routedVersions } from './changes.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import { compileModel, type CompiledModel, type SnapshotHolder } from '../dataplane/snapshot.js';
import type { GatewayEvents } from './events.js';
import { seededRevision, StoreUnavailableError, type PolicyStore, type SeedEntry } from './store/types.js';

export type ApplySource = 'message' | 'write' | 'resync';

/** Pools for a discovering model's versions (the replica manager's): made before a policy is checked, dropped after. */
export interface VersionPools {
  ensure(model: string, versions: ReadonlySet<number>): void;
  drop(model: string, keep: ReadonlySet<number>): void;
}

/** The versions a stored state needs pools for: the discovered ones and those its policy routes to. */
function neededVersions(stored: StoredPolicy): Set<number> {
  const out = new Set(stored.versions.discovered);
  for (const v of routedVersions(stored.policy)) out.add(v);
  return out;
}

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
  #versionPools: VersionPools | undefined;
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

  /** Discovering models' pools follow the stored versions through these (set before start). */
  useVersionPools(pools: VersionPools): void {
    this.#versionPools = pools;
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

  /**
   * Takes what is newer in the store, and puts back what the store lost or holds older than what is
   * in force here. Quiet while the store is down.
   */
  resync(): Promise<void> {
    this.#resyncing ??= (async () => {
      try {
        let stored = await this.#store.load(this.#models);
        // Put back first: taken before, the store's older state would not be adopted (revisions in
        // force never go down) but an equal revision of it could (another document, same number).
        const behind = this.#behind(stored);
        if (behind.size > 0) {
          this.#log.warn({ models: [...behind.keys()] }, 'the policy store lacks or is behind the policy in force here (it lost data): putting it back');
          const restored = await this.#store.seed(behind);
          stored = [...stored.filter((s) => !behind.has(s.model)), ...restored];
        }
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

  /** The seed entries the store would take over what it holds (see `seededRevision`). */
  #behind(stored: readonly StoredPolicy[]): Map<string, SeedEntry> {
    const byModel = new Map(stored.map((s) => [s.model, s]));
    const out = new Map<string, SeedEntry>();
    for (const [model, entry] of this.seed()) {
      if (seededRevision(byModel.get(model), entry) !== undefined) out.set(model, entry);
    }
    return out;
  }

  /** Whether `stored` (what the store holds for `model`, if anything) is behind what is in force here. */
  storeBehind(model: string, stored: StoredPolicy | undefined): boolean {
    const compiled = this.#holder.current.models.get(model);
    return compiled !== undefined && seededRevision(stored, seedEntry(compiled)) !== undefined;
  }

  /**
   * What this gateway asks the store to hold, for a start, a reconnection or a store found behind:
   * for a model never read from the store, the configuration's policy as a provisional seed; for
   * the others the policy in force, whole and under its revision (a restore), so a store that lost
   * its data gets the cluster's last state back, not a file's.
   */
  seed(): ReadonlyMap<string, SeedEntry> {
    return new Map([...this.#holder.current.models.values()].map((model) => [model.name, seedEntry(model)]));
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

  /** Returns false when the policy was refused (and the previous one kept) or was not newer (see the top). */
  apply(stored: StoredPolicy, source: ApplySource): boolean {
    const pools = this.#pools.pools(stored.model);
    if (pools === undefined) {
      this.#log.warn({ model: stored.model, revision: stored.revision }, 'ignoring a policy for a model this gateway does not serve');
      return false;
    }
    const current = this.#holder.current.models.get(stored.model);
    if (current !== undefined) {
      if (stored.revision < current.revision) return false;
      if (stored.revision === current.revision && (source !== 'resync' || sameDocument(current.stored, stored))) return false;
    }
    // Discovered versions get their pools first: the document that names them is checked against them.
    const needed = neededVersions(stored);
    this.#versionPools?.ensure(stored.model, needed);
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
    this.#versionPools?.drop(stored.model, needed);
    this.#events.emit('policy', accepted);
    this.#announceVersions(accepted, current?.stored);
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

  /** Versions discovery added or removed, announced and logged by every gateway that applies the change. */
  #announceVersions(stored: StoredPolicy, before: StoredPolicy | undefined): void {
    const was = new Set(before?.versions.discovered ?? []);
    const now = new Set(stored.versions.discovered);
    const added = [...now].filter((v) => !was.has(v));
    const removed = [...was].filter((v) => !now.has(v));
    // The first policy this gateway takes lists what was found before it started: not news.
    if (before === undefined || (added.length === 0 && removed.length === 0)) return;
    this.#log.info({ model: stored.model, revision: stored.revision, added, removed, by: stored.updatedBy, note: stored.note }, 'discovered versions changed');
    this.#events.emit('versions', { model: stored.model, revision: stored.revision, added, removed, by: stored.updatedBy, note: stored.note });
  }
}

/** Cheap: one write sets all of these; a restore keeps them. */
function sameDocument(a: StoredPolicy, b: StoredPolicy): boolean {
  return a.updatedAt === b.updatedAt && a.updatedBy === b.updatedBy && a.reason === b.reason && a.provisional === b.provisional;
}

function seedEntry(model: CompiledModel): SeedEntry {
  const { stored } = model;
  if (model.revision === 0) return { policy: model.policy, ...controlOf(stored), revision: 1, actor: 'config', provisional: true };
  return {
    policy: model.policy,
    ...controlOf(stored),
    revision: model.revision,
    actor: stored.updatedBy,
    provisional: stored.provisional,
    updatedAt: stored.updatedAt,
    reason: stored.reason,
    note: stored.note,
  };
}
