/**
 * The admin event stream (Server-Sent Events): a `snapshot` of every model (with the last stats
 * ticks of each, for charts) on connect, then `policy`, `health`, `replica` (breakers, ejections),
 * `rollback` and `store` events as they happen and a `stats` tick once a second (with every
 * replica's live state); each payload's schema is in api-schemas.ts (StreamEvents), the frames'
 * format in sse.ts. Payloads are built once per event and written to every client; the two large
 * ones (the stats tick, a client's snapshot) are built and serialized model by model in slices
 * (runtime/slices.ts), so ten open pages over a hundred models never stall a request; a client
 * that cannot keep up (over 1 MiB unsent) is disconnected rather than buffered without bound. Clients send the
 * bearer token in the Authorization header (browsers: fetch with a streaming body, not EventSource,
 * so the token never goes in a URL).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StoredPolicy } from '../../policy/stored.js';
import type { HealthChange } from '../health.js';
import type { ReplicaEvent, RollbackEvent } from '../events.js';
import { ErrorBody, HISTORY_TICKS, type HistorySample, type ModelView, type StatsEvent, type StreamEventMap } from './api-schemas.js';
import type { CompiledModel } from '../../dataplane/snapshot.js';
import { inSlices } from '../../runtime/slices.js';
import type { AdminContext } from './context.js';
import { StatsHistory } from './history.js';
import { SSE_KEEP_ALIVE, sseFrame } from './sse.js';
import { modelState, modelView, policyView, replicaView, requestsByProtocol, rolloutView, STATS_WINDOW_SECONDS, statsView } from './views.js';

const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Units per slice of the stream's two passes (the stats tick and a connecting client's snapshot):
 * a replica's view is one unit, a model's own numbers MODEL_UNITS, its two minutes of history in a
 * snapshot HISTORY_UNITS. A model whose pools hold more replicas than that is a slice of its own.
 */
export const STREAM_UNITS_PER_SLICE = 128;
const MODEL_UNITS = 8;
const HISTORY_UNITS = 24;

export const streamRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (app, { ctx }) => {
  const clients = new Set<ServerResponse>();
  /**
   * Clients whose snapshot is being built, over several event-loop turns: the frames broadcast
   * meanwhile wait here, in order, and follow the snapshot, so a client misses no event.
   */
  const pending = new Map<ServerResponse, { frames: Buffer[]; bytes: number }>();
  let closed = false;

  /** One frame to every client; encoded once, however many clients there are. */
  const broadcastJson = (event: keyof StreamEventMap, json: string): void => {
    if (clients.size === 0 && pending.size === 0) return;
    const frame = Buffer.from(sseFrame(event, json));
    for (const res of clients) {
      if (res.writableLength > MAX_BUFFERED) {
        clients.delete(res);
        res.destroy();
      } else {
        res.write(frame);
      }
    }
    for (const [res, queue] of pending) {
      queue.frames.push(frame);
      queue.bytes += frame.length;
      if (queue.bytes > MAX_BUFFERED) {
        pending.delete(res);
        res.destroy();
      }
    }
  };
  const broadcast = <E extends keyof StreamEventMap>(event: E, data: StreamEventMap[E]): void => {
    if (clients.size === 0 && pending.size === 0) return;
    broadcastJson(event, JSON.stringify(data));
  };

  const replicaCount = (model: CompiledModel): number => {
    let n = 0;
    for (const pool of ctx.pools.pools(model.name)?.values() ?? []) n += pool.replicas.length;
    return n;
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

  /**
   * Every tick is recorded, with or without clients, so a page opened later has its history; the
   * per-replica part is built only for clients, the history keeps the charts' numbers alone. Model
   * by model, in slices; each model's part of the event is serialized as it is built, and the
   * event is the pieces joined (StatsEvent's shape, written out below).
   */
  const statsPass = async (): Promise<void> => {
    const at = new Date().toISOString();
    const live = clients.size > 0 || pending.size > 0;
    const models = ctx.snapshots.current.models;
    const pieces: string[] = [];
    await inSlices(
      { work: 'event-stream stats', budget: STREAM_UNITS_PER_SLICE, weight: (m) => MODEL_UNITS + (live ? replicaCount(m) : 0), stopped: () => closed },
      models.values(),
      (m) => {
        const pools = [...(ctx.pools.pools(m.name)?.values() ?? [])];
        const versions = pools.map((pool) => ({
          pool,
          role: pool === m.stable ? ('stable' as const) : pool === m.canary ? ('canary' as const) : ('idle' as const),
          stats: statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
        }));
        history.add(m.name, {
          at,
          versions: versions.map(({ pool, role, stats }) => ({ version: pool.version, role, rps: stats.rps, errorRate: stats.errorRate, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms })),
        });
        if (!live) return;
        const entry: StatsEvent['models'][number] = {
          name: m.name,
          revision: m.revision,
          state: modelState(m),
          percent: m.policy.percent,
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
        };
        pieces.push(JSON.stringify(entry));
      },
    );
    if (closed) return;
    history.retain(models);
    if (live) broadcastJson('stats', `{"at":${JSON.stringify(at)},"windowSeconds":${STATS_WINDOW_SECONDS},"models":[${pieces.join(',')}]}`);
  };
  let ticking = false;
  const onTick = (): void => {
    // A pass still under way (a slow machine) makes this tick skip rather than run alongside.
    if (ticking) return;
    ticking = true;
    statsPass()
      .catch((err: unknown) => ctx.log.error({ err }, 'event stream stats pass failed'))
      .finally(() => {
        ticking = false;
      });
  };

  /**
   * A new client's snapshot (SnapshotEvent), model by model in slices, then the frames broadcast
   * meanwhile, then the client joins the broadcast.
   */
  const open = async (res: ServerResponse): Promise<void> => {
    pending.set(res, { frames: [], bytes: 0 });
    const views: string[] = [];
    const histories: string[] = [];
    await inSlices(
      {
        work: 'event-stream snapshot',
        budget: STREAM_UNITS_PER_SLICE,
        weight: (m) => MODEL_UNITS + HISTORY_UNITS + replicaCount(m),
        stopped: () => closed || res.destroyed,
      },
      [...ctx.snapshots.current.models.values()],
      (m) => {
        const view: ModelView = modelView(m, ctx.pools);
        views.push(JSON.stringify(view));
        const samples: HistorySample[] = history.of(m.name);
        if (samples.length > 0) histories.push(`${JSON.stringify(m.name)}:${JSON.stringify(samples)}`);
      },
    );
    const queue = pending.get(res);
    pending.delete(res);
    if (closed || res.destroyed || queue === undefined) return;
    const snapshot = `{"models":[${views.join(',')}],"storeAvailable":${String(ctx.store.isAvailable())},"history":{${histories.join(',')}}}`;
    res.write(`retry: 2000\n${sseFrame('snapshot', snapshot)}`);
    for (const frame of queue.frames) res.write(frame);
    clients.add(res);
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
    closed = true;
    clearInterval(heartbeat);
    ctx.events.off('policy', onPolicy);
    ctx.events.off('health', onHealth);
    ctx.events.off('replica', onReplica);
    ctx.events.off('rollback', onRollback);
    ctx.events.off('store', onStore);
    ctx.events.off('tick', onTick);
    for (const res of clients) res.end();
    for (const res of pending.keys()) res.end();
    clients.clear();
    pending.clear();
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
      const forget = (): void => {
        clients.delete(res);
        pending.delete(res);
      };
      request.raw.once('close', forget);
      res.once('close', forget);
      open(res).catch((err: unknown) => {
        ctx.log.error({ err }, 'event stream snapshot failed');
        res.destroy();
      });
    },
  );
};
