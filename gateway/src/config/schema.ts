/**
 * The configuration file's schema: the one description of every field, with its bounds, its
 * meaning and its default. The loader fills the defaults from here (load.ts), the types of the
 * loaded settings are derived from here, and docs/configuration.md is generated from here. Every
 * field has a default except the models, so a minimal file is just the models with their pools
 * and initial policy; a new section with defaults is one edit of this file.
 */
import Type, { type Static } from 'typebox';
import { Policy } from '../policy/schema.js';
import { Defaulted } from '../schema-defaults.js';
import { DEFAULT_HEAP_GROWTH_PERCENT } from '../runtime/heap.js';

const Port = (description: string) => Type.Integer({ minimum: 0, maximum: 65535, description });
const Host = (description: string) => Type.String({ minLength: 1, maxLength: 255, description });
const Millis = (min: number, max: number, description: string) => Type.Integer({ minimum: min, maximum: max, description });
const FilePath = (description: string) => Type.String({ minLength: 1, maxLength: 4096, description });

/** HTTPS on a listener; the same settings for every listener (gateway/src/tls/ serves them). */
export const ListenerTls = Type.Object(
  {
    certFile: FilePath("PEM file of the listener's certificate, then any intermediate certificates."),
    keyFile: FilePath("PEM file of the certificate's private key (not encrypted)."),
    clientCaFile: Type.Optional(
      FilePath('PEM file of the authorities client certificates must chain to: with it, a client without such a certificate is refused (mutual TLS).'),
    ),
  },
  {
    additionalProperties: false,
    description:
      'HTTPS on this listener, TLS 1.2 or later (without it: plain HTTP). The files are read again when they change and on SIGHUP; files that do not load are logged and the ones in force stay.',
  },
);

/** One listener: what it serves, the address and port it binds by default, the variables that override them. */
const Listener = (what: string, description: string, defaults: { host: string; port: number }, env: string) =>
  Type.Object(
    {
      host: Defaulted(Host(`Address the ${what} listener binds (\`${env}_HOST\` overrides it).`), defaults.host),
      port: Defaulted(Port(`Port of the ${what} listener (\`${env}_PORT\` overrides it).`), defaults.port),
      tls: Type.Optional(ListenerTls),
    },
    { additionalProperties: false, description },
  );

export const Listeners = Type.Object(
  {
    rest: Defaulted(
      Listener('REST', "TF Serving's REST API: where clients send `/v1/models/...` requests.", { host: '0.0.0.0', port: 8501 }, 'GATEWAY_REST'),
      {},
    ),
    grpc: Defaulted(
      Listener(
        'gRPC',
        "TF Serving's gRPC API (PredictionService, ModelService) over HTTP/2, every call balanced on its own; grpc.health.v1 for the gateway.",
        { host: '0.0.0.0', port: 8500 },
        'GATEWAY_GRPC',
      ),
      {},
    ),
    admin: Defaulted(
      Listener('admin', 'Admin API, admin UI, `/metrics`, `/healthz` and `/readyz`. Keep it off public networks.', { host: '127.0.0.1', port: 9901 }, 'GATEWAY_ADMIN'),
      {},
    ),
  },
  { additionalProperties: false, description: 'The ports the gateway opens.' },
);

export const HealthCheck = Type.Object(
  {
    intervalMs: Defaulted(Millis(50, 3_600_000, 'Time between two checks of one replica.'), 2000),
    timeoutMs: Defaulted(
      Millis(10, 600_000, 'A check that takes longer failed. It may exceed intervalMs: checks of one replica never overlap, the next starts intervalMs after one ends.'),
      1000,
    ),
    healthyThreshold: Defaulted(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive good checks to bring a down replica back.' }), 2),
    unhealthyThreshold: Defaulted(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive failed checks to take a replica out.' }), 2),
  },
  {
    additionalProperties: false,
    description:
      "Active health checks: `GET /v1/models/{m}/versions/{N}` on every replica, healthy when the version is `AVAILABLE`. Default for every model; a model's own `healthCheck` overrides it field by field.",
  },
);

export const AdminToken = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9._@-]{1,64}$', description: 'Recorded in the audit trail as the author of a change.' }),
    token: Type.String({ minLength: 16, maxLength: 512, description: 'The secret itself, sent as `Authorization: Bearer <token>`; unique among the tokens.' }),
    role: Type.Union([Type.Literal('viewer'), Type.Literal('operator')], { description: 'viewer: read only; operator: read and write.' }),
  },
  { additionalProperties: false },
);

export const Admin = Type.Object(
  {
    tokens: Defaulted(
      Type.Array(AdminToken, {
        maxItems: 100,
        description:
          'Bearer tokens for the admin API. `ADMIN_TOKEN` and `ADMIN_VIEWER_TOKEN` add (or replace) the tokens named `admin` and `viewer`. With none at all, the gateway generates one operator token at start and prints it once.',
      }),
      [],
    ),
    cors: Type.Optional(
      Type.Object(
        {
          origins: Type.Array(Type.String({ pattern: '^https?://[^/]+$', maxLength: 300 }), {
            minItems: 1,
            maxItems: 50,
            description: 'Origins such as `https://ops.example.com` (scheme, host and port, no path).',
          }),
        },
        { additionalProperties: false, description: 'Browser origins allowed to call the admin API (CORS is off without this).' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Who may use the admin API.' },
);

const HostPort = Type.Object(
  {
    host: Host('Host name or address of a node.'),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port of a node.' }),
  },
  { additionalProperties: false },
);

/** TLS as a client: to Redis, to https replicas. */
export const ClientTls = Type.Object(
  {
    caFile: Type.Optional(FilePath('PEM file of the certificate authorities to trust (without it: Node\'s bundled ones).')),
    certFile: Type.Optional(FilePath('PEM file of a client certificate (mutual TLS), with keyFile.')),
    keyFile: Type.Optional(FilePath('PEM file of the client certificate\'s private key, with certFile.')),
    servername: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: 'Name the server certificate must carry (and SNI), when it is not the host connected to (a node announced by its address).',
      }),
    ),
    rejectUnauthorized: Defaulted(Type.Boolean({ description: 'The server certificate must be valid; false accepts any: for tests only.' }), true),
  },
  { additionalProperties: false },
);

const Secret = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });

export const StoreSchema = Type.Object(
  {
    type: Defaulted(Type.Union([Type.Literal('memory'), Type.Literal('redis')], { description: 'memory: one gateway; redis: shared by every gateway.' }), 'memory'),
    url: Type.Optional(
      Type.String({ pattern: '^rediss?://', maxLength: 2048, description: 'redis://[[user]:password@]host:port[/db]; rediss:// for TLS (as `tls: {}`).' }),
    ),
    sentinels: Type.Optional(
      Type.Array(HostPort, { minItems: 1, maxItems: 20, description: 'Redis Sentinel nodes (with `sentinelName`); ioredis follows failovers.' }),
    ),
    sentinelName: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Master name, with sentinels.' })),
    cluster: Type.Optional(Type.Array(HostPort, { minItems: 1, maxItems: 100, description: 'Redis Cluster seed nodes.' })),
    username: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'ACL user of the Redis servers (Redis 6+; without it: `default`). Wins over a user in url.' }),
    ),
    password: Type.Optional(
      Secret('Password of the Redis servers (master and replicas, or every Cluster node). `REDIS_PASSWORD` overrides it; it wins over a password in url.'),
    ),
    db: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Database number (without it: the one in url, else 0; not with cluster, which has only 0). Wins over /db in url.' }),
    ),
    tls: Type.Optional(Type.With(ClientTls, { description: 'TLS to the Redis servers (master and replicas, or every Cluster node, which are announced by address); `{}` for the defaults.' })),
    sentinelUsername: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'ACL user of the sentinels themselves, with sentinelPassword.' })),
    sentinelPassword: Type.Optional(
      Secret('Password of the sentinels themselves (their requirepass), if they have one; the master\'s is password. `REDIS_SENTINEL_PASSWORD` overrides it.'),
    ),
    sentinelTls: Type.Optional(Type.With(ClientTls, { description: 'TLS to the sentinels (they may listen in plain text while the master uses TLS, hence apart).' })),
    keyPrefix: Defaulted(
      Type.String({ maxLength: 200, description: 'Prefix of every key and channel, so environments can share one Redis (`REDIS_KEY_PREFIX` overrides it).' }),
      'canary-gateway:',
    ),
    resyncIntervalMs: Defaulted(Millis(100, 3_600_000, 'How often revisions are compared with the store, to heal a missed change message.'), 5_000),
    auditMaxEntries: Defaulted(Type.Integer({ minimum: 10, maximum: 10_000_000, description: 'The audit trail keeps about this many entries.' }), 10_000),
    connectTimeoutMs: Defaulted(Millis(50, 600_000, 'At start, give up waiting for the store after this and route on the configured policies.'), 2_000),
    commandTimeoutMs: Defaulted(Millis(10, 600_000, 'No store command waits longer.'), 1_000),
  },
  {
    additionalProperties: false,
    description: 'Where policies live. `REDIS_URL` selects the Redis store; `GATEWAY_STORE=memory` sets aside the Redis settings.',
  },
);

/** The store fields that also apply to the memory store; every other one is Redis's. */
export const MEMORY_STORE_FIELDS = ['type', 'auditMaxEntries', 'resyncIntervalMs'] as const satisfies ReadonlyArray<keyof typeof StoreSchema.properties>;

const LabelName = (description: string) => Type.String({ pattern: '^[^/:]+$', maxLength: 200, description });

export const Labels = Type.Object(
  {
    stable: Defaulted(LabelName('Label that pins the stable version: `/v1/models/{m}/labels/{stable}`.'), 'stable'),
    canary: Defaulted(LabelName('Label that pins the canary version: `/v1/models/{m}/labels/{canary}` (not the stable label).'), 'canary'),
  },
  { additionalProperties: false, description: 'Version label names that pin a side: /labels/{name}.' },
);

export const Proxy = Type.Object(
  {
    deadlineMs: Defaulted(Millis(1, 3_600_000, 'Whole-request deadline; then 504.'), 30_000),
    connectTimeoutMs: Defaulted(Millis(1, 600_000, 'TCP connect timeout to a replica.'), 5_000),
    maxBodyBytes: Defaulted(Type.Integer({ minimum: 1, maximum: 2 ** 31, description: 'Larger request bodies get 413.' }), 32 * 1024 * 1024),
    retryBufferBytes: Defaulted(
      Type.Integer({ minimum: 0, maximum: 2 ** 31, description: 'Bodies up to this size are kept so a failed attempt can be retried.' }),
      4 * 1024 * 1024,
    ),
    connectionsPerReplica: Defaulted(
      Type.Integer({
        minimum: 1,
        maximum: 10000,
        description:
          'Connections the gateway may open to one replica, and so the most requests in flight there: a replica at it is passed over, and a version whose every replica is at it answers 503 at once (an unpinned canary request goes to stable).',
      }),
      128,
    ),
    keepAliveTimeoutMs: Defaulted(Millis(1, 600_000, 'Idle keep-alive time of upstream connections.'), 4_000),
    maxRequestsInFlight: Defaulted(
      Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests the gateway handles at once, every model together; a request past it is answered 503 at once.' }),
      10_000,
    ),
    maxBufferedBytes: Defaulted(
      Type.Integer({
        minimum: 1024 * 1024,
        maximum: 2 ** 40,
        description:
          'Request body bytes the gateway keeps in memory at once (retry buffers, the heads of bodies it answers itself); a request that would go past it is answered 503 at once.',
      }),
      256 * 1024 * 1024,
    ),
    instanceId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: "This gateway's name in subsetting (pools' `subsetSize`): gateways with distinct names pick distinct subsets. Without it: the host name (a pod's name).",
      }),
    ),
    headersTimeoutMs: Defaulted(
      Millis(100, 600_000, 'A request whose headers have not all arrived by then loses its connection, as libevent does (at most deadlineMs). Its body must arrive within deadlineMs, counted from its first byte: then 408.'),
      15_000,
    ),
  },
  { additionalProperties: false, description: 'How requests are forwarded to replicas.' },
);

const Fraction = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

export const Resilience = Type.Object(
  {
    breaker: Defaulted(
      Type.Object(
        {
          errorThresholdPercentage: Defaulted(
            Type.Number({ minimum: 1, maximum: 100, description: 'A replica breaker opens above this share of failed attempts.' }),
            50,
          ),
          volumeThreshold: Defaulted(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Attempts in the window before a breaker may open.' }), 10),
          windowSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 600, description: 'Rolling window of a breaker.' }), 10),
          resetTimeoutMs: Defaulted(Millis(100, 3_600_000, 'An open breaker lets one trial attempt through (half-open) after this.'), 5_000),
        },
        { additionalProperties: false, description: 'Per replica (opossum): 5xx, connection errors and timeouts count; 4xx do not.' },
      ),
      {},
    ),
    retry: Defaulted(
      Type.Object(
        {
          budgetPercent: Defaulted(
            Type.Number({ minimum: 0, maximum: 100, description: 'Retries landing on a pool stay under this share of its requests.' }),
            20,
          ),
          minRetriesPerSecond: Defaulted(Type.Integer({ minimum: 0, maximum: 100_000, description: 'Retries always allowed, whatever the budget says.' }), 10),
          attemptTimeoutMs: Defaulted(
            Millis(1, 3_600_000, 'An attempt without response headers by then is abandoned and retried (within the deadline).'),
            10_000,
          ),
        },
        { additionalProperties: false, description: 'One retry of an attempt that failed before any byte reached the client.' },
      ),
      {},
    ),
    ejection: Defaulted(
      Type.Object(
        {
          consecutiveFailures: Defaulted(
            Type.Integer({ minimum: 1, maximum: 10_000, description: 'Consecutive 5xx or connection failures that eject a replica.' }),
            5,
          ),
          baseMs: Defaulted(Millis(10, 3_600_000, 'Ejection time, times the number of ejections.'), 30_000),
          maxMs: Defaulted(Millis(10, 86_400_000, 'Longest ejection (not below baseMs).'), 300_000),
          maxEjectedPercent: Defaulted(Type.Number({ minimum: 0, maximum: 100, description: 'Never eject more than this share of a pool.' }), 50),
        },
        { additionalProperties: false, description: 'Passive outlier ejection of a replica after consecutive failures.' },
      ),
      {},
    ),
    drain: Defaulted(
      Type.Object(
        {
          errorRate: Defaulted(Fraction('A canary pool whose error rate is above this drains to stable.'), 0.5),
          windowSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 60, description: "Window over which the canary pool's error rate is measured." }), 5),
          minRequests: Defaulted(
            Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Attempts in the window before the error rate may drain the canary.' }),
            10,
          ),
        },
        { additionalProperties: false, description: 'Unpinned canary-bound requests go to stable while the canary pool is failing.' },
      ),
      {},
    ),
    analysis: Defaulted(
      Type.Object(
        {
          enabled: Defaulted(Type.Boolean({ description: 'Automatic rollback (and rollout steps) from live numbers.' }), true),
          windowSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 60, description: 'Window the canary and stable are compared over.' }), 10),
          minRequests: Defaulted(
            Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Canary requests in the window before it is judged.' }),
            20,
          ),
          maxErrorRate: Defaulted(Fraction('Roll back above max(maxErrorRate, errorRatio x stable error rate).'), 0.01),
          errorRatio: Defaulted(
            Type.Number({ minimum: 1, maximum: 1000, description: "Roll back when the canary error rate is above errorRatio x stable's (and above maxErrorRate)." }),
            2,
          ),
          latencyRatio: Defaulted(
            Type.Number({ minimum: 1, maximum: 1000, description: 'Roll back when canary p99 > latencyRatio x stable p99 + latencyMarginMs.' }),
            2,
          ),
          latencyMarginMs: Defaulted(
            Type.Number({ minimum: 0, maximum: 3_600_000, description: 'Added to latencyRatio x stable p99 before comparing the canary p99.' }),
            50,
          ),
        },
        { additionalProperties: false, description: 'Automatic rollback: the canary compared with stable over a sliding window.' },
      ),
      {},
    ),
  },
  { additionalProperties: false, description: 'Breakers, retries, ejection, drain and the rollback analysis.' },
);

export const Dns = Type.Object(
  {
    servers: Defaulted(
      Type.Array(Type.String({ pattern: '^[0-9A-Fa-f.:\\[\\]]+$', maxLength: 60 }), {
        maxItems: 10,
        description: 'DNS servers ("10.0.0.2", "10.0.0.2:5353", "[::1]:53") for replica host names; none: the system resolver.',
      }),
      [],
    ),
    refreshMs: Defaulted(Millis(100, 3_600_000, 'How often replica host names are resolved again.'), 10_000),
  },
  { additionalProperties: false, description: 'A replica URL naming a host (http) stands for one replica per address of that host.' },
);

export const Shutdown = Type.Object(
  {
    readinessDelayMs: Defaulted(
      Millis(0, 600_000, 'On SIGTERM, /readyz fails this long before the listeners close, so load balancers stop sending first.'),
      0,
    ),
    drainTimeoutMs: Defaulted(Millis(0, 3_600_000, 'Longest wait for in-flight requests to finish before the remaining connections are cut.'), 30_000),
  },
  { additionalProperties: false },
);

export const Runtime = Type.Object(
  {
    heapGrowthPercent: Defaulted(
      Type.Integer({
        minimum: 0,
        maximum: 300,
        description:
          'How far the heap may grow past its live objects before a full garbage collection, in percent; 0 leaves it to V8 (up to 300). Lower keeps memory down under many connections at some CPU cost.',
      }),
      DEFAULT_HEAP_GROWTH_PERCENT,
    ),
  },
  { additionalProperties: false },
);

export const Logging = Type.Object(
  {
    access: Defaulted(
      Type.Union([Type.Literal('off'), Type.Literal('errors'), Type.Literal('all')], {
        description:
          'Access log lines: none, only requests that ended in a 5xx or failed, or every request (sampled by sampleRate). `ACCESS_LOG` overrides it.',
      }),
      'off',
    ),
    sampleRate: Defaulted(Type.Number({ minimum: 0, maximum: 1, description: 'Share of requests logged when access is all.' }), 1),
  },
  { additionalProperties: false },
);

export const ReplicaUrl = Type.String({
  minLength: 8,
  maxLength: 2048,
  pattern: '^https?://',
  description: 'Base URL of one TF Serving REST endpoint, e.g. http://10.0.0.7:8501.',
});

const GrpcPort = (description: string) => Type.Integer({ minimum: 1, maximum: 65535, description });

export const ReplicaEntry = Type.Union([
  ReplicaUrl,
  Type.Object(
    {
      url: ReplicaUrl,
      grpcPort: GrpcPort("This replica's gRPC port, on the host of its url."),
    },
    { additionalProperties: false, description: 'A replica whose gRPC port is not the pool\'s grpcPort.' },
  ),
]);

export const PoolConfig = Type.Object(
  {
    replicas: Type.Array(ReplicaEntry, {
      minItems: 1,
      maxItems: 10000,
      description: 'Replicas of the pool. A host name that resolves to several addresses (a headless Service) stands for one replica per address.',
    }),
    grpcPort: Defaulted(GrpcPort("The replicas' gRPC port (TF Serving's --port), on the host of each replica URL: gRPC calls go there."), 8500),
    subsetSize: Defaulted(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description:
          "Deterministic subsetting: this gateway sends to, and health-checks, only this many of the pool's replicas (0: all of them). Each gateway picks its own by rendezvous hashing of `proxy.instanceId`, so many gateways spread evenly over a large pool and a replica that comes or goes moves few assignments; a member found down is replaced by the next in the gateway's ranking until it is back.",
      }),
      0,
    ),
  },
  { additionalProperties: false, description: 'The pool serving one version of the model.' },
);

export const Discover = Type.Object(
  {
    replicas: Type.Array(ReplicaEntry, {
      minItems: 1,
      maxItems: 10000,
      description:
        "Replicas serving the model, whatever versions they hold (TF Serving's `model_version_policy`: latest N, all, specific). Each version found AVAILABLE on them gets a pool of these replicas; a host name stands for each of its addresses.",
    }),
    grpcPort: Defaulted(GrpcPort("The replicas' gRPC port, on the host of each replica URL given without one."), 8500),
    subsetSize: Defaulted(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description: "As a pool's `subsetSize`: this gateway polls, health-checks and sends to only this many of the replicas (0: all).",
      }),
      0,
    ),
    minShare: Defaulted(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description:
          'A version counts as found once it is AVAILABLE on at least this share of the replicas polled (and on one at least). It is gone once none that answers reports it AVAILABLE for 3 polls in a row, and its pool is then removed unless the policy routes to it.',
      }),
      0.5,
    ),
  },
  {
    additionalProperties: false,
    description:
      "Versions found on the replicas: the gateway reads `GET /v1/models/{m}` on each one every `healthCheck.intervalMs`. Found and gone versions are written to the store (audited, reason `discovery`) by whichever gateway sees them first; every gateway then has the same pools.",
  },
);

export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$';
export const VERSION_KEY_PATTERN = '^(0|[1-9][0-9]{0,15})$';

export const ModelConfig = Type.Object(
  {
    pools: Type.Optional(
      Type.Record(Type.String({ pattern: VERSION_KEY_PATTERN }), PoolConfig, {
        minProperties: 1,
        additionalProperties: false,
        propertyNames: { pattern: VERSION_KEY_PATTERN },
        description: 'Version number -> the replicas serving it. Required without `discover`; with it, pools of versions its replicas do not serve.',
      }),
    ),
    discover: Type.Optional(Discover),
    policy: Type.With(Policy, {
      description: "The initial traffic policy. The store keeps the one in force: the file's policy is only stored for a model the store has none for.",
    }),
    // No default of their own: what stands in is the top-level section (load.ts overlays a
    // model's fields on it), so the model's sections are never filled by themselves.
    healthCheck: Type.Optional(
      Type.With(HealthCheck, { description: "This model's health checks: the fields of the top-level `healthCheck`, overriding it field by field." }),
    ),
    resilience: Type.Optional(
      Type.With(Resilience, {
        description: "This model's resilience settings: the fields of the top-level `resilience`, overriding them field by field.",
      }),
    ),
  },
  { additionalProperties: false, description: 'One model, by the name clients use in `/v1/models/{name}`.' },
);

export const GatewayConfigSchema = Type.Object(
  {
    listeners: Defaulted(Listeners, {}),
    admin: Defaulted(Admin, {}),
    store: Defaulted(StoreSchema, {}),
    labels: Defaulted(Labels, {}),
    proxy: Defaulted(Proxy, {}),
    healthCheck: Defaulted(HealthCheck, {}),
    resilience: Defaulted(Resilience, {}),
    dns: Defaulted(Dns, {}),
    replicaTls: Defaulted(
      Type.With(ClientTls, {
        description:
          'TLS to https replicas, for requests and health checks alike; plain http replicas ignore it. The files are read again when they change and on SIGHUP.',
      }),
      {},
    ),
    shutdown: Defaulted(Shutdown, {}),
    runtime: Defaulted(Runtime, {}),
    logging: Defaulted(Logging, {}),
    models: Type.Record(Type.String({ pattern: MODEL_NAME_PATTERN }), ModelConfig, {
      minProperties: 1,
      additionalProperties: false,
      propertyNames: { pattern: MODEL_NAME_PATTERN },
      description: 'Model name (as clients use it in /v1/models/{name}) -> its pools and initial policy.',
    }),
  },
  { additionalProperties: false },
);

/** A configuration document as written (defaults not filled). */
export type GatewayConfigInput = Static<typeof GatewayConfigSchema>;
