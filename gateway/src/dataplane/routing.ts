/**
 * Where each attempt of a request goes, for every protocol: the decided pool's pick, an unpinned
 * canary request's fall back to stable, panic routing in a stable pool, and where a failed
 * attempt's retry may go (within the target pool's retry budget).
 */
import type { Replica } from './replica.js';
import type { VersionPool } from './pool.js';
import type { CompiledModel, Decision } from './snapshot.js';

export interface Route {
  readonly pool: VersionPool;
  readonly replica: Replica;
  /** Sent past the replica's breaker and ejection (VersionPool.panicPick). */
  readonly panic: boolean;
}

/** No replica for the request: `busy` when every one that may take traffic is at its limit. */
export interface NoRoute {
  readonly pool: VersionPool;
  readonly busy: boolean;
}

function pickIn(model: CompiledModel, pool: VersionPool, exclude?: Replica): Route | undefined {
  const replica = pool.pick(exclude);
  if (replica !== undefined) return { pool, replica, panic: false };
  if (pool !== model.stable) return undefined;
  const panicked = pool.panicPick(exclude);
  return panicked === undefined ? undefined : { pool, replica: panicked, panic: true };
}

/** The first attempt's replica. */
export function firstRoute(model: CompiledModel, decision: Decision): Route | NoRoute {
  const route = pickIn(model, decision.pool);
  if (route !== undefined) return route;
  // The canary lost its last replica (or its room) between the decision and now.
  if (decision.side === 'canary' && !decision.pinned && decision.pool !== model.stable) {
    const fallback = pickIn(model, model.stable);
    if (fallback !== undefined) return fallback;
    return { pool: model.stable, busy: model.stable.saturated };
  }
  return { pool: decision.pool, busy: decision.pool.saturated };
}

export function isRoute(value: Route | NoRoute): value is Route {
  return 'replica' in value;
}

/**
 * Where the retry of a failed attempt goes, or undefined: an unpinned canary request to stable, any
 * other to another replica of its pool; a pinned request only when the replica could not take it
 * (`reconnectable`: an answer, a 5xx, is that version's real answer). Within the pool's budget.
 */
export function retryRoute(model: CompiledModel, decision: Decision, current: VersionPool, failed: Replica, reconnectable: boolean): Route | undefined {
  if (decision.pinned && !reconnectable) return undefined;
  const toStable = !decision.pinned && decision.side === 'canary' && current !== model.stable;
  const pool = toStable ? model.stable : current;
  const budget = pool.resilience.retry;
  if (!pool.stats.retryAllowed(budget.budgetPercent, budget.minRetriesPerSecond)) return undefined;
  return pickIn(model, pool, failed);
}

export function noReplicaMessage(pool: VersionPool): string {
  return `No healthy replica of model ${pool.model} version ${pool.versionText} is available`;
}

/** Every replica of the pool has as many requests in flight as it may (proxy.connectionsPerReplica). */
export function busyMessage(pool: VersionPool): string {
  return `Every replica of model ${pool.model} version ${pool.versionText} is at its limit of requests in flight`;
}
