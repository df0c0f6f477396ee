/**
 * Builds the long-lived part of the data plane from the configuration: one Replica (with its
 * connection pool and breaker) per replica URL and one VersionPool per model version. Policies
 * change often; these change only with the replica lists.
 */
import { EventEmitter } from 'node:events';
import type { ModelSpec, ProxySettings } from '../config/load.js';
import { VersionPool, type PoolObserver } from './pool.js';
import { Replica } from './replica.js';

export class PoolRegistry {
  readonly #models = new Map<string, ReadonlyMap<number, VersionPool>>();
  /** Rotates every breaker's statistics bucket; the gateway's one-second clock emits `rotate`. */
  readonly rotate = new EventEmitter();

  constructor(models: readonly ModelSpec[], settings: ProxySettings) {
    this.rotate.setMaxListeners(0);
    const options = {
      connections: settings.connectionsPerReplica,
      keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
      connectTimeoutMs: settings.connectTimeoutMs,
    };
    for (const model of models) {
      const pools = new Map<number, VersionPool>();
      for (const spec of model.pools) {
        const replicas = spec.replicas.map((url) => new Replica(url, options, model.resilience.breaker, this.rotate));
        pools.set(spec.version, new VersionPool(model.name, spec.version, replicas, model.resilience));
      }
      this.#models.set(model.name, pools);
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

  observe(observer: PoolObserver): void {
    for (const pool of this.allPools()) pool.observer = observer;
  }

  /** One second passed: stats windows and breaker buckets move on. */
  tick(): void {
    for (const pool of this.allPools()) pool.stats.tick();
    this.rotate.emit('rotate');
  }

  async close(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const pool of this.allPools()) for (const replica of pool.replicas) all.push(replica.close());
    await Promise.allSettled(all);
  }
}
