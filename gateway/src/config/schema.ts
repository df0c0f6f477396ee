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
    timeoutMs: Type.Optional(Millis(10, 600_000, 'A check that takes longer failed. It may exceed intervalMs: checks of one replica never overlap, the next starts intervalMs after one ends.')),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive good checks to bring a down replica back.' })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive failed checks to take a replica out.' })),
  },
  { additionalProperties: false },
);

export const AdminToken = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9._@-]{1,64}$', description: 'Recorded in the audit trail as the author of a change.' }),
    token: Type.String({ minLength: 16, maxLength: 512 }),
    role: Type.Union([Type.Literal('viewer'), Type.Literal('operator')], { description: 'viewer: read only; operator: read and write.' }),
  },
  { additionalProperties: false },
);

const HostPort = Type.Object({ host: Host, port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });

const FilePath = (description: string) => Type.String({ minLength: 1, maxLength: 4096, description });

export const RedisTls = Type.Object(
  {
    caFile: Type.Optional(FilePath('PEM file of the certificate authorities to trust (default: Node\'s bundled ones).')),
    certFile: Type.Optional(FilePath('PEM file of a client certificate (mutual TLS), with keyFile.')),
    keyFile: Type.Optional(FilePath('PEM file of the client certificate\'s private key, with certFile.')),
    servername: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Name the server certificate must carry (and SNI), when it is not the host connected to (Cluster nodes are announced by address).' })),
    rejectUnauthorized: Type.Optional(Type.Boolean({ description: 'Default true: the server certificate must be valid. false accepts any: for tests only.' })),
  },
  { additionalProperties: false },
);

const Secret = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });

export const StoreSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { description: 'memory: one gateway; redis: shared by every gateway.' }),
    url: Type.Optional(
      Type.String({ pattern: '^rediss?://', maxLength: 2048, description: 'redis://[[user]:password@]host:port[/db]; rediss:// for TLS (as `tls: {}`).' }),
    ),
    sentinels: Type.Optional(Type.Array(HostPort, { minItems: 1, maxItems: 20 })),
    sentinelName: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Master name, with sentinels.' })),
    cluster: Type.Optional(Type.Array(HostPort, { minItems: 1, maxItems: 100, description: 'Redis Cluster seed nodes.' })),
    username: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'ACL user of the Redis servers (Redis 6+; default: `default`). Wins over a user in url.' }),
    ),
    password: Type.Optional(
      Secret('Password of the Redis servers (master and replicas, or every Cluster node). `REDIS_PASSWORD` overrides it; it wins over a password in url.'),
    ),
    db: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Database number (default 0; not with cluster, which has only 0). Wins over /db in url.' })),
    tls: Type.Optional({ ...RedisTls, description: 'TLS to the Redis servers (master and replicas, or every Cluster node); `{}` for the defaults.' }),
    sentinelUsername: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'ACL user of the sentinels themselves, with sentinelPassword.' })),
    sentinelPassword: Type.Optional(
      Secret('Password of the sentinels themselves (their requirepass), if they have one; the master\'s is password. `REDIS_SENTINEL_PASSWORD` overrides it.'),
    ),
    sentinelTls: Type.Optional({ ...RedisTls, description: 'TLS to the sentinels (they may listen in plain text while the master uses TLS, hence apart).' }),
    keyPrefix: Type.Optional(Type.String({ maxLength: 200, description: 'Prefix of every key and channel, so environments can share one Redis.' })),
    resyncIntervalMs: Type.Optional(Millis(100, 3_600_000, 'How often revisions are compared with the store, to heal a missed change message.')),
    auditMaxEntries: Type.Optional(Type.Integer({ minimum: 10, maximum: 10_000_000, description: 'The audit trail keeps about this many entries.' })),
    connectTimeoutMs: Type.Optional(Millis(50, 600_000, 'At start, give up waiting for the store after this and route on the configured policies.')),
    commandTimeoutMs: Type.Optional(Millis(10, 600_000, 'No store command waits longer.')),
  },
  { additionalProperties: false, description: 'Where policies live.' },
);

const Fraction = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

export const Resilience = Type.Object(
  {
    breaker: Type.Optional(
      Type.Object(
        {
          errorThresholdPercentage: Type.Optional(Type.Number({ minimum: 1, maximum: 100, description: 'A replica breaker opens above this share of failed attempts.' })),
          volumeThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Attempts in the window before a breaker may open.' })),
          windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600, description: 'Rolling window of a breaker.' })),
          resetTimeoutMs: Type.Optional(Millis(100, 3_600_000, 'An open breaker lets one trial attempt through (half-open) after this.')),
        },
        { additionalProperties: false, description: 'Per replica (opossum): 5xx, connection errors and timeouts count; 4xx do not.' },
      ),
    ),
    retry: Type.Optional(
      Type.Object(
        {
          budgetPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Retries landing on a pool stay under this share of its requests.' })),
          minRetriesPerSecond: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'Retries always allowed, whatever the budget says.' })),
          attemptTimeoutMs: Type.Optional(Millis(1, 3_600_000, 'An attempt without response headers by then is abandoned and retried (within the deadline).')),
        },
        { additionalProperties: false },
      ),
    ),
    ejection: Type.Optional(
      Type.Object(
        {
          consecutiveFailures: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Consecutive 5xx or connection failures that eject a replica.' })),
          baseMs: Type.Optional(Millis(10, 3_600_000, 'Ejection time, times the number of ejections.')),
          maxMs: Type.Optional(Millis(10, 86_400_000, 'Longest ejection.')),
          maxEjectedPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Never eject more than this share of a pool.' })),
        },
        { additionalProperties: false },
      ),
    ),
    drain: Type.Optional(
      Type.Object(
        {
          errorRate: Type.Optional(Fraction('A canary pool whose error rate is above this drains to stable.')),
          windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
          minRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    analysis: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ description: 'Automatic rollback (and rollout steps) from live numbers.' })),
          windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
          minRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Canary requests in the window before it is judged.' })),
          maxErrorRate: Type.Optional(Fraction('Roll back above max(maxErrorRate, errorRatio x stable error rate).')),
          errorRatio: Type.Optional(Type.Number({ minimum: 1, maximum: 1000 })),
          latencyRatio: Type.Optional(Type.Number({ minimum: 1, maximum: 1000, description: 'Roll back when canary p99 > latencyRatio x stable p99 + latencyMarginMs.' })),
          latencyMarginMs: Type.Optional(Type.Number({ minimum: 0, maximum: 3_600_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'Breakers, retries, ejection, drain and the rollback analysis.' },
);

export type ResilienceInput = Static<typeof Resilience>;

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
    resilience: Type.Optional(Resilience),
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
        {
          tokens: Type.Optional(Type.Array(AdminToken, { maxItems: 100 })),
          cors: Type.Optional(
            Type.Object(
              { origins: Type.Array(Type.String({ pattern: '^https?://[^/]+$', maxLength: 300 }), { minItems: 1, maxItems: 50 }) },
              { additionalProperties: false, description: 'Browser origins allowed to call the admin API (CORS is off without this).' },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    store: Type.Optional(StoreSchema),
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
    resilience: Type.Optional(Resilience),
    dns: Type.Optional(
      Type.Object(
        {
          servers: Type.Optional(
            Type.Array(Type.String({ pattern: '^[0-9A-Fa-f.:\\[\\]]+$', maxLength: 60 }), {
              maxItems: 10,
              description: 'DNS servers ("10.0.0.2", "10.0.0.2:5353", "[::1]:53") for replica host names; default: the system resolver.',
            }),
          ),
          refreshMs: Type.Optional(Millis(100, 3_600_000, 'How often replica host names are resolved again.')),
        },
        { additionalProperties: false, description: 'A replica URL naming a host (http) stands for one replica per address of that host.' },
      ),
    ),
    shutdown: Type.Optional(
      Type.Object(
        {
          readinessDelayMs: Type.Optional(Millis(0, 600_000, 'On SIGTERM, /readyz fails this long before the listeners close, so load balancers stop sending first.')),
          drainTimeoutMs: Type.Optional(Millis(0, 3_600_000, 'Longest wait for in-flight requests to finish before the remaining connections are cut.')),
        },
        { additionalProperties: false },
      ),
    ),
    runtime: Type.Optional(
      Type.Object(
        {
          heapGrowthPercent: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 300,
              description:
                'How far the heap may grow past its live objects before a full garbage collection, in percent; 0 leaves it to V8 (up to 300). Lower keeps memory down under many connections at some CPU cost.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    logging: Type.Optional(
      Type.Object(
        {
          access: Type.Optional(
            Type.Union([Type.Literal('off'), Type.Literal('errors'), Type.Literal('all')], {
              description: 'Access log lines: none, only requests that ended in a 5xx or failed, or every request (sampled by sampleRate).',
            }),
          ),
          sampleRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Share of requests logged when access is all.' })),
        },
        { additionalProperties: false },
      ),
    ),
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
