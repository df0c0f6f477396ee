/**
 * The admin event stream (Server-Sent Events): a `snapshot` of every model (with the last stats
 * ticks of each, for charts) on connect, then `policy`, `health`, `replica` (breakers, ejections),
 * `rollback` and `store` events as they happen and a `stats` tick once a second (with every
 * replica's live state); each payload's schema is in api-schemas.ts (StreamEvents), the frames'
 * format in sse.ts. Payloads are built once per event and written to every client; a client
 * that cannot keep up (over 1 MiB unsent) is disconnected rather than buffered without bound. Clients send the
 * bearer token in the Authorization header (browsers: fetch with a streaming body, not EventSource,
 * so the token never goes in a URL).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StoredPolicy } from '../../policy/stored.js';
import type { HealthChange } from '../health.js';
import type { ReplicaEvent, RollbackEvent } from '../events.js';
import { ErrorBody, HISTORY_TICKS, type HistorySample, type SnapshotEvent, type StatsEvent, type StreamEventMap } from './api-schemas.js';
import type { AdminContext } from './context.js';
import { StatsHistory } from './history.js';
import { SSE_KEEP_ALIVE, sseFrame } from './sse.js';
import { modelState, modelView, policyView, replicaView, requestsByProtocol, rolloutView, shadowView, STATS_WINDOW_SECONDS, statsView } from './views.js';

const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export const streamRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (app, { ctx }) => {
  const clients = new Set<ServerResponse>();

  const broadcast = <E extends keyof StreamEventMap>(event: E, data: StreamEventMap[E]): void => {
    if (clients.size === 0) return;
    const frame = sseFrame(event, JSON.stringify(data));
    for (const res of clients) {
      if (res.writableLength > MAX_BUFFERED) {
        clients.delete(res);
        res.destroy();
      } else {
        res.write(frame);
      }
    }
  };

  const onPolicy = (stored: StoredPolicy): void =>
    broadcast('policy', {
      model: stored.model,
      revision: stored.revision,
      reason: stored.reason,
      by: stored.updatedBy,
      at: stored.updatedAt,
      paused: stored.paused,
      rolledBack: stored.rolledBack,
      rollout: rolloutView(stored.rollout, stored.policy),
      note: stored.note,
      policy: policyView(stored.policy),
    });
  const onHealth = (change: HealthChange): void => broadcast('health', { ...change, at: new Date().toISOString() });
  const onReplica = (event: ReplicaEvent): void => broadcast('replica', { ...event, at: new Date().toISOString() });
  const onRollback = (event: RollbackEvent): void => broadcast('rollback', { ...event, at: new Date().toISOString() });
  const onStore = (status: { available: boolean; detail: string }): void => broadcast('store', { ...status, at: new Date().toISOString() });
  const history = new StatsHistory(HISTORY_TICKS);
  // Every tick is recorded, with or without clients, so a page opened later has its history;
  // the per-replica part is built only for clients, the history keeps the charts' numbers alone.
  const onTick = (): void => {
    const at = new Date().toISOString();
    const samples = new Map<string, HistorySample>();
    const models: StatsEvent['models'] = [];
    for (const m of ctx.snapshots.current.models.values()) {
      const pools = [...(ctx.pools.pools(m.name)?.values() ?? [])];
      const versions = pools.map((pool) => ({
        pool,
        role: pool === m.stable ? ('stable' as const) : pool === m.canary ? ('canary' as const) : ('idle' as const),
        stats: statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
      }));
      const shadow = shadowView(m, ctx);
      const results = shadow?.results ?? null;
      samples.set(m.name, {
        at,
        versions: versions.map(({ pool, role, stats }) => ({ version: pool.version, role, rps: stats.rps, errorRate: stats.errorRate, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms })),
        ...(results === null ? {} : { shadow: { version: results.version, agreementRate: results.agreementRate } }),
      });
      if (clients.size === 0) continue;
      models.push({
        name: m.name,
        revision: m.revision,
        state: modelState(m),
        percent: m.policy.percent,
        shadow,
        versions: versions.map(({ pool, role, stats }) => ({
          version: pool.version,
          role,
          healthyReplicas: pool.healthyCount,
          availableReplicas: pool.availableCount,
          draining: pool.draining,
          ...stats,
          requestsByProtocol: requestsByProtocol(pool.stats),
          replicas: pool.replicas.map(replicaView),
        })),
      });
    }
    history.record(samples);
    if (clients.size > 0) broadcast('stats', { at, windowSeconds: STATS_WINDOW_SECONDS, models } satisfies StatsEvent);
  };
  ctx.events.on('policy', onPolicy);
  ctx.events.on('health', onHealth);
  ctx.events.on('replica', onReplica);
  ctx.events.on('rollback', onRollback);
  ctx.events.on('store', onStore);
  ctx.events.on('tick', onTick);
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(SSE_KEEP_ALIVE);
  }, HEARTBEAT_MS);
  heartbeat.unref();

  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    ctx.events.off('policy', onPolicy);
    ctx.events.off('health', onHealth);
    ctx.events.off('replica', onReplica);
    ctx.events.off('rollback', onRollback);
    ctx.events.off('store', onStore);
    ctx.events.off('tick', onTick);
    for (const res of clients) res.end();
    clients.clear();
  });

  app.get(
    '/api/events',
    {
      schema: {
        summary: 'Server-Sent Events: snapshot, policy, health, replica, rollback, store, stats (1/s)',
        description:
          'The `snapshot` event (first) is a SnapshotEvent: every model and, per model, its last stats ticks. The `stats` event, once a second, is a StatsEvent: per model and version the live numbers, with each replica (health, in flight, last check, breaker, ejection). The data of every event has its schema in components.schemas, named after the event: `policy` is a PolicyEvent, `replica` a ReplicaEvent, and so on.',
        tags: ['events'],
        produces: ['text/event-stream'],
        response: { 401: ErrorBody },
      },
    },
    (request, reply) => {
      const res = reply.raw;
      // Headers set by earlier hooks (CORS) are not written for a hijacked reply: copy them.
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      reply.hijack();
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const snapshot: SnapshotEvent = {
        models: [...ctx.snapshots.current.models.values()].map((m) => modelView(m, ctx.pools, ctx)),
        storeAvailable: ctx.store.isAvailable(),
        history: history.toJSON(),
      };
      res.write(`retry: 2000\n${sseFrame('snapshot', JSON.stringify(snapshot))}`);
      clients.add(res);
      request.raw.once('close', () => clients.delete(res));
      res.once('close', () => clients.delete(res));
    },
  );
};
