/**
 * Builds the long-lived part of the data plane from the configuration: one Replica (with its
 * connection pool) per replica URL and one VersionPool per model version. Policies change often;
 * these change only with the replica lists.
 */
import type { ModelSpec, ProxySettings } from '../config/load.js';
import { VersionPool } from './pool.js';
import { Replica } from './replica.js';

export class PoolRegistry {
  readonly #models = new Map<string, ReadonlyMap<number, VersionPool>>();

  constructor(models: readonly ModelSpec[], settings: ProxySettings) {
    const options = {
      connections: settings.connectionsPerReplica,
      keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
      connectTimeoutMs: settings.connectTimeoutMs,
    };
    for (const model of models) {
      const pools = new Map<number, VersionPool>();
      for (const spec of model.pools) {
        pools.set(spec.version, new VersionPool(model.name, spec.version, spec.replicas.map((url) => new Replica(url, options))));
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

  versions(model: string): ReadonlySet<number> {
    return new Set(this.#models.get(model)?.keys() ?? []);
  }

  async close(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const pools of this.#models.values()) {
      for (const pool of pools.values()) for (const replica of pool.replicas) all.push(replica.close());
    }
    await Promise.allSettled(all);
  }
}
