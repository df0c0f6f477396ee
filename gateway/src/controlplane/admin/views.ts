/**
 * What the admin API shows of a model: its policy with revision and state, and its pools with
 * each replica's health and live stats per version. Built from the snapshot in force and the
 * pools on each call; the store is not read, so the views work during a store outage. Their
 * shapes are in api-schemas.ts.
 */
import type { PolicyDocument } from '../../policy/schema.js';
import { onlyListed } from '../../schema-defaults.js';
import type { RolloutProgress, StoredPolicy } from '../../policy/stored.js';
import { inShadowStage } from '../changes.js';
import type { PoolRegistry } from '../../dataplane/pool-registry.js';
import type { CompiledModel } from '../../dataplane/snapshot.js';
import type { PoolStats, ProtocolCounters, WindowStats } from '../../dataplane/stats.js';
import { breakerState } from '../../dataplane/breaker.js';
import type { Replica } from '../../dataplane/replica.js';
import type { VersionPool } from '../../dataplane/pool.js';
import type { AuditEntry as StoredAuditEntry } from '../store/types.js';
import { AuditEntry as AuditEntrySchema } from './api-schemas.js';
import type { AuditEntry, ModelState, ModelView, PolicyView, PoolView, ReplicaView, RequestsByProtocol, RolloutView, ShadowView, StatsView, VersionsView } from './api-schemas.js';
import type { Shadows } from '../../dataplane/shadow.js';
import type { ShadowAnalysis } from '../../analysis/shadow-analysis.js';

/** Seconds of the sliding window the views and the stats ticks report. */
export const STATS_WINDOW_SECONDS = 10;

export function modelState(model: CompiledModel): ModelState {
  if (model.stored.rolledBack) return 'rolled-back';
  if (model.stored.paused) return 'paused';
  if (model.canary === null) return 'steady';
  return model.stored.rollout !== null && model.policy.plan !== null ? 'rolling-out' : 'canary';
}

export function statsView(stats: WindowStats): StatsView {
  return {
    windowSeconds: stats.seconds,
    requests: stats.requests,
    errors: stats.errors,
    rps: Math.round(stats.rps * 100) / 100,
    errorRate: Math.round(stats.errorRate * 10_000) / 10_000,
    p50Ms: stats.p50Ms,
    p99Ms: stats.p99Ms,
  };
}

/** Where the shadow numbers come from (both this gateway's). */
export interface ShadowSources {
  readonly shadows: Shadows;
  readonly shadowAnalysis: ShadowAnalysis;
}

/** What a model view is built from besides the snapshot and the pools. */
export interface ViewSources extends ShadowSources {
  /** Models that discover their versions on their replicas. */
  readonly discovering: ReadonlySet<string>;
}

/** The stored versions state, with the candidate's stage. */
export function versionsView(stored: StoredPolicy, discovering: boolean): VersionsView {
  const { versions } = stored;
  const candidate = versions.candidate;
  return {
    discovery: discovering,
    discovered: [...versions.discovered],
    candidate: candidate === null ? null : { version: candidate, stage: inShadowStage(stored.policy, stored.rollout) ? 'shadow' : 'steps' },
    rejected: versions.rejected.map((r) => ({ ...r })),
  };
}

/** The model's shadow on this gateway; null when it has never had one here. */
export function shadowView(compiled: CompiledModel, sources: ShadowSources): ShadowView | null {
  const lane = sources.shadows.peek(compiled.name);
  const results = sources.shadowAnalysis.results(compiled.name);
  const settings = compiled.policy.shadow;
  if (settings === null && lane === undefined && results === undefined) return null;
  const summary = results?.summary();
  return {
    version: settings?.version ?? null,
    percent: settings?.percent ?? 0,
    inFlight: lane?.inFlight ?? 0,
    maxInFlight: settings?.maxInFlight ?? 0,
    sent: lane?.sent ?? 0,
    dropped: { budget: 0, memory: 0, unavailable: 0, streamed: 0, ...lane?.dropped },
    results: summary === undefined ? null : { ...summary, totals: { ...summary.totals }, disagreements: [...summary.disagreements] },
  };
}

/** A model's view without its pools, and each pool's view without its replicas (the event stream serializes those in slices). */
export interface ModelViewParts {
  readonly head: Omit<ModelView, 'pools'>;
  readonly pools: ReadonlyArray<{ readonly pool: VersionPool; readonly view: Omit<PoolView, 'replicas'> }>;
}

export function modelViewParts(compiled: CompiledModel, registry: PoolRegistry, sources: ViewSources): ModelViewParts {
  const pools = [...(registry.pools(compiled.name)?.values() ?? [])];
  const { stored } = compiled;
  return {
    head: {
      name: compiled.name,
      revision: compiled.revision,
      state: modelState(compiled),
      paused: stored.paused,
      rolledBack: stored.rolledBack,
      updatedAt: stored.updatedAt,
      updatedBy: stored.updatedBy,
      reason: stored.reason,
      note: stored.note,
      rollout: rolloutView(stored.rollout, compiled.policy),
      policy: policyView(compiled.policy),
      shadow: shadowView(compiled, sources),
      versions: versionsView(stored, sources.discovering.has(compiled.name)),
    },
    pools: pools.map((pool) => ({
      pool,
      view: {
        version: pool.version,
        role: pool === compiled.stable ? 'stable' : pool === compiled.canary ? 'canary' : 'idle',
        healthyReplicas: pool.healthyCount,
        availableReplicas: pool.availableCount,
        draining: pool.draining,
        stats: statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
        requestsByProtocol: requestsByProtocol(pool.stats),
      },
    })),
  };
}

export function modelView(compiled: CompiledModel, registry: PoolRegistry, sources: ViewSources): ModelView {
  const { head, pools } = modelViewParts(compiled, registry, sources);
  return { ...head, pools: pools.map(({ pool, view }) => ({ ...view, replicas: pool.replicas.map(replicaView) })) };
}

/** Requests a version answered since start, by protocol (every status class). */
export function requestsByProtocol(stats: PoolStats): RequestsByProtocol {
  const answered = (counters: ProtocolCounters): number => counters.responses.reduce((a, b) => a + b, 0);
  return { rest: answered(stats.byProtocol.rest), grpc: answered(stats.byProtocol.grpc) };
}

/** A copy of a policy document (the one in force is frozen and typed read-only; a view is plain data). */
export function policyView(policy: PolicyDocument): PolicyView {
  return {
    ...policy,
    headerRules: [...policy.headerRules],
    cookieRules: [...policy.cookieRules],
    plan: policy.plan === null ? null : { ...policy.plan, steps: [...policy.plan.steps] },
    shadow: policy.shadow === null ? null : { ...policy.shadow, tolerance: { ...policy.shadow.tolerance } },
    onNewVersion: policy.onNewVersion === null ? null : { plan: { ...policy.onNewVersion.plan, steps: [...policy.onNewVersion.plan.steps] } },
  };
}

/**
 * An audit entry as the API shows it: as stored, less what its schema does not list. Its policies
 * are the JSON written then, not validated again (an older gateway's may lack fields added since,
 * which the schema allows, or hold fields dropped since, which the answer leaves out: the admin API
 * writes answers with JSON.stringify, not a serializer that filters).
 */
export function auditView(entry: StoredAuditEntry): AuditEntry {
  return onlyListed(AuditEntrySchema, entry);
}

/** A rollout with the step's percentage and the plan's length; null when none runs (or no plan is left to run). */
export function rolloutView(rollout: RolloutProgress | null, policy: PolicyDocument): RolloutView | null {
  if (rollout === null || policy.plan === null) return null;
  return { step: rollout.step, since: rollout.since, percent: policy.plan.steps[rollout.step] ?? policy.percent, steps: policy.plan.steps.length };
}

export function replicaView(r: Replica): ReplicaView {
  return {
    url: r.origin,
    health: r.health,
    outstanding: r.outstanding,
    breaker: breakerState(r.breaker),
    consecutiveFailures: r.consecutiveFailures,
    ejectedUntil: r.ejectedUntil === 0 ? null : new Date(r.ejectedUntil).toISOString(),
    ejections: r.ejections,
    lastCheck: r.lastCheck === null ? null : { at: new Date(r.lastCheck.at).toISOString(), ok: r.lastCheck.ok, detail: r.lastCheck.detail },
  };
}
