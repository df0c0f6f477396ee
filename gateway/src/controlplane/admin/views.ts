/**
 * What the admin API shows of a model: its policy with revision and state, and its pools with
 * each replica's health and live stats per version. Built from the snapshot in force and the
 * pools on each call; the store is not read, so the views work during a store outage.
 */
import Type, { type Static } from 'typebox';
import { Policy } from '../../policy/schema.js';
import type { PoolRegistry } from '../../dataplane/pool-registry.js';
import type { CompiledModel } from '../../dataplane/snapshot.js';
import type { WindowStats } from '../../dataplane/stats.js';
import { breakerState } from '../../dataplane/breaker.js';
import type { Replica } from '../../dataplane/replica.js';

/** Seconds of the sliding window the views and the stats ticks report. */
export const STATS_WINDOW_SECONDS = 10;

export const ModelState = Type.Union(
  [Type.Literal('steady'), Type.Literal('canary'), Type.Literal('rolling-out'), Type.Literal('paused'), Type.Literal('rolled-back')],
  {
    description:
      'steady: no canary; canary: a canary takes traffic; rolling-out: a plan steps the canary up; paused: automation holds; rolled-back: every unpinned request goes to stable until an operator acts.',
  },
);

export const StatsView = Type.Object({
  windowSeconds: Type.Integer(),
  requests: Type.Integer(),
  errors: Type.Integer(),
  rps: Type.Number(),
  errorRate: Type.Number(),
  p50Ms: Type.Union([Type.Number(), Type.Null()]),
  p99Ms: Type.Union([Type.Number(), Type.Null()]),
});

export const ReplicaView = Type.Object({
  url: Type.String(),
  health: Type.Union([Type.Literal('unknown'), Type.Literal('up'), Type.Literal('down')]),
  outstanding: Type.Integer(),
  breaker: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half-open')]),
  consecutiveFailures: Type.Integer(),
  ejectedUntil: Type.Union([Type.String(), Type.Null()], { description: 'While ejected: when it is readmitted.' }),
  ejections: Type.Integer(),
  lastCheck: Type.Union([Type.Object({ at: Type.String(), ok: Type.Boolean(), detail: Type.String() }), Type.Null()]),
});

export const PoolView = Type.Object({
  version: Type.Integer(),
  role: Type.Union([Type.Literal('stable'), Type.Literal('canary'), Type.Literal('idle')]),
  healthyReplicas: Type.Integer(),
  availableReplicas: Type.Integer({ description: 'Healthy, breaker not open, not ejected.' }),
  draining: Type.Boolean(),
  stats: StatsView,
  replicas: Type.Array(ReplicaView),
});

export const ModelView = Type.Object({
  name: Type.String(),
  revision: Type.Integer(),
  state: ModelState,
  paused: Type.Boolean(),
  rolledBack: Type.Boolean(),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
  reason: Type.String(),
  note: Type.String(),
  rollout: Type.Union([
    Type.Object({ step: Type.Integer(), since: Type.String(), percent: Type.Number(), steps: Type.Integer() }),
    Type.Null(),
  ]),
  policy: Policy,
  pools: Type.Array(PoolView),
});

export const ModelList = Type.Object({ models: Type.Array(ModelView) });

/** Stats ticks kept per model for the snapshot: two minutes of charts for a page opened now. */
export const HISTORY_TICKS = 120;

export const StatsEvent = Type.Object(
  {
    at: Type.String(),
    windowSeconds: Type.Integer(),
    models: Type.Array(
      Type.Object({
        name: Type.String(),
        revision: Type.Integer(),
        state: ModelState,
        percent: Type.Number(),
        versions: Type.Array(
          Type.Object({
            version: Type.Integer(),
            role: PoolView.properties.role,
            healthyReplicas: Type.Integer(),
            availableReplicas: Type.Integer(),
            draining: Type.Boolean(),
            ...StatsView.properties,
            // Live per replica (in flight changes with every request, the last check with every
            // check): a page that showed them from its last GET would show stale numbers as live.
            replicas: Type.Array(ReplicaView),
          }),
        ),
      }),
    ),
  },
  { description: 'The `stats` event, once a second: live numbers per model, version and replica.' },
);

export const HistorySample = Type.Object({
  at: Type.String(),
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      role: PoolView.properties.role,
      rps: Type.Number(),
      errorRate: Type.Number(),
      p50Ms: StatsView.properties.p50Ms,
      p99Ms: StatsView.properties.p99Ms,
    }),
  ),
});

export const SnapshotEvent = Type.Object(
  {
    models: Type.Array(ModelView),
    storeAvailable: Type.Boolean(),
    history: Type.Record(Type.String(), Type.Array(HistorySample), {
      description: `Per model, its last stats ticks (up to ${HISTORY_TICKS}, oldest first), so charts start with the last minutes.`,
    }),
  },
  { description: 'The `snapshot` event, first on every connection.' },
);

export type ModelView = Static<typeof ModelView>;
export type StatsView = Static<typeof StatsView>;
export type ReplicaView = Static<typeof ReplicaView>;
export type StatsEvent = Static<typeof StatsEvent>;
export type HistorySample = Static<typeof HistorySample>;
export type SnapshotEvent = Static<typeof SnapshotEvent>;

export function modelState(model: CompiledModel): Static<typeof ModelState> {
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

export function modelView(compiled: CompiledModel, registry: PoolRegistry): ModelView {
  const pools = [...(registry.pools(compiled.name)?.values() ?? [])];
  const { stored } = compiled;
  return {
    name: compiled.name,
    revision: compiled.revision,
    state: modelState(compiled),
    paused: stored.paused,
    rolledBack: stored.rolledBack,
    updatedAt: stored.updatedAt,
    updatedBy: stored.updatedBy,
    reason: stored.reason,
    note: stored.note,
    rollout:
      stored.rollout === null || compiled.policy.plan === null
        ? null
        : { ...stored.rollout, percent: compiled.policy.plan.steps[stored.rollout.step] ?? compiled.policy.percent, steps: compiled.policy.plan.steps.length },
    policy: {
      ...compiled.policy,
      headerRules: [...compiled.policy.headerRules],
      cookieRules: [...compiled.policy.cookieRules],
      plan: compiled.policy.plan === null ? null : { ...compiled.policy.plan, steps: [...compiled.policy.plan.steps] },
    },
    pools: pools.map((pool) => ({
      version: pool.version,
      role: pool === compiled.stable ? 'stable' : pool === compiled.canary ? 'canary' : 'idle',
      healthyReplicas: pool.healthyCount,
      availableReplicas: pool.availableCount,
      draining: pool.draining,
      stats: statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
      replicas: pool.replicas.map(replicaView),
    })),
  };
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
