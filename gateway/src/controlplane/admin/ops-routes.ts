/**
 * What orchestrators and Prometheus ask for, without a token: liveness, readiness and metrics.
 * They answer from memory and never touch the store.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export interface Readiness {
  readonly ready: boolean;
  /** Each check and whether it passes; a failing one says why. */
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail: string }>>;
}

export interface OpsOptions {
  readonly readiness: () => Readiness;
  readonly metrics: Registry;
}

export const opsRoutes: FastifyPluginAsync<OpsOptions> = async (app, options) => {
  const open = { public: true };
  app.get('/healthz', { config: open, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: open, schema: { hide: true } }, async (_request, reply) => {
    const readiness = options.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/metrics', { config: open, schema: { hide: true } }, async (_request, reply) => {
    const text = await options.metrics.metrics();
    return reply.type(options.metrics.contentType).send(text);
  });
};
