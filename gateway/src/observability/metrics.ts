/**
 * Prometheus metrics (prom-client's registry and text format, Node's process metrics). Nothing is
 * recorded through prom-client on the request path: the data plane keeps plain counters in each
 * pool's stats, and these metrics read them, and the live state, when Prometheus scrapes. Label
 * sets are bounded by the configuration: models, versions, replicas, status classes, failure kinds.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { breakerState } from '../dataplane/breaker.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import type { VersionPool } from '../dataplane/pool.js';
import type { CompiledModel, SnapshotHolder } from '../dataplane/snapshot.js';
import { bucketUpperMs, LATENCY_BUCKETS, type FailureKind } from '../dataplane/stats.js';
import type { GatewayEvents } from '../controlplane/events.js';
import type { PolicyStore } from '../controlplane/store/types.js';

type Labels = Record<string, string | number>;
interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}

/** A metric computed when scraped, registered like any prom-client metric. */
class ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum';
  readonly #collect: () => Sample[];

  constructor(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', collect: () => Sample[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#collect = collect;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: this.#collect(), aggregator: this.aggregator };
  }
}

/** Bucket bounds of the request duration histogram, in seconds. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const FAILURE_KINDS: readonly FailureKind[] = ['connect', 'reset', 'timeout', 'status', 'breaker'];
const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

/** Which `le` bucket each of the stats' fine latency buckets falls in (by its upper bound). */
const LE_OF_FINE: number[] = Array.from({ length: LATENCY_BUCKETS }, (_, b) => {
  const upper = bucketUpperMs(b) / 1000;
  const i = DURATION_BUCKETS.findIndex((le) => upper <= le);
  return i === -1 ? DURATION_BUCKETS.length : i;
});

export interface MetricsSources {
  readonly pools: PoolRegistry;
  readonly snapshots: SnapshotHolder;
  readonly store: PolicyStore;
  readonly events: GatewayEvents;
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { pools, snapshots, store } = sources;
  const rollbacks = new Map<string, number>();
  sources.events.on('rollback', (e) => rollbacks.set(e.model, (rollbacks.get(e.model) ?? 0) + 1));

  const perPool = (f: (pool: VersionPool, labels: Labels) => Sample[]) => (): Sample[] =>
    [...pools.allPools()].flatMap((pool) => f(pool, { model: pool.model, version: pool.versionText }));
  const perReplica = (f: (pool: VersionPool, labels: Labels, i: number) => Sample[]) => (): Sample[] =>
    [...pools.allPools()].flatMap((pool) =>
      pool.replicas.flatMap((r, i) => f(pool, { model: pool.model, version: pool.versionText, replica: r.origin }, i)),
    );
  const perModel = (f: (labels: Labels, model: CompiledModel) => Sample[]) => (): Sample[] =>
    [...snapshots.current.models.values()].flatMap((m) => f({ model: m.name }, m));

  const metrics = [
    new ScrapedMetric('canary_gateway_requests_total', 'Requests answered, by the version that served them and the status class the client got.', 'counter',
      perPool((pool, labels) => STATUS_CLASSES.map((code, i) => ({ labels: { ...labels, code }, value: pool.stats.responses[i + 1] ?? 0 }))),
    ),
    new ScrapedMetric('canary_gateway_request_duration_seconds', 'Client-visible request duration, by the version that served it.', 'histogram',
      perPool((pool, labels) => {
        const counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
        for (let b = 0; b < LATENCY_BUCKETS; b++) counts[LE_OF_FINE[b] as number]! += pool.stats.durations[b] ?? 0;
        const out: Sample[] = [];
        let total = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          total += counts[i] as number;
          out.push({ metricName: 'canary_gateway_request_duration_seconds_bucket', labels: { ...labels, le }, value: total });
        });
        total += counts[DURATION_BUCKETS.length] as number;
        out.push({ metricName: 'canary_gateway_request_duration_seconds_bucket', labels: { ...labels, le: '+Inf' }, value: total });
        out.push({ metricName: 'canary_gateway_request_duration_seconds_sum', labels, value: pool.stats.durationSumSeconds });
        out.push({ metricName: 'canary_gateway_request_duration_seconds_count', labels, value: total });
        return out;
      }),
    ),
    new ScrapedMetric('canary_gateway_upstream_failures_total', 'Failed attempts at replicas, by kind (connect, reset, timeout, status = a 5xx, breaker = refused by an open breaker).', 'counter',
      perPool((pool, labels) => FAILURE_KINDS.map((kind) => ({ labels: { ...labels, kind }, value: pool.stats.failuresByKind[kind] }))),
    ),
    new ScrapedMetric('canary_gateway_retries_total', 'Retries, by the version they landed on.', 'counter',
      perPool((pool, labels) => [{ labels, value: pool.stats.retriesTotal }]),
    ),
    new ScrapedMetric('canary_gateway_pool_draining', '1 while a canary pool drains to stable (error rate over the drain threshold).', 'gauge',
      perPool((pool, labels) => [{ labels, value: pool.draining ? 1 : 0 }]),
    ),
    new ScrapedMetric('canary_gateway_replica_up', '1 while a replica passes its health checks (its version AVAILABLE).', 'gauge',
      perReplica((pool, labels, i) => [{ labels, value: pool.replicas[i]?.health === 'up' ? 1 : 0 }]),
    ),
    new ScrapedMetric('canary_gateway_breaker_state', "A replica breaker's state: 1 for the current one of closed, half-open, open.", 'gauge',
      perReplica((pool, labels, i) => {
        const replica = pool.replicas[i];
        const state = replica === undefined ? 'closed' : breakerState(replica.breaker);
        return BREAKER_STATES.map((s) => ({ labels: { ...labels, state: s }, value: s === state ? 1 : 0 }));
      }),
    ),
    new ScrapedMetric('canary_gateway_replica_ejected', '1 while a replica is ejected (outlier detection).', 'gauge',
      perReplica((pool, labels, i) => [{ labels, value: (pool.replicas[i]?.ejectedUntil ?? 0) !== 0 ? 1 : 0 }]),
    ),
    new ScrapedMetric('canary_gateway_ejections_total', 'Ejections of a replica.', 'counter',
      perReplica((pool, labels, i) => [{ labels, value: pool.replicas[i]?.ejectionsTotal ?? 0 }]),
    ),
    new ScrapedMetric('canary_gateway_canary_percent', "The canary's share of unpinned traffic, per the policy in force (0 without a canary or while rolled back).", 'gauge',
      perModel((labels, m) => [{ labels, value: m.canary === null || m.stored.rolledBack ? 0 : m.policy.percent }]),
    ),
    new ScrapedMetric('canary_gateway_policy_revision', 'Revision of the policy in force.', 'gauge',
      perModel((labels, m) => [{ labels, value: m.revision }]),
    ),
    new ScrapedMetric('canary_gateway_rolled_back', '1 while the model is rolled back.', 'gauge',
      perModel((labels, m) => [{ labels, value: m.stored.rolledBack ? 1 : 0 }]),
    ),
    new ScrapedMetric('canary_gateway_rollbacks_total', 'Rollbacks that came into force on this gateway (automatic or not).', 'counter',
      perModel((labels, m) => [{ labels, value: rollbacks.get(m.name) ?? 0 }]),
    ),
    new ScrapedMetric('canary_gateway_store_up', '1 while the policy store is reachable.', 'gauge', () => [
      { labels: { store: store.kind }, value: store.isAvailable() ? 1 : 0 },
    ]),
  ];
  for (const metric of metrics) registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  return registry;
}
