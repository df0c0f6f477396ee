/**
 * The admin API: an encapsulated fastify app on its own port. Routes are schema-first (TypeBox:
 * validation, serialization, the OpenAPI document and the types from one schema); every error is
 * `{error, details}` with each detail naming a field. Every route needs a bearer token; writes
 * need an operator's. Writes go to the store only; the watcher makes them take effect.
 */
import type { ServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError } from 'fastify';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AdminTokenSpec } from '../../config/load.js';
import { compileSchema, escapePointer, issuesFromAjv } from '../../validation.js';
import { identityOf, TokenRegistry } from './auth.js';
import type { AdminContext } from './context.js';
import { AuditList, ErrorBody, Session, StreamEvents } from './api-schemas.js';
import { AdminError } from './errors.js';
import { modelRoutes } from './model-routes.js';
import { opsRoutes, type OpsOptions } from './ops-routes.js';
import { streamRoutes } from './stream.js';
import { auditView } from './views.js';
import { adminUi } from './ui.js';

export interface AdminOptions {
  readonly ops: OpsOptions;
  readonly ctx: AdminContext;
  readonly tokens: readonly AdminTokenSpec[];
  /** Browser origins allowed by CORS; empty: CORS off. */
  readonly corsOrigins: readonly string[];
  readonly version: string;
  /** HTTPS (tls/listener.ts); without it, plain HTTP. */
  readonly https?: ServerOptions;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route changes state: an operator token is required. */
    write?: boolean;
  }
}

export type AdminApi = Awaited<ReturnType<typeof buildAdminApi>>;

export async function buildAdminApi(options: AdminOptions) {
  const { ctx } = options;
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
    forceCloseConnections: true,
    https: options.https ?? null,
    // Answers are written with JSON.stringify, not fast-json-stringify: fastify compiled a serializer
    // per route and status (24, ~85 KB of generated source each, held for good), each with an Ajv
    // of its own that compiles a validator for every union of the response schema at the first
    // answer: 70-160 ms of the event loop once per route. The handlers build their answers from the
    // views, field by field; test/integration/admin/answers-conform.test.ts holds them to the
    // schemas (docs/performance.md: memory).
    schemaController: { compilersFactory: { buildSerializer: () => () => JSON.stringify } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Requests are checked by the gateway's one Ajv (validation.ts), with its options and errors:
  // fastify's own would be a second instance, compiling the policy schema a second time (2.5 MB of
  // heap at idle, docs/performance.md: memory).
  app.setValidatorCompiler(({ schema }) => compileSchema(schema));
  const tokens = new TokenRegistry(options.tokens);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'canary-gateway admin API', version: options.version },
      // The event stream's payloads are not a JSON response the route schema could describe.
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: streamEventSchemas() },
      security: [{ bearer: [] }],
    },
  });
  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'PUT', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'if-match'],
      // A browser client reads the revision from it to send If-Match back.
      exposedHeaders: ['etag'],
      maxAge: 600,
    });
  }

  // An action without options may come with a JSON content type and no body (as fetch sends it):
  // read as {}, which the schemas of routes that need a body refuse with the missing field named.
  // A body the secure parser refuses is answered naming where: the body, or the forbidden key.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') done(null, {});
    else parseJson(request, text, (err, value) => (err === null ? done(null, value) : done(unparsableBody(text))));
  });
  // Every body is JSON: text/plain is refused (415) like any other media type, not read as a string.
  app.removeContentTypeParser('text/plain');

  app.addHook('preValidation', async (request) => {
    if (request.method !== 'GET' && request.body == null) request.body = {};
  });

  app.decorateRequest('identity', null);
  app.setErrorHandler((err: FastifyError | AdminError, request, reply) => {
    if (err instanceof AdminError) {
      if (err.currentRevision === undefined) return reply.code(err.statusCode).send({ error: err.message, details: err.details });
      return reply
        .code(err.statusCode)
        .header('etag', `"${err.currentRevision}"`)
        .send({ error: err.message, details: err.details, currentRevision: err.currentRevision });
    }
    if ('validation' in err && err.validation !== undefined) {
      const where = err.validationContext ?? 'body';
      return reply.code(400).send({
        error: `invalid ${where}`,
        details: issuesFromAjv(err.validation as Parameters<typeof issuesFromAjv>[0], where === 'body' ? '' : `/${where}`),
      });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: err.message, details: [{ path: '/headers/content-type', message: 'must be application/json' }] });
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'admin API failure');
    return reply.code(status).send({ error: status === 500 ? 'internal error' : err.message, details: [] });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no admin route ${request.method} ${request.url.split('?')[0]}`, details: [] }),
  );

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return; // CORS preflights carry no token
    if (request.routeOptions.config.public === true) return; // the UI's static files (ui.ts), probes and metrics
    const identity = tokens.identify(request.headers.authorization);
    if (identity === undefined) {
      reply.header('www-authenticate', 'Bearer realm="canary-gateway"');
      throw new AdminError(401, 'missing or invalid admin token', [
        { path: '/headers/authorization', message: 'must be "Bearer <token>" with a valid admin token' },
      ]);
    }
    if (request.routeOptions.config.write === true && identity.role !== 'operator') {
      throw new AdminError(403, `token "${identity.name}" is a viewer token; this action needs an operator token`, [
        { path: '/headers/authorization', message: 'needs an operator token' },
      ]);
    }
    request.identity = identity;
  });

  await app.register(opsRoutes, options.ops);
  await app.register(modelRoutes, { ctx });
  await app.register(streamRoutes, { ctx });
  await app.register(adminUi);

  app.get(
    '/api/session',
    {
      schema: {
        summary: 'Who the token belongs to, and what it may do',
        tags: ['session'],
        response: { 200: Session, 401: ErrorBody },
      },
    },
    async (request) => {
      const identity = identityOf(request);
      return { name: identity.name, role: identity.role, storeAvailable: ctx.store.isAvailable(), store: ctx.store.kind };
    },
  );

  app.get(
    '/api/audit',
    {
      schema: {
        summary: 'The audit trail, newest first',
        tags: ['audit'],
        querystring: Type.Object(
          { model: Type.Optional(Type.String({ maxLength: 256 })), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) },
          { additionalProperties: false },
        ),
        response: { 200: AuditList, 400: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const limit = Math.min(1000, Math.max(1, Number(request.query.limit ?? 50)));
      try {
        const entries = await ctx.store.audit({ limit, ...(request.query.model === undefined ? {} : { model: request.query.model }) });
        return { entries: entries.map(auditView) };
      } catch (err) {
        if (err instanceof Error && err.name === 'StoreUnavailableError') throw new AdminError(503, `${err.message}; the audit trail cannot be read now`);
        throw err;
      }
    },
  );

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}

/** Each event's schema under a name made of the event's: `snapshot` is SnapshotEvent, `stats` StatsEvent... */
function streamEventSchemas(): Record<string, object> {
  return Object.fromEntries(Object.entries(StreamEvents).map(([event, schema]) => [`${event.charAt(0).toUpperCase()}${event.slice(1)}Event`, schema]));
}

/** Why the secure parser refused a body: not JSON at all, or a key that could pollute prototypes. */
function unparsableBody(text: string): AdminError {
  let value: unknown;
  try {
    value = JSON.parse(text); // plain JSON.parse keeps `__proto__` as an ordinary own key: safe to inspect
  } catch (err) {
    return new AdminError(400, 'body is not valid JSON', [{ path: '', message: `is not valid JSON: ${(err as Error).message}` }]);
  }
  return new AdminError(400, 'invalid body', [{ path: forbiddenKey(value) ?? '', message: 'is a forbidden key (__proto__ or constructor.prototype)' }]);
}

/** Pointer of the first `__proto__` or `constructor.prototype` key, walked without recursion. */
function forbiddenKey(root: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[root, '']];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [value, path] = next;
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      const here = `${path}/${escapePointer(key)}`;
      if (key === '__proto__') return here;
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) return `${here}/prototype`;
      stack.push([child, here]);
    }
  }
  return undefined;
}
