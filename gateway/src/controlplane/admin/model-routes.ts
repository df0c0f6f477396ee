/**
 * Models: read their state, and the operator's actions on them (replace the policy, set the
 * canary percentage, replace the rules, roll back, promote, pause, resume, clear a rejected candidate). Each action is one
 * route with its own small schema, so a client cannot send more than the action takes.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Policy } from '../../policy/schema.js';
import { clearRejected, promote, replacePolicy, rollback, setPaused, setPercent, setPlan, setRules, setShadow } from '../changes.js';
import { ActionBody, ConflictBody, ErrorBody, ETAG_HEADER, ModelList, ModelView, PercentBody, PlanBody, RulesBody, ShadowBody } from './api-schemas.js';
import type { AdminContext } from './context.js';
import { AdminError, unknownModel } from './errors.js';
import { DEFAULT_HEALTH_CHECK, replicaOrigin } from '../../config/load.js';
import { ReplicaUrl, VERSION_KEY_PATTERN } from '../../config/schema.js';
import { ReplicaChangeError } from '../replicas.js';
import type { Issue } from '../../validation.js';
import { mutate } from './mutate.js';
import { modelView } from './views.js';
import { identityOf } from './auth.js';

const ModelParams = Type.Object({ model: Type.String({ maxLength: 256 }) });
const IfMatch = Type.Object({
  'if-match': Type.Optional(Type.String({ pattern: '^"?[0-9]{1,15}"?$', description: 'Write only if the stored revision is this one: the ETag of the model, quoted or not.' })),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ConflictBody, 503: ErrorBody };
/** One model's view, with its revision as the ETag (the `headers` option is read by @fastify/swagger only). */
const Tagged = Type.Object(ModelView.properties, { headers: ETAG_HEADER });
const write = { write: true };

function ifMatchOf(headers: { 'if-match'?: string }): number | undefined {
  const raw = headers['if-match'];
  return raw === undefined ? undefined : Number(raw.replace(/"/g, ''));
}

export const modelRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (app, { ctx }) => {
  const view = (model: string, reply: { header(name: string, value: string): unknown }) => {
    const compiled = ctx.snapshots.current.models.get(model);
    if (compiled === undefined) throw unknownModel(model);
    reply.header('etag', `"${compiled.revision}"`);
    return modelView(compiled, ctx.pools, ctx);
  };

  app.get('/api/models', { schema: { summary: 'Every model', tags: ['models'], response: { 200: ModelList, 401: ErrorBody } } }, async () => ({
    models: [...ctx.snapshots.current.models.values()].map((m) => modelView(m, ctx.pools, ctx)),
  }));

  app.get(
    '/api/models/:model',
    { schema: { summary: 'One model: policy, pools, replicas, live stats', tags: ['models'], params: ModelParams, response: { 200: Tagged, ...errors } } },
    async (request, reply) => view(request.params.model, reply),
  );

  app.put(
    '/api/models/:model/policy',
    {
      config: write,
      schema: { summary: 'Replace the policy (validated whole)', tags: ['actions'], params: ModelParams, headers: IfMatch, body: Policy, response: { 200: Tagged, ...errors } },
    },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
        replacePolicy(current, request.body),
      );
      return view(model, reply);
    },
  );

  app.put(
    '/api/models/:model/percent',
    {
      config: write,
      schema: {
        summary: "Set the canary's share of unpinned traffic",
        tags: ['actions'],
        params: ModelParams,
        headers: IfMatch,
        body: PercentBody,
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
        setPercent(current, request.body.percent, request.body.note),
      );
      return view(model, reply);
    },
  );

  app.put(
    '/api/models/:model/rules',
    {
      config: write,
      schema: {
        summary: 'Replace the header rules, cookie rules, sticky key or salt (fields left out stay)',
        tags: ['actions'],
        params: ModelParams,
        headers: IfMatch,
        body: RulesBody,
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const { note, ...rules } = request.body;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
        setRules(current, rules, note),
      );
      return view(model, reply);
    },
  );

  const Action = { params: ModelParams, headers: IfMatch, body: ActionBody };

  app.post(
    '/api/models/:model/rollback',
    { config: write, schema: { summary: 'Roll back: canary to 0% and every unpinned request to stable until an operator acts', tags: ['actions'], ...Action, response: { 200: Tagged, ...errors } } },
    async (request, reply) => {
      const { model } = request.params;
      const note = request.body?.note ?? 'manual rollback';
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'rollback', ifMatch: ifMatchOf(request.headers) }, (current) =>
        rollback(current, note),
      );
      return view(model, reply);
    },
  );

  app.post(
    '/api/models/:model/promote',
    { config: write, schema: { summary: 'Promote: the canary version becomes stable, no canary', tags: ['actions'], ...Action, response: { 200: Tagged, ...errors } } },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'promotion', ifMatch: ifMatchOf(request.headers) }, (current) =>
        promote(current, request.body?.note),
      );
      return view(model, reply);
    },
  );

  app.put(
    '/api/models/:model/shadow',
    {
      config: write,
      schema: {
        summary: 'Set the shadow (copies of a share of unpinned requests to a version, compared with the live answers), or stop it with null',
        tags: ['actions'],
        params: ModelParams,
        headers: IfMatch,
        body: ShadowBody,
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
        setShadow(current, request.body.shadow, request.body.note),
      );
      return view(model, reply);
    },
  );

  app.put(
    '/api/models/:model/plan',
    {
      config: write,
      schema: {
        summary: 'Start a progressive rollout (the first step now), or stop it with null',
        tags: ['actions'],
        params: ModelParams,
        headers: IfMatch,
        body: PlanBody,
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'rollout', ifMatch: ifMatchOf(request.headers) }, (current) =>
        setPlan(current, request.body.plan, request.body.note),
      );
      return view(model, reply);
    },
  );

  app.put(
    '/api/models/:model/pools/:version/replicas',
    {
      config: write,
      schema: {
        summary: "Replace a version pool's replicas on this gateway (the pool is created for a new version)",
        description:
          'Applies to the gateway called only: for every instance, change the configuration file (reloaded on change or SIGHUP) or use DNS names. New replicas take traffic after their first good health check; removed ones finish their requests first.',
        tags: ['replicas'],
        params: Type.Object({ model: Type.String({ maxLength: 256 }), version: Type.String({ pattern: VERSION_KEY_PATTERN }) }),
        body: Type.Object({ replicas: Type.Array(ReplicaUrl, { maxItems: 10_000 }) }, { additionalProperties: false }),
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const version = Number(request.params.version);
      if (ctx.snapshots.current.models.get(model) === undefined) throw unknownModel(model);
      const issues: Issue[] = [];
      const origins: string[] = [];
      request.body.replicas.forEach((raw, i) => {
        const origin = replicaOrigin(raw);
        if (typeof origin !== 'string') issues.push({ path: `/replicas/${i}`, message: origin.error });
        else if (origins.includes(origin)) issues.push({ path: `/replicas/${i}`, message: `repeats ${origin}` });
        else origins.push(origin);
      });
      if (issues.length > 0) throw new AdminError(400, 'invalid replicas', issues);
      try {
        await ctx.replicas.setReplicas(model, version, origins, ctx.healthChecks.get(model) ?? DEFAULT_HEALTH_CHECK);
      } catch (err) {
        if (err instanceof ReplicaChangeError) throw new AdminError(409, err.message, [{ path: '/replicas', message: 'must not be empty for a version the policy uses' }]);
        throw err;
      }
      request.log.info({ model, version, replicas: origins, by: identityOf(request).name }, 'pool replicas set through the admin API');
      return view(model, reply);
    },
  );

  app.post(
    '/api/models/:model/abort',
    { config: write, schema: { summary: 'Abort the rollout: a rollback, noted as an abort', tags: ['actions'], ...Action, response: { 200: Tagged, ...errors } } },
    async (request, reply) => {
      const { model } = request.params;
      const by = identityOf(request).name;
      await mutate(ctx, model, { actor: by, reason: 'rollback', ifMatch: ifMatchOf(request.headers) }, (current) =>
        rollback(current, request.body?.note ?? `rollout aborted by ${by}`),
      );
      return view(model, reply);
    },
  );

  app.delete(
    '/api/models/:model/rejected/:version',
    {
      config: write,
      schema: {
        summary: 'Clear a rejected candidate: onNewVersion may roll it out again (if it is still the newest version found)',
        tags: ['actions'],
        params: Type.Object({ model: Type.String({ maxLength: 256 }), version: Type.String({ pattern: VERSION_KEY_PATTERN }) }),
        headers: IfMatch,
        body: ActionBody,
        response: { 200: Tagged, ...errors },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
        clearRejected(current, Number(request.params.version), request.body?.note),
      );
      return view(model, reply);
    },
  );

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(
      `/api/models/:model/${action}`,
      {
        config: write,
        schema: { summary: paused ? 'Pause automation (the rollout stops stepping)' : 'Resume automation', tags: ['actions'], ...Action, response: { 200: Tagged, ...errors } },
      },
      async (request, reply) => {
        const { model } = request.params;
        await mutate(ctx, model, { actor: identityOf(request).name, reason: 'manual', ifMatch: ifMatchOf(request.headers) }, (current) =>
          setPaused(current, paused, request.body?.note),
        );
        return view(model, reply);
      },
    );
  }
};
