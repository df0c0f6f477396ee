/**
 * What the admin API shows of a model: its policy with revision, and its pools with each replica's
 * health. Built from the live snapshot and pools on each call (the admin port is not the hot path).
 */
import Type, { type Static } from 'typebox';
import { Policy } from '../../policy/schema.js';
import type { PoolRegistry } from '../../dataplane/pool-registry.js';
import type { CompiledModel } from '../../dataplane/snapshot.js';
import type { StoredPolicy } from '../store/types.js';

export const ReplicaView = Type.Object({
  url: Type.String(),
  health: Type.Union([Type.Literal('unknown'), Type.Literal('up'), Type.Literal('down')]),
  outstanding: Type.Integer(),
  lastCheck: Type.Union([
    Type.Object({ at: Type.String(), ok: Type.Boolean(), detail: Type.String() }),
    Type.Null(),
  ]),
});

export const PoolView = Type.Object({
  version: Type.Integer(),
  role: Type.Union([Type.Literal('stable'), Type.Literal('canary'), Type.Literal('idle')]),
  healthyReplicas: Type.Integer(),
  requests: Type.Integer(),
  failures: Type.Integer(),
  replicas: Type.Array(ReplicaView),
});

export const ModelView = Type.Object({
  name: Type.String(),
  revision: Type.Integer(),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
  policy: Policy,
  pools: Type.Array(PoolView),
});

export const ModelList = Type.Object({ models: Type.Array(ModelView) });

export type ModelView = Static<typeof ModelView>;

export function modelView(compiled: CompiledModel, stored: StoredPolicy | undefined, registry: PoolRegistry): ModelView {
  const pools = [...(registry.pools(compiled.name)?.values() ?? [])];
  return {
    name: compiled.name,
    revision: compiled.revision,
    updatedAt: stored?.updatedAt ?? '',
    updatedBy: stored?.updatedBy ?? '',
    policy: {
      ...compiled.policy,
      headerRules: [...compiled.policy.headerRules],
      cookieRules: [...compiled.policy.cookieRules],
    },
    pools: pools.map((pool) => ({
      version: pool.version,
      role: pool === compiled.stable ? 'stable' : pool === compiled.canary ? 'canary' : 'idle',
      healthyReplicas: pool.healthyCount,
      requests: pool.requests,
      failures: pool.failures,
      replicas: pool.replicas.map((r) => ({
        url: r.origin,
        health: r.health,
        outstanding: r.outstanding,
        lastCheck: r.lastCheck === null ? null : { at: new Date(r.lastCheck.at).toISOString(), ok: r.lastCheck.ok, detail: r.lastCheck.detail },
      })),
    })),
  };
}
