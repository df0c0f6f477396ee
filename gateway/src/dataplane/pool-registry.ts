/**
 * The long-lived part of the data plane: one VersionPool per model version, holding Replicas
 * (each with its connection pool and breaker). Policies change often; these change only when
 * replicas come and go (configuration reload, DNS, the admin API), through `sync`, which keeps the
 * Replica objects of addresses that stay, so their connections, health and breakers carry over.
 */
import type { ModelSpec, ProxySettings, ResilienceSettings } from '../config/load.js';
import { VersionPool, type PoolObserver } from './pool.js';
import { Replica, type ReplicaOptions } from './replica.js';

/** One replica to have: its REST origin (an address, names resolved) and its gRPC port. */
export interface ReplicaAddress {
  readonly origin: string;
  readonly grpcPort: number;
}

export interface PoolChange {
  readonly pool: VersionPool;
  readonly added: readonly Replica[];
  readonly removed: readonly Replica[];
}

export class PoolRegistry {
  readonly #models = new Map<string, Map<number, VersionPool>>();
  readonly #resilience = new Map<string, ResilienceSettings>();
  readonly #options: ReplicaOptions;
  #observer: PoolObserver | undefined;

  /** Pools start empty: the replica manager fills them once it has resolved their addresses. */
  constructor(models: readonly ModelSpec[], settings: ProxySettings, connector?: ReplicaOptions['connector']) {
    this.#options = {
      connections: settings.connectionsPerReplica,
      keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
      connectTimeoutMs: settings.connectTimeoutMs,
      ...(connector === undefined ? {} : { connector }),
    };
    for (const model of models) {
      this.#resilience.set(model.name, model.resilience);
      this.#models.set(model.name, new Map());
      for (const spec of model.pools) this.ensurePool(model.name, spec.version);
    }
  }

  pools(model: string): ReadonlyMap<number, VersionPool> | undefined {
    return this.#models.get(model);
  }

  models(): IterableIterator<[string, ReadonlyMap<number, VersionPool>]> {
    return this.#models.entries();
  }

  *allPools(): IterableIterator<VersionPool> {
    for (const pools of this.#models.values()) yield* pools.values();
  }

  versions(model: string): ReadonlySet<number> {
    return new Set(this.#models.get(model)?.keys() ?? []);
  }

  /** The pool of a version, created empty if there is none yet. */
  ensurePool(model: string, version: number): VersionPool {
    const pools = this.#models.get(model);
    const resilience = this.#resilience.get(model);
    if (pools === undefined || resilience === undefined) throw new Error(`unknown model ${model}`);
    let pool = pools.get(version);
    if (pool === undefined) {
      pool = new VersionPool(model, version, [], resilience);
      pool.observer = this.#observer;
      pools.set(version, pool);
    }
    return pool;
  }

  /** Forgets an (emptied) pool. */
  removePool(model: string, version: number): void {
    this.#models.get(model)?.delete(version);
  }

  /**
   * Makes a pool's replicas exactly `wanted` (REST origin and gRPC port: a replica's identity): the
   * Replicas that stay are kept, new ones are created (no traffic before their first good health
   * check), the others leave the pool. With `retainRemoved` the others stay in it, still taking
   * traffic, until `retire`: a pool whose replicas are all replaced at once is not left with
   * nothing to route to while the new ones pass their first check.
   */
  sync(pool: VersionPool, wanted: readonly ReplicaAddress[], retainRemoved = false): PoolChange {
    const identity = (origin: string, grpcPort: number): string => `${origin} ${grpcPort}`;
    const current = new Map(pool.replicas.map((r) => [identity(r.origin, r.grpcPort), r]));
    const keys = new Set(wanted.map((w) => identity(w.origin, w.grpcPort)));
    const added: Replica[] = [];
    const next = wanted.map((w) => {
      const existing = current.get(identity(w.origin, w.grpcPort));
      if (existing !== undefined) return existing;
      const replica = new Replica(w.origin, w.grpcPort, this.#options, pool.resilience.breaker);
      added.push(replica);
      return replica;
    });
    const removed = pool.replicas.filter((r) => !keys.has(identity(r.origin, r.grpcPort)));
    if (added.length > 0 || removed.length > 0) pool.setReplicas(retainRemoved ? [...next, ...removed] : next);
    return { pool, added, removed };
  }

  /** Takes replicas that `sync` retained out of their pool. */
  retire(pool: VersionPool, replicas: readonly Replica[]): void {
    if (replicas.length === 0) return;
    const leaving = new Set(replicas);
    pool.setReplicas(pool.replicas.filter((r) => !leaving.has(r)));
  }

  observe(observer: PoolObserver): void {
    this.#observer = observer;
    for (const pool of this.allPools()) pool.observer = observer;
  }

  /** One second passed: stats windows and breaker windows move on (all at once; the stats clock moves them in slices). */
  tick(): void {
    for (const pool of this.allPools()) pool.tick();
  }

  /**
   * What one second's move consists of, item by item: each pool (its stats window), then each of
   * its replicas (its breaker window). The stats clock walks it a slice at a time.
   */
  *secondUnits(): IterableIterator<VersionPool | Replica> {
    for (const pool of this.allPools()) {
      yield pool;
      yield* pool.replicas;
    }
  }

  async close(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const pool of this.allPools()) for (const replica of pool.replicas) all.push(replica.close());
    await Promise.allSettled(all);
  }
}
