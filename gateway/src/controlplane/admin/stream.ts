/**
 * The admin event stream (Server-Sent Events): a `snapshot` of every model on connect, then
 * `policy`, `health`, `replica` (breakers, ejections), `rollback` and `store` events as they happen and a `stats` tick once a
 * second. Payloads are built once per event and written to every client; a client that cannot
 * keep up (over 1 MiB unsent) is disconnected rather than buffered without bound. Clients send the
 * bearer token in the Authorization header (browsers: fetch with a streaming body, not EventSource,
 * so the token never goes in a URL).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StoredPolicy } from '../../policy/stored.js';
import type { HealthChange } from '../health.js';
import type { ReplicaEvent, RollbackEvent } from '../events.js';
import type { AdminContext } from './context.js';
import { ErrorBody } from './errors.js';
import { modelState, modelView, STATS_WINDOW_SECONDS, statsView } from './views.js';

const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export const streamRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (app, { ctx }) => {
  const clients = new Set<ServerResponse>();

  const broadcast = (event: string, data: unknown): void => {
    if (clients.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
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
      rollout: stored.rollout,
      note: stored.note,
      policy: stored.policy,
    });
  const onHealth = (change: HealthChange): void => broadcast('health', { ...change, at: new Date().toISOString() });
  const onReplica = (event: ReplicaEvent): void => broadcast('replica', { ...event, at: new Date().toISOString() });
  const onRollback = (event: RollbackEvent): void => broadcast('rollback', { ...event, at: new Date().toISOString() });
  const onStore = (status: { available: boolean; detail: string }): void => broadcast('store', { ...status, at: new Date().toISOString() });
  const onTick = (): void => {
    if (clients.size === 0) return;
    broadcast('stats', {
      at: new Date().toISOString(),
      windowSeconds: STATS_WINDOW_SECONDS,
      models: [...ctx.snapshots.current.models.values()].map((m) => ({
        name: m.name,
        revision: m.revision,
        state: modelState(m),
        percent: m.policy.percent,
        versions: [...(ctx.pools.pools(m.name)?.values() ?? [])].map((pool) => ({
          version: pool.version,
          role: pool === m.stable ? 'stable' : pool === m.canary ? 'canary' : 'idle',
          healthyReplicas: pool.healthyCount,
          availableReplicas: pool.availableCount,
          draining: pool.draining,
          ...statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
        })),
      })),
    });
  };
  ctx.events.on('policy', onPolicy);
  ctx.events.on('health', onHealth);
  ctx.events.on('replica', onReplica);
  ctx.events.on('rollback', onRollback);
  ctx.events.on('store', onStore);
  ctx.events.on('tick', onTick);
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
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
      res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify({ models: [...ctx.snapshots.current.models.values()].map((m) => modelView(m, ctx.pools)), storeAvailable: ctx.store.isAvailable() })}\n\n`);
      clients.add(res);
      request.raw.once('close', () => clients.delete(res));
      res.once('close', () => clients.delete(res));
    },
  );
};
