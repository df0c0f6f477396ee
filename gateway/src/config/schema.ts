/**
 * The configuration file's schema. Every field has a default except the models, so a minimal file
 * is just the models with their pools and initial policy.
 */
import Type, { type Static } from 'typebox';
import { Policy, Version } from '../policy/schema.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Host = Type.String({ minLength: 1, maxLength: 255 });
const Millis = (min: number, max: number, description: string) => Type.Integer({ minimum: min, maximum: max, description });

export const Listener = Type.Object({ host: Type.Optional(Host), port: Type.Optional(Port) }, { additionalProperties: false });

export const HealthCheck = Type.Object(
  {
    intervalMs: Type.Optional(Millis(50, 3_600_000, 'Time between two checks of one replica.')),
    timeoutMs: Type.Optional(Millis(10, 600_000, 'A check that takes longer failed.')),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive good checks to bring a down replica back.' })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive failed checks to take a replica out.' })),
  },
  { additionalProperties: false },
);

export const ReplicaUrl = Type.String({
  minLength: 8,
  maxLength: 2048,
  pattern: '^https?://',
  description: 'Base URL of one TF Serving REST endpoint, e.g. http://10.0.0.7:8501.',
});

export const PoolConfig = Type.Object(
  { replicas: Type.Array(ReplicaUrl, { minItems: 1, maxItems: 10000 }) },
  { additionalProperties: false },
);

export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$';
export const VERSION_KEY_PATTERN = '^(0|[1-9][0-9]{0,15})$';

export const ModelConfig = Type.Object(
  {
    pools: Type.Record(Type.String({ pattern: VERSION_KEY_PATTERN }), PoolConfig, {
      minProperties: 1,
      additionalProperties: false,
      propertyNames: { pattern: VERSION_KEY_PATTERN },
      description: 'Version number -> the replicas serving it.',
    }),
    policy: Policy,
    healthCheck: Type.Optional(HealthCheck),
  },
  { additionalProperties: false },
);

export const GatewayConfigSchema = Type.Object(
  {
    listeners: Type.Optional(
      Type.Object({ rest: Type.Optional(Listener), admin: Type.Optional(Listener) }, { additionalProperties: false }),
    ),
    admin: Type.Optional(
      Type.Object(
        { token: Type.Optional(Type.String({ minLength: 16, maxLength: 512, description: 'Bearer token for the admin API; ADMIN_TOKEN overrides.' })) },
        { additionalProperties: false },
      ),
    ),
    store: Type.Optional(
      Type.Object({ type: Type.Literal('memory') }, { additionalProperties: false, description: 'Where policies live.' }),
    ),
    labels: Type.Optional(
      Type.Object(
        {
          stable: Type.Optional(Type.String({ pattern: '^[^/:]+$', maxLength: 200 })),
          canary: Type.Optional(Type.String({ pattern: '^[^/:]+$', maxLength: 200 })),
        },
        { additionalProperties: false, description: 'Version label names that pin a side: /labels/{name}.' },
      ),
    ),
    proxy: Type.Optional(
      Type.Object(
        {
          deadlineMs: Type.Optional(Millis(1, 3_600_000, 'Whole-request deadline; then 504.')),
          connectTimeoutMs: Type.Optional(Millis(1, 600_000, 'TCP connect timeout to a replica.')),
          maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31, description: 'Larger request bodies get 413.' })),
          retryBufferBytes: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 2 ** 31, description: 'Bodies up to this size are kept so a failed attempt can be retried.' }),
          ),
          connectionsPerReplica: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          keepAliveTimeoutMs: Type.Optional(Millis(1, 600_000, 'Idle keep-alive time of upstream connections.')),
        },
        { additionalProperties: false },
      ),
    ),
    healthCheck: Type.Optional(HealthCheck),
    models: Type.Record(Type.String({ pattern: MODEL_NAME_PATTERN }), ModelConfig, {
      minProperties: 1,
      additionalProperties: false,
      propertyNames: { pattern: MODEL_NAME_PATTERN },
      description: 'Model name (as clients use it in /v1/models/{name}) -> its pools and initial policy.',
    }),
  },
  { additionalProperties: false },
);

export type GatewayConfigInput = Static<typeof GatewayConfigSchema>;
export type HealthCheckInput = Static<typeof HealthCheck>;
export { Version };
