/**
 * Which replicas each version pool has, and keeping it so while they come and go: from the
 * configuration (at start and on reload), from the admin API, and from DNS. A replica URL that
 * names a host (http only: https keeps its name for TLS) expands into one replica per address the
 * name resolves to, and is resolved again every `dns.refreshMs` (a Kubernetes headless Service:
 * pods come and go). New replicas take traffic only after their first good health check; replicas
 * that leave take no new request, and are closed once their requests in flight are done.
 *
 * A model with `discover` has a pool for each version its replicas serve: the versions the store
 * lists as discovered (or the policy names) get pools of the discover replicas (ensureVersions,
 * called by the watcher before it checks a policy), and lose them once neither lists them
 * (dropVersions). The discover replicas themselves, resolved, are what discovery polls.
 *
 * A pool with a `subsetSize` is given only this gateway's subset of its replicas (subset.ts): the
 * others get no Replica here, so no connection and no health check. The subset is chosen again
 * whenever the replicas change and whenever one of its members goes down or comes back.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_GRPC_PORT, DEFAULT_SUBSET_SIZE, type DiscoverSpec, type DnsSettings, type HealthCheckSettings, type ModelSpec, type ReplicaSpec } from '../config/load.js';
import type { PoolRegistry, ReplicaAddress } from '../dataplane/pool-registry.js';
import type { VersionPool } from '../dataplane/pool.js';
import type { Replica } from '../dataplane/replica.js';
import type { HealthChange, HealthChecker } from './health.js';
import { chooseSubset, rankReplicas } from './subset.js';
import type { PolicyWatcher } from './watcher.js';

export interface ReplicaManagerOptions {
  readonly pools: PoolRegistry;
  readonly health: HealthChecker;
  readonly watcher: PolicyWatcher;
  readonly dns: DnsSettings;
  /** Longest wait for a leaving replica's requests before its connections are cut. */
  readonly drainTimeoutMs: number;
  /** This gateway's name in subsetting (its rendezvous hashing key). */
  readonly instanceId: string;
  readonly log: Logger;
}

interface Desired {
  readonly model: string;
  readonly version: number;
  replicas: readonly ReplicaSpec[];
  /** The gRPC port of replicas the admin API names by URL alone. */
  grpcPort: number;
  healthCheck: HealthCheckSettings;
  /** Replicas this gateway uses; 0: all. */
  subsetSize: number;
  /** Every replica of the pool as last resolved (the subset is chosen from them). */
  addresses: readonly ReplicaAddress[] | undefined;
}

/** A discovering model: its discover replicas, as configured and as last resolved. */
interface Discovering {
  spec: DiscoverSpec;
  healthCheck: HealthCheckSettings;
  addresses: readonly ReplicaAddress[];
}

/** A change the manager refuses, with why (the rest of the change still applies). */
export class ReplicaChangeError extends Error {}

export class ReplicaManager {
  readonly #options: ReplicaManagerOptions;
  readonly #desired = new Map<string, Desired>();
  /** Last good resolution of each name, kept when a later one fails. */
  readonly #resolved = new Map<string, readonly string[]>();
  readonly #resolver: dns.Resolver | undefined;
  readonly #draining = new Set<Replica>();
  /** The sync under way per pool: a DNS refresh and an admin change to one pool run one after the other. */
  readonly #syncing = new Map<string, Promise<VersionPool>>();
  readonly #discovering = new Map<string, Discovering>();
  /** Pools discovery made (model, version keys): the ones dropVersions may remove. */
  readonly #discovered = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ReplicaManagerOptions) {
    this.#options = options;
    if (options.dns.servers.length > 0) {
      this.#resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
      this.#resolver.setServers([...options.dns.servers]);
    }
    options.health.on('change', (change) => this.#onHealth(change));
  }

  /** Applies the pools of a configuration (start or reload); returns what it refused. */
  async apply(models: readonly ModelSpec[]): Promise<string[]> {
    const refused: string[] = [];
    for (const model of models) {
      if (this.#options.pools.pools(model.name) === undefined) {
        refused.push(`model ${model.name} is new: adding a model needs a restart`);
        continue;
      }
      const versions = new Set(model.pools.map((p) => p.version));
      for (const spec of model.pools) {
        this.#discovered.delete(key(model.name, spec.version));
        await this.#set(model.name, spec.version, spec.replicas, spec.grpcPort, model.healthCheck, spec.subsetSize);
      }
      if (model.discover !== null) await this.#setDiscovery(model.name, model.discover, model.healthCheck);
      else if (this.#discovering.delete(model.name)) refused.push(`model ${model.name} no longer discovers: its discovered pools stay until a restart`);
      for (const version of this.#options.pools.versions(model.name)) {
        if (versions.has(version) || this.#discovered.has(key(model.name, version))) continue;
        try {
          await this.removeVersion(model.name, version);
        } catch (err) {
          refused.push((err as Error).message);
        }
      }
    }
    return refused;
  }

  /**
   * The admin API's change: one pool's replica URLs, the pool created if the version is new. A URL
   * the pool had keeps its gRPC port; a new one gets the pool's (its configuration's grpcPort).
   */
  async setReplicas(model: string, version: number, urls: readonly string[], healthCheck: HealthCheckSettings): Promise<VersionPool> {
    const pool = this.#options.pools.pools(model)?.get(version);
    if (urls.length === 0 && pool !== undefined && this.#inUse(model, version)) {
      throw new ReplicaChangeError(`version ${version} of ${model} is in use by the policy: it cannot be left without replicas`);
    }
    const existing = this.#desired.get(key(model, version));
    const grpcPort = existing?.grpcPort ?? DEFAULT_GRPC_PORT;
    const known = new Map(existing?.replicas.map((r) => [r.url, r.grpcPort]));
    const subsetSize = existing?.subsetSize ?? DEFAULT_SUBSET_SIZE;
    return this.#set(model, version, urls.map((url) => ({ url, grpcPort: known.get(url) ?? grpcPort })), grpcPort, healthCheck, subsetSize);
  }

  /** The discover replicas this gateway polls: all of them, or its subset (by its ranking alone). */
  discoveryTargets(model: string): readonly ReplicaAddress[] {
    const d = this.#discovering.get(model);
    if (d === undefined) return [];
    if (d.spec.subsetSize === 0 || d.spec.subsetSize >= d.addresses.length) return d.addresses;
    return rankReplicas(this.#options.instanceId, d.addresses, (a) => identity(a.origin, a.grpcPort)).slice(0, d.spec.subsetSize);
  }

  /**
   * Gives each of `versions` a pool at once (empty: its replicas, the discover replicas, join in the
   * background and take traffic after their first good check), so a policy naming them compiles.
   */
  ensureVersions(model: string, versions: Iterable<number>): void {
    const d = this.#discovering.get(model);
    const pools = this.#options.pools.pools(model);
    if (d === undefined || pools === undefined) return;
    for (const version of versions) {
      if (pools.has(version)) continue;
      this.#options.pools.ensurePool(model, version);
      this.#discovered.add(key(model, version));
      this.#options.log.info({ model, version }, 'pool of a discovered version created');
      this.#set(model, version, d.spec.replicas, d.spec.grpcPort, d.healthCheck, d.spec.subsetSize).catch((err: unknown) =>
        this.#options.log.error({ err, model, version }, 'cannot fill the pool of a discovered version'),
      );
    }
  }

  /** Removes the pools discovery made for versions not in `keep` (the policy in force routes to none of them). */
  dropVersions(model: string, keep: ReadonlySet<number>): void {
    for (const version of this.#options.pools.versions(model)) {
      const k = key(model, version);
      if (keep.has(version) || !this.#discovered.has(k)) continue;
      if (this.#inUse(model, version)) {
        this.#options.log.warn({ model, version }, 'discovered version gone but still routed: its pool stays');
        continue;
      }
      this.#discovered.delete(k);
      this.removeVersion(model, version).catch((err: unknown) => this.#options.log.error({ err, model, version }, 'cannot remove the pool of a gone version'));
    }
  }

  async #setDiscovery(model: string, spec: DiscoverSpec, healthCheck: HealthCheckSettings): Promise<void> {
    const d: Discovering = { spec, healthCheck, addresses: await this.#addresses(spec.replicas) };
    this.#discovering.set(model, d);
    for (const k of this.#discovered) {
      const desired = this.#desired.get(k);
      if (desired === undefined || desired.model !== model) continue;
      await this.#set(model, desired.version, spec.replicas, spec.grpcPort, healthCheck, spec.subsetSize);
    }
  }

  /** Drops a version's pool, unless the policy in force routes to it. */
  async removeVersion(model: string, version: number): Promise<void> {
    if (this.#inUse(model, version)) {
      throw new ReplicaChangeError(`version ${version} of ${model} is in use by the policy: change the policy before removing its pool`);
    }
    const pool = this.#options.pools.pools(model)?.get(version);
    if (pool === undefined) return;
    this.#desired.delete(key(model, version));
    this.#leave(this.#options.pools.sync(pool, []).removed);
    this.#options.pools.removePool(model, version);
    this.#options.watcher.recompile();
    this.#options.log.info({ model, version }, 'pool removed');
  }

  /** Re-resolves DNS names every `dns.refreshMs`. */
  start(): void {
    this.#timer = setInterval(() => void this.refresh(), this.#options.dns.refreshMs);
    this.#timer.unref();
  }

  async refresh(): Promise<void> {
    for (const d of this.#discovering.values()) {
      if (this.#stopped) return;
      if (d.spec.replicas.some((r) => expands(r.url))) d.addresses = await this.#addresses(d.spec.replicas);
    }
    for (const desired of this.#desired.values()) {
      if (this.#stopped) return;
      if (desired.replicas.some((r) => expands(r.url))) await this.#sync(desired);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #inUse(model: string, version: number): boolean {
    const compiled = this.#options.watcher.compiled(model);
    return compiled !== undefined && (compiled.stable.version === version || compiled.canary?.version === version);
  }

  async #set(
    model: string,
    version: number,
    replicas: readonly ReplicaSpec[],
    grpcPort: number,
    healthCheck: HealthCheckSettings,
    subsetSize: number,
  ): Promise<VersionPool> {
    const k = key(model, version);
    const existing = this.#desired.get(k);
    const desired: Desired = existing ?? { model, version, replicas, grpcPort, healthCheck, subsetSize, addresses: undefined };
    desired.replicas = replicas;
    desired.grpcPort = grpcPort;
    desired.healthCheck = healthCheck;
    desired.subsetSize = subsetSize;
    this.#desired.set(k, desired);
    return this.#sync(desired);
  }

  /** A subset member went down or came back: the subset is chosen again (no new DNS lookup). */
  #onHealth(change: HealthChange): void {
    if (this.#stopped || (change.to !== 'down' && change.from !== 'down')) return;
    const desired = this.#desired.get(key(change.model, change.version));
    if (desired === undefined || desired.subsetSize === 0 || desired.addresses === undefined) return;
    this.#sync(desired, false).catch((err: unknown) => this.#options.log.error({ err, model: change.model, version: change.version }, 'subset change failed'));
  }

  #sync(desired: Desired, resolve = true): Promise<VersionPool> {
    const k = key(desired.model, desired.version);
    const previous = this.#syncing.get(k);
    const run = (): Promise<VersionPool> => this.#syncNow(desired, resolve);
    const next = previous === undefined ? run() : previous.then(run, run);
    this.#syncing.set(k, next);
    const forget = (): void => {
      if (this.#syncing.get(k) === next) this.#syncing.delete(k);
    };
    next.then(forget, forget);
    return next;
  }

  async #syncNow(desired: Desired, resolve: boolean): Promise<VersionPool> {
    if (resolve || desired.addresses === undefined) desired.addresses = await this.#addresses(desired.replicas);
    const known = this.#options.pools.pools(desired.model)?.has(desired.version) === true;
    const pool = this.#options.pools.ensurePool(desired.model, desired.version);
    if (!known) this.#options.watcher.recompile();
    const wanted = desired.subsetSize > 0 ? this.#subset(pool, desired.addresses, desired.subsetSize) : desired.addresses;
    // Leaving replicas keep serving until the new ones have had their first check (run now, in
    // parallel; a new replica takes traffic once one passes), as a rolling update needs.
    const change = this.#options.pools.sync(pool, wanted, true);
    await Promise.all(change.added.map((replica) => this.#options.health.add(pool, replica, desired.healthCheck)));
    this.#options.pools.retire(pool, change.removed);
    this.#leave(change.removed);
    if (change.added.length > 0 || change.removed.length > 0) {
      this.#options.log.info(
        { model: desired.model, version: desired.version, added: change.added.map((r) => r.origin), removed: change.removed.map((r) => r.origin) },
        'pool replicas changed',
      );
    }
    return pool;
  }

  /** Each address once; a name and an address naming the same replica are one replica. */
  async #addresses(replicas: readonly ReplicaSpec[]): Promise<ReplicaAddress[]> {
    const addresses = new Map<string, ReplicaAddress>();
    for (const spec of replicas) {
      for (const origin of await this.#resolve(spec.url)) if (!addresses.has(origin)) addresses.set(origin, { origin, grpcPort: spec.grpcPort });
    }
    return [...addresses.values()];
  }

  /** This gateway's subset of a pool's addresses: its rendezvous ranking, members found down replaced. */
  #subset(pool: VersionPool, addresses: readonly ReplicaAddress[], size: number): readonly ReplicaAddress[] {
    const down = new Set(pool.replicas.filter((r) => r.health === 'down').map((r) => identity(r.origin, r.grpcPort)));
    const ranked = rankReplicas(this.#options.instanceId, addresses, (a) => identity(a.origin, a.grpcPort));
    return chooseSubset(ranked, size, (a) => down.has(identity(a.origin, a.grpcPort)));
  }

  /** Replicas that left their pool: no more checks, closed once idle (or after the drain timeout). */
  #leave(replicas: readonly Replica[]): void {
    for (const replica of replicas) {
      this.#options.health.remove(replica);
      if (this.#draining.has(replica)) continue;
      this.#draining.add(replica);
      const until = Date.now() + this.#options.drainTimeoutMs;
      const poll = setInterval(() => {
        if (replica.outstanding > 0 && Date.now() < until) return;
        clearInterval(poll);
        this.#draining.delete(replica);
        void replica.close();
      }, 100);
      poll.unref();
    }
  }

  /** A replica URL's origins: itself, or one per address its host name resolves to. */
  async #resolve(url: string): Promise<readonly string[]> {
    const parsed = new URL(url);
    if (!expands(url)) return [parsed.origin];
    const host = parsed.hostname;
    const port = parsed.port === '' ? 80 : Number(parsed.port);
    try {
      const addresses = await this.#lookup(host);
      if (addresses.length === 0) throw new Error('no address');
      const origins = addresses.sort().map((a) => (isIP(a) === 6 ? `http://[${a}]:${port}` : `http://${a}:${port}`));
      this.#resolved.set(url, origins);
      return origins;
    } catch (err) {
      const last = this.#resolved.get(url) ?? [];
      this.#options.log.warn({ url, err: (err as Error).message, keeping: last }, 'cannot resolve a replica host name: keeping its last addresses');
      return last;
    }
  }

  async #lookup(host: string): Promise<string[]> {
    const resolver = this.#resolver;
    if (resolver === undefined) return (await dns.lookup(host, { all: true })).map((a) => a.address);
    const settled = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (addresses.length === 0 && settled.every((r) => r.status === 'rejected')) {
      const reasons = settled.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : '')).filter((c) => c !== 'ENODATA' && c !== 'ENOTFOUND');
      if (reasons.length > 0) throw new Error(reasons.join(', '));
    }
    return addresses;
  }
}

/** A replica's identity, as the pool registry's: its REST origin and its gRPC port. */
function identity(origin: string, grpcPort: number): string {
  return `${origin} ${grpcPort}`;
}

function key(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

/** Plain-http URLs naming a host (not an address) stand for every address of that host. */
function expands(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && isIP(parsed.hostname.replace(/^\[|\]$/g, '')) === 0;
}
