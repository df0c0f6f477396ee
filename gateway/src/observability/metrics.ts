/**
 * Prometheus metrics (prom-client's registry and text format, Node's process metrics). Nothing is
 * recorded through prom-client on the request path: the data plane keeps plain counters in each
 * pool's stats, and each metric's collect() callback reads them, and the live state, when
 * Prometheus scrapes. Label sets are bounded by the configuration: models, versions, replicas,
 * status classes, failure kinds.
 */
import { collectDefaultMetrics, Counter, Gauge, type Histogram, Registry } from 'prom-client';
import { breakerState } from '../dataplane/breaker.js';
import type { Admission } from '../dataplane/admission.js';
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import type { VersionPool } from '../dataplane/pool.js';
import type { Replica } from '../dataplane/replica.js';
import type { CompiledModel, SnapshotHolder } from '../dataplane/snapshot.js';
import { bucketUpperMs, LATENCY_BUCKETS, PROTOCOLS, type FailureKind, type Protocol, type ProtocolCounters } from '../dataplane/stats.js';
import type { GatewayEvents } from '../controlplane/events.js';
import type { PolicyStore } from '../controlplane/store/types.js';
import { SHADOW_DROP_REASONS, type Shadows } from '../dataplane/shadow.js';
import type { ShadowAnalysis } from '../analysis/shadow-analysis.js';
import { PAIR_OUTCOMES, type ResultsSummary } from '../analysis/shadow-results.js';

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
  readonly admission: Admission;
  readonly shadows: Shadows;
  readonly shadowAnalysis: ShadowAnalysis;
}

type Labels<L extends string> = Partial<Record<L, string | number>>;
/** Gives one sample to the metric being collected. */
type Emit<L extends string> = (labels: Labels<L>, value: number) => void;

/**
 * A gauge or counter whose samples are all computed at scrape time: collect() starts from nothing,
 * so series of pools and replicas that left the configuration leave the output with them.
 */
function scraped<L extends string>(
  registry: Registry,
  type: 'gauge' | 'counter',
  name: string,
  help: string,
  labelNames: readonly L[],
  fill: (emit: Emit<L>) => void,
): void {
  const config = { name, help, labelNames, registers: [registry] };
  if (type === 'gauge') {
    new Gauge<L>({
      ...config,
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  } else {
    new Counter<L>({
      ...config,
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  }
}

/**
 * The request duration histogram, the one metric prom-client's classes cannot carry: its Histogram
 * learns only through observe(), one sample at a time (prom-client 15 has no way to set bucket
 * counts, sum and count), while the pools already hold the counts, bucketed. Replaying them through
 * observe() would cost one call per request served since start, at every scrape. So this one is
 * registered in the plain shape the registry reads (name, help, type, aggregator, get()), the shape
 * prom-client's own AggregatorRegistry.aggregate() registers.
 */
function durationHistogram(registry: Registry, pools: PoolRegistry): void {
  const name = 'canary_gateway_request_duration_seconds';
  const samples = (): Array<{ metricName: string; labels: Labels<string>; value: number }> => {
    const out: Array<{ metricName: string; labels: Labels<string>; value: number }> = [];
    for (const pool of pools.allPools()) for (const protocol of PROTOCOLS) {
      const counters = pool.stats.byProtocol[protocol];
      const labels = { model: pool.model, version: pool.versionText, protocol };
      const counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
      for (let b = 0; b < LATENCY_BUCKETS; b++) counts[LE_OF_FINE[b] as number]! += counters.durations[b] ?? 0;
      let total = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        total += counts[i] as number;
        out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: total });
      });
      total += counts[DURATION_BUCKETS.length] as number;
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: total });
      out.push({ metricName: `${name}_sum`, labels, value: counters.durationSumSeconds });
      out.push({ metricName: `${name}_count`, labels, value: total });
    }
    return out;
  };
  const metric = {
    name,
    help: 'Client-visible request duration, by the version that served it.',
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values: samples() }),
  };
  registry.registerMetric(metric as unknown as Histogram);
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { pools, snapshots, store } = sources;
  const rollbacks = new Map<string, number>();
  sources.events.on('rollback', (e) => rollbacks.set(e.model, (rollbacks.get(e.model) ?? 0) + 1));

  const eachPool = (f: (pool: VersionPool, labels: { model: string; version: string }) => void): void => {
    for (const pool of pools.allPools()) f(pool, { model: pool.model, version: pool.versionText });
  };
  /** Per pool and protocol: the counters since start and the labels. */
  const eachCounters = (f: (counters: ProtocolCounters, labels: { model: string; version: string; protocol: Protocol }) => void): void => {
    for (const pool of pools.allPools()) for (const protocol of PROTOCOLS) f(pool.stats.byProtocol[protocol], { model: pool.model, version: pool.versionText, protocol });
  };
  const eachReplica = (f: (replica: Replica, labels: { model: string; version: string; replica: string }) => void): void => {
    for (const pool of pools.allPools()) {
      for (const replica of pool.replicas) f(replica, { model: pool.model, version: pool.versionText, replica: replica.origin });
    }
  };
  const eachModel = (f: (model: CompiledModel) => void): void => {
    for (const m of snapshots.current.models.values()) f(m);
  };

  scraped(registry, 'counter', 'canary_gateway_requests_total', 'Requests answered, by the version that served them and the status class the client got.',
    ['model', 'version', 'code', 'protocol'],
    (emit) => eachCounters((counters, labels) => STATUS_CLASSES.forEach((code, i) => emit({ ...labels, code }, counters.responses[i + 1] ?? 0))),
  );
  durationHistogram(registry, pools);
  scraped(registry, 'counter', 'canary_gateway_attempts_total', "Attempts at the version's replicas, failed or not (a request its pool had no replica for counts as a failed one): the denominator of the version's error ratio.",
    ['model', 'version', 'protocol'],
    (emit) => eachCounters((counters, labels) => emit(labels, counters.attempts)),
  );
  scraped(registry, 'counter', 'canary_gateway_upstream_failures_total', 'Failed attempts at replicas, by kind (connect, reset, timeout, status = a 5xx, breaker = refused by an open breaker).',
    ['model', 'version', 'kind', 'protocol'],
    (emit) => eachCounters((counters, labels) => FAILURE_KINDS.forEach((kind) => emit({ ...labels, kind }, counters.failuresByKind[kind]))),
  );
  scraped(registry, 'counter', 'canary_gateway_retries_total', 'Retries, by the version they landed on.',
    ['model', 'version', 'protocol'],
    (emit) => eachCounters((counters, labels) => emit(labels, counters.retries)),
  );
  scraped(registry, 'counter', 'canary_gateway_panic_routed_total', "Requests sent to a stable pool's healthy replicas past their breakers and ejections, because those left none to pick (panic routing).",
    ['model', 'version'],
    (emit) => eachPool((pool, labels) => emit(labels, pool.stats.panicTotal)),
  );
  scraped(registry, 'gauge', 'canary_gateway_pool_draining', '1 while a canary pool drains to stable (error rate over the drain threshold).',
    ['model', 'version'],
    (emit) => eachPool((pool, labels) => emit(labels, pool.draining ? 1 : 0)),
  );
  scraped(registry, 'gauge', 'canary_gateway_replica_up', '1 while a replica passes its health checks (its version AVAILABLE).',
    ['model', 'version', 'replica'],
    (emit) => eachReplica((replica, labels) => emit(labels, replica.health === 'up' ? 1 : 0)),
  );
  scraped(registry, 'gauge', 'canary_gateway_breaker_state', "A replica breaker's state: 1 for the current one of closed, half-open, open.",
    ['model', 'version', 'replica', 'state'],
    (emit) => eachReplica((replica, labels) => {
      const state = breakerState(replica.breaker);
      for (const s of BREAKER_STATES) emit({ ...labels, state: s }, s === state ? 1 : 0);
    }),
  );
  scraped(registry, 'gauge', 'canary_gateway_replica_ejected', '1 while a replica is ejected (outlier detection).',
    ['model', 'version', 'replica'],
    (emit) => eachReplica((replica, labels) => emit(labels, replica.ejectedUntil !== 0 ? 1 : 0)),
  );
  scraped(registry, 'counter', 'canary_gateway_ejections_total', 'Ejections of a replica.',
    ['model', 'version', 'replica'],
    (emit) => eachReplica((replica, labels) => emit(labels, replica.ejectionsTotal)),
  );
  scraped(registry, 'gauge', 'canary_gateway_version_role', "1 for each version the policy in force names, by its role (stable, canary; a rolled-back canary is still the canary): lets rules compare a model's canary with its stable.",
    ['model', 'version', 'role'],
    (emit) => eachModel((m) => {
      emit({ model: m.name, version: m.stable.versionText, role: 'stable' }, 1);
      if (m.canary !== null) emit({ model: m.name, version: m.canary.versionText, role: 'canary' }, 1);
    }),
  );
  scraped(registry, 'gauge', 'canary_gateway_canary_percent', "The canary's share of unpinned traffic, per the policy in force (0 without a canary or while rolled back).",
    ['model'],
    (emit) => eachModel((m) => emit({ model: m.name }, m.canary === null || m.stored.rolledBack ? 0 : m.policy.percent)),
  );
  scraped(registry, 'gauge', 'canary_gateway_policy_revision', 'Revision of the policy in force.',
    ['model'],
    (emit) => eachModel((m) => emit({ model: m.name }, m.revision)),
  );
  scraped(registry, 'gauge', 'canary_gateway_rolled_back', '1 while the model is rolled back.',
    ['model'],
    (emit) => eachModel((m) => emit({ model: m.name }, m.stored.rolledBack ? 1 : 0)),
  );
  scraped(registry, 'counter', 'canary_gateway_rollbacks_total', 'Rollbacks that came into force on this gateway (automatic or not).',
    ['model'],
    (emit) => eachModel((m) => emit({ model: m.name }, rollbacks.get(m.name) ?? 0)),
  );
  scraped(registry, 'gauge', 'canary_gateway_store_up', '1 while the policy store is reachable.',
    ['store'],
    (emit) => emit({ store: store.kind }, store.isAvailable() ? 1 : 0),
  );
  const { admission } = sources;
  scraped(registry, 'gauge', 'canary_gateway_requests_in_flight', 'Requests the gateway is handling now (proxy.maxRequestsInFlight is the most).',
    [],
    (emit) => emit({}, admission.requests),
  );
  scraped(registry, 'gauge', 'canary_gateway_buffered_request_bytes', 'Request body bytes kept in memory now (proxy.maxBufferedBytes is the most).',
    [],
    (emit) => emit({}, admission.bytes),
  );
  scraped(registry, 'counter', 'canary_gateway_admission_refused_total', 'Requests answered 503 at once because the gateway was at a limit: requests (in flight) or bytes (of bodies in memory).',
    ['limit'],
    (emit) => {
      emit({ limit: 'requests' }, admission.refused.requests);
      emit({ limit: 'bytes' }, admission.refused.bytes);
    },
  );
  shadowMetrics(registry, sources);
  return registry;
}

/** Shadow traffic: copies sent and dropped (per model), the comparison's outcomes and rolling figures (per model and shadow version). */
function shadowMetrics(registry: Registry, sources: MetricsSources): void {
  const { shadows, shadowAnalysis, snapshots } = sources;
  const eachLane = (f: (model: string, lane: NonNullable<ReturnType<Shadows['peek']>>) => void): void => {
    for (const m of snapshots.current.models.values()) {
      const lane = shadows.peek(m.name);
      if (lane !== undefined) f(m.name, lane);
    }
  };
  const eachResults = (f: (labels: { model: string; version: string }, summary: ResultsSummary) => void): void => {
    for (const [model, results] of shadowAnalysis.all()) f({ model, version: String(results.version) }, results.summary());
  };
  scraped(registry, 'counter', 'canary_gateway_shadow_requests_total', 'Shadow requests sent (copies of live requests to the shadow version).',
    ['model'],
    (emit) => eachLane((model, lane) => emit({ model }, lane.sent)),
  );
  scraped(registry, 'counter', 'canary_gateway_shadow_dropped_total', 'Copies not sent, by reason: budget (maxInFlight), memory (proxy.maxBufferedBytes), unavailable (no shadow replica free), streamed (a body not kept in memory).',
    ['model', 'reason'],
    (emit) => eachLane((model, lane) => SHADOW_DROP_REASONS.forEach((reason) => emit({ model, reason }, lane.dropped[reason]))),
  );
  scraped(registry, 'gauge', 'canary_gateway_shadow_in_flight', 'Shadow requests in flight.',
    ['model'],
    (emit) => eachLane((model, lane) => emit({ model }, lane.inFlight)),
  );
  scraped(registry, 'counter', 'canary_gateway_shadow_pairs_total', 'Live/shadow pairs by outcome (agreed, disagreed, error = the shadow failed, skipped = not compared), since the shadow version was set.',
    ['model', 'version', 'outcome'],
    (emit) => eachResults((labels, summary) => PAIR_OUTCOMES.forEach((outcome) => emit({ ...labels, outcome }, summary.totals[outcome]))),
  );
  const figure = (name: string, help: string, pick: (s: ResultsSummary) => number | null): void =>
    scraped(registry, 'gauge', name, help, ['model', 'version'], (emit) =>
      eachResults((labels, summary) => {
        const value = pick(summary);
        if (value !== null) emit(labels, value);
      }),
    );
  figure('canary_gateway_shadow_agreement_ratio', 'Share of the last compared pairs (up to 1,000) whose answers agreed.', (s) => s.agreementRate);
  figure('canary_gateway_shadow_abs_diff_mean', 'Mean absolute difference of the numbers compared in the last pairs.', (s) => s.meanAbsDiff);
  figure('canary_gateway_shadow_abs_diff_max', 'Largest absolute difference in the last pairs.', (s) => s.maxAbsDiff);
  figure('canary_gateway_shadow_error_ratio', "Share of the last shadow requests that failed while the live one succeeded.", (s) => s.errorRate);
  figure('canary_gateway_shadow_latency_p99_seconds', "The shadow's p99 latency over the last pairs.", (s) => (s.p99Ms === null ? null : s.p99Ms / 1000));
}
