/**
 * The admin API: an encapsulated fastify app on its own port. Routes are schema-first (TypeBox:
 * validation, serialization and types from one schema); every error is `{error, details}` where
 * each detail names a field. Writes go to the store only; the watcher makes them take effect.
 */
import Fastify, { LogController, type FastifyError } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Logger } from 'pino';
import { Policy } from '../../policy/schema.js';
import { validatePolicy } from '../../policy/validate.js';
import type { PoolRegistry } from '../../dataplane/pool-registry.js';
import type { SnapshotHolder } from '../../dataplane/snapshot.js';
import { issuesFromAjv, type Issue } from '../../validation.js';
import { RevisionConflictError, type PolicyStore } from '../store/types.js';
import { TokenCheck } from './auth.js';
import { ModelList, ModelView, modelView } from './views.js';

export interface AdminOptions {
  readonly token: string;
  readonly store: PolicyStore;
  readonly snapshots: SnapshotHolder;
  readonly pools: PoolRegistry;
  readonly logger: Logger;
}

const ErrorBody = Type.Object({
  error: Type.String(),
  details: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

class AdminError extends Error {
  readonly statusCode: number;
  readonly details: readonly Issue[];
  constructor(statusCode: number, message: string, details: readonly Issue[] = []) {
    super(message);
    this.statusCode = statusCode;
    this.details = details;
  }
}

export type AdminApi = ReturnType<typeof buildAdminApi>;

export function buildAdminApi(options: AdminOptions) {
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: true } },
    bodyLimit: 4 * 1024 * 1024,
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const tokens = new TokenCheck(options.token);

  app.setErrorHandler((err: FastifyError | AdminError, request, reply) => {
    if (err instanceof AdminError) {
      return reply.code(err.statusCode).send({ error: err.message, details: err.details });
    }
    if ('validation' in err && err.validation !== undefined) {
      const where = err.validationContext ?? 'body';
      return reply.code(400).send({
        error: `invalid ${where}`,
        details: issuesFromAjv(err.validation as Parameters<typeof issuesFromAjv>[0], where === 'body' ? '' : `/${where}`),
      });
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'admin API failure');
    return reply.code(status).send({ error: status === 500 ? 'internal error' : err.message, details: [] });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no admin route ${request.method} ${request.url.split('?')[0]}`, details: [] }),
  );

  app.addHook('onRequest', async (request, reply) => {
    if (!tokens.accepts(request.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer realm="canary-gateway"');
      throw new AdminError(401, 'missing or invalid admin token', [
        { path: '/headers/authorization', message: 'must be "Bearer <token>" with a valid admin token' },
      ]);
    }
  });

  const ModelParams = Type.Object({ model: Type.String({ maxLength: 256 }) });

  app.get('/api/models', { schema: { response: { 200: ModelList, 401: ErrorBody } } }, async () => {
    const models = [];
    for (const compiled of options.snapshots.current.models.values()) {
      models.push(modelView(compiled, await options.store.get(compiled.name), options.pools));
    }
    return { models };
  });

  app.get(
    '/api/models/:model',
    { schema: { params: ModelParams, response: { 200: ModelView, 404: ErrorBody } } },
    async (request) => {
      const compiled = options.snapshots.current.models.get(request.params.model);
      if (compiled === undefined) throw unknownModel(request.params.model);
      return modelView(compiled, await options.store.get(compiled.name), options.pools);
    },
  );

  app.put(
    '/api/models/:model/policy',
    {
      schema: {
        params: ModelParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ pattern: '^"?[0-9]{1,15}"?$' })) }),
        body: Policy,
        response: { 200: ModelView, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const { model } = request.params;
      if (options.snapshots.current.models.get(model) === undefined) throw unknownModel(model);
      const check = validatePolicy(request.body, { model, versions: options.pools.versions(model) });
      if (!check.ok) throw new AdminError(400, 'invalid policy', check.issues);
      const ifMatch = request.headers['if-match'];
      const expectedRevision = ifMatch === undefined ? undefined : Number(ifMatch.replace(/"/g, ''));
      try {
        const stored = await options.store.put({ model, policy: check.policy, expectedRevision, actor: 'admin', reason: 'manual' });
        request.log.info({ model, revision: stored.revision }, 'policy written through the admin API');
      } catch (err) {
        if (err instanceof RevisionConflictError) {
          throw new AdminError(409, err.message, [
            { path: '/headers/if-match', message: `current revision is ${err.current?.revision ?? 0}; reload and retry` },
          ]);
        }
        throw err;
      }
      const compiled = options.snapshots.current.models.get(model);
      if (compiled === undefined) throw unknownModel(model);
      return modelView(compiled, await options.store.get(model), options.pools);
    },
  );

  return app;
}

function unknownModel(model: string): AdminError {
  return new AdminError(404, `unknown model ${model}`, [{ path: '/params/model', message: 'is not a model this gateway serves' }]);
}
