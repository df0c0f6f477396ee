/**
 * Reads the configuration (YAML or JSON), checks it whole, applies environment overrides and fills
 * defaults. Nothing starts on a configuration with an error: the caller prints the issues and exits.
 *
 * Every default comes from the schema (schema.ts), and so does the type of every loaded section.
 * A value is settled in this order: the schema's default, the file's top-level section, a model's
 * own section (healthCheck, resilience), the environment.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validatePolicy } from '../policy/validate.js';
import type { PolicyDocument } from '../policy/schema.js';
import { fillDefaults, type Filled } from '../schema-defaults.js';
import { compileSchema, escapePointer, issuesFromAjv, ValidationError, type Issue } from '../validation.js';
import type { Static } from 'typebox';
import { Discover, GatewayConfigSchema, HealthCheck, MEMORY_STORE_FIELDS, PoolConfig, type ReplicaEntry, Proxy, Resilience, type GatewayConfigInput, type StoreSchema } from './schema.js';
import { readEnvOverrides, type EnvOverrides } from './env.js';
import { loadClientTls, loadListenerTls, readClientTlsFiles, type ClientTlsSettings } from '../tls/pem.js';

/** The file with its defaults filled in: what every loaded section below is cut from. */
type FilledConfig = Filled<typeof GatewayConfigSchema>;

export type ListenerSettings = FilledConfig['listeners']['rest'];
export type HealthCheckSettings = FilledConfig['healthCheck'];
export type ResilienceSettings = FilledConfig['resilience'];
export type ProxySettings = FilledConfig['proxy'];
export type LabelSettings = FilledConfig['labels'];
export type DnsSettings = FilledConfig['dns'];
export type ShutdownSettings = FilledConfig['shutdown'];
export type AccessLogSettings = FilledConfig['logging'];
export type RuntimeSettings = FilledConfig['runtime'];
export type AdminTokenSpec = FilledConfig['admin']['tokens'][number];
export type AdminRole = AdminTokenSpec['role'];

/** What stands in for each section a file leaves out; derived from the schema for code that needs one whole. */
export const DEFAULT_HEALTH_CHECK: HealthCheckSettings = fillDefaults(HealthCheck, {});
export const DEFAULT_RESILIENCE: ResilienceSettings = fillDefaults(Resilience, {});
export const DEFAULT_PROXY: ProxySettings = fillDefaults(Proxy, {});
/** The replicas' gRPC port when neither a replica nor its pool says (TF Serving's default). */
export const DEFAULT_GRPC_PORT: number = PoolConfig.properties.grpcPort.default;
/** A pool's subset size when its configuration says none (0: every replica). */
export const DEFAULT_SUBSET_SIZE: number = PoolConfig.properties.subsetSize.default;

/** One replica as configured: its REST origin (`http://host:port`, a host name standing for each of its addresses) and gRPC port. */
export interface ReplicaSpec {
  readonly url: string;
  readonly grpcPort: number;
}

export interface PoolSpec {
  readonly version: number;
  readonly replicas: readonly ReplicaSpec[];
  /** The gRPC port of replicas given without one (the admin API's too). */
  readonly grpcPort: number;
  /** Replicas this gateway uses of the pool; 0: all (controlplane/subset.ts). */
  readonly subsetSize: number;
}

/** A model's `discover`: the replicas whose versions become pools. */
export interface DiscoverSpec {
  readonly replicas: readonly ReplicaSpec[];
  readonly grpcPort: number;
  readonly subsetSize: number;
  readonly minShare: number;
}

export interface ModelSpec {
  readonly name: string;
  /** The configured pools (discovered versions have pools besides these). */
  readonly pools: readonly PoolSpec[];
  readonly discover: DiscoverSpec | null;
  readonly policy: PolicyDocument;
  readonly healthCheck: HealthCheckSettings;
  readonly resilience: ResilienceSettings;
}

type StoreFile = Filled<typeof StoreSchema>;
type StoreCommon = Pick<StoreFile, (typeof MEMORY_STORE_FIELDS)[number]>;

/** TLS to Redis, the files read: PEM texts in place of their names. */
export type RedisTlsSettings = ClientTlsSettings;

export type StoreSettings =
  | (StoreCommon & { readonly type: 'memory' })
  | (Omit<StoreFile, 'type' | 'tls' | 'sentinelTls'> & {
      readonly type: 'redis';
      readonly tls?: RedisTlsSettings;
      readonly sentinelTls?: RedisTlsSettings;
    });

/**
 * The sections handed on as the file has them, defaults filled: a new section with defaults joins
 * by its schema edit alone. The others are reshaped below (or, healthCheck and resilience, live on
 * in each model).
 */
type PlainSections = Omit<FilledConfig, 'listeners' | 'admin' | 'store' | 'healthCheck' | 'resilience' | 'models'>;

export interface GatewayConfig extends PlainSections {
  readonly rest: ListenerSettings;
  readonly grpc: ListenerSettings;
  readonly admin: ListenerSettings;
  /** Empty: the gateway generates an operator token at start and prints it once. */
  readonly adminTokens: readonly AdminTokenSpec[];
  /** Origins allowed to call the admin API from a browser; empty: CORS off. */
  readonly adminCorsOrigins: readonly string[];
  readonly store: StoreSettings;
  readonly models: readonly ModelSpec[];
}

const checkConfig = compileSchema<GatewayConfigInput>(GatewayConfigSchema);

export class ConfigError extends ValidationError {
  constructor(source: string, issues: readonly Issue[]) {
    super(`invalid configuration (${source})`, issues);
    this.name = 'ConfigError';
  }
}

/** Reads and checks a file. Throws ConfigError naming the file and every bad field. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot be read: ${(err as Error).message}` }]);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError(file, [{ path: '', message: `is not valid YAML/JSON${where}: ${(err as Error).message}` }]);
  }
  return resolveConfig(document, file, env);
}

/** Checks a parsed document (from a file, or built in code as the demo does). */
export function resolveConfig(document: unknown, source: string, environment: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const overrides = readEnvOverrides(environment);
  if (!overrides.ok) throw new ConfigError('environment', overrides.issues);
  if (!checkConfig(document)) throw new ConfigError(source, issuesFromAjv(checkConfig.errors));
  const env = overrides.value;
  const file = withEnvironment(document, env);
  // The models are resolved from the file as written: a model's own sections lie over the filled
  // top-level ones, so they must not be filled by themselves first.
  const config = fillDefaults(GatewayConfigSchema, file);
  const issues: Issue[] = [];
  const models = Object.entries(file.models).map(([name, model]) => resolveModel(name, model, config, issues));
  if (config.labels.stable === config.labels.canary) {
    issues.push({ path: '/labels/canary', message: 'must differ from the stable label' });
  }
  const store = resolveStore(file.store ?? {}, config.store, issues);
  const adminTokens = resolveTokens(config.admin.tokens, env, issues);
  checkTlsFiles(config, issues);
  if (issues.length > 0) throw new ConfigError(source, issues);
  const { listeners, admin, store: _store, healthCheck: _healthCheck, resilience: _resilience, models: _models, ...sections } = config;
  return {
    ...sections,
    rest: listeners.rest,
    grpc: listeners.grpc,
    admin: listeners.admin,
    adminTokens,
    adminCorsOrigins: admin.cors?.origins ?? [],
    store,
    models,
  };
}

/**
 * The file as the environment amends it, still in the file's shape, so that defaults are filled
 * once, after, wherever neither says anything. (Tokens are amended in resolveTokens.)
 */
function withEnvironment(file: GatewayConfigInput, env: EnvOverrides): GatewayConfigInput {
  return {
    ...file,
    listeners: {
      ...file.listeners,
      rest: { ...file.listeners?.rest, ...defined({ host: env.restHost, port: env.restPort }) },
      grpc: { ...file.listeners?.grpc, ...defined({ host: env.grpcHost, port: env.grpcPort }) },
      admin: { ...file.listeners?.admin, ...defined({ host: env.adminHost, port: env.adminPort }) },
    },
    logging: { ...file.logging, ...defined({ access: env.accessLog }) },
    store: storeWithEnvironment(file.store, env),
  };
}

type StoreInput = NonNullable<GatewayConfigInput['store']>;

/** REDIS_URL alone means "use Redis"; GATEWAY_STORE=memory wins over it and sets aside whatever the file says about Redis (a local run of a prod file). */
function storeWithEnvironment(file: StoreInput | undefined, env: EnvOverrides): StoreInput {
  if (env.store === 'memory') return { ...pick(file ?? {}, MEMORY_STORE_FIELDS), type: 'memory' };
  return {
    ...file,
    ...defined({
      type: env.store ?? (env.redisUrl === undefined ? undefined : 'redis'),
      url: env.redisUrl,
      keyPrefix: env.redisKeyPrefix,
      password: env.redisPassword,
      sentinelPassword: env.redisSentinelPassword,
    }),
  };
}

/** `given` is the store as written (amended by the environment), `store` the same with its defaults: what was said decides what is refused. */
function resolveStore(given: StoreInput, store: StoreFile, issues: Issue[]): StoreSettings {
  if (store.type === 'memory') {
    for (const [f, value] of Object.entries(given)) {
      if (value !== undefined && !(MEMORY_STORE_FIELDS as readonly string[]).includes(f)) {
        issues.push({ path: `/store/${f}`, message: 'only applies to the redis store (type: redis)' });
      }
    }
    return { ...pick(store, MEMORY_STORE_FIELDS), type: 'memory' };
  }
  const sources = (['url', 'sentinels', 'cluster'] as const).filter((f) => store[f] !== undefined);
  if (sources.length !== 1) {
    issues.push({
      path: '/store',
      message: sources.length === 0 ? 'a redis store needs url, sentinels or cluster (or REDIS_URL)' : `give only one of ${sources.join(', ')}`,
    });
  }
  if (store.sentinels !== undefined && store.sentinelName === undefined) {
    issues.push({ path: '/store/sentinelName', message: 'is required with sentinels (the master name)' });
  }
  if (store.sentinels === undefined) {
    for (const f of ['sentinelName', 'sentinelUsername', 'sentinelPassword', 'sentinelTls'] as const) {
      if (store[f] !== undefined) issues.push({ path: `/store/${f}`, message: 'only applies with sentinels' });
    }
  }
  if (store.cluster !== undefined && store.db !== undefined && store.db !== 0) {
    issues.push({ path: '/store/db', message: 'Redis Cluster has only database 0' });
  }
  if (store.url !== undefined && store.cluster === undefined && store.sentinels === undefined) checkRedisUrl(store.url, issues);
  const { tls: tlsFiles, sentinelTls: sentinelTlsFiles, ...rest } = store;
  const tls = tlsFiles === undefined ? undefined : readClientTlsFiles(tlsFiles, '/store/tls', issues);
  const sentinelTls = sentinelTlsFiles === undefined ? undefined : readClientTlsFiles(sentinelTlsFiles, '/store/sentinelTls', issues);
  return { ...rest, type: 'redis', ...(tls === undefined ? {} : { tls }), ...(sentinelTls === undefined ? {} : { sentinelTls }) };
}

/** The URL as ioredis will read it: a host, and a database number if a path is given. */
function checkRedisUrl(url: string, issues: Issue[]): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    issues.push({ path: '/store/url', message: 'is not a valid URL' });
    return;
  }
  if (parsed.hostname === '') issues.push({ path: '/store/url', message: 'has no host' });
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/[0-9]{1,7}$/.test(parsed.pathname)) {
    issues.push({ path: '/store/url', message: 'path must be a database number (/0, /1, ...)' });
  }
}

/**
 * The listeners' and the replicas' certificate files are read and checked now, so that a missing
 * file or a key that is not the certificate's is a configuration error naming the field, not a
 * failed start or handshake later. The loaded settings keep the file names: the gateway reads the
 * files again at start and whenever they change.
 */
function checkTlsFiles(config: FilledConfig, issues: Issue[]): void {
  for (const name of ['rest', 'admin'] as const) {
    const tls = config.listeners[name].tls;
    if (tls !== undefined) loadListenerTls(tls, `/listeners/${name}/tls`, issues);
  }
  loadClientTls(config.replicaTls, '/replicaTls', issues);
}

/** Tokens from the file, then ADMIN_TOKEN (operator "admin") and ADMIN_VIEWER_TOKEN (viewer "viewer"). */
function resolveTokens(fromFile: readonly AdminTokenSpec[], env: EnvOverrides, issues: Issue[]): AdminTokenSpec[] {
  const tokens = [...fromFile];
  const replace = (spec: AdminTokenSpec): void => {
    const i = tokens.findIndex((t) => t.name === spec.name);
    if (i >= 0) tokens[i] = spec;
    else tokens.push(spec);
  };
  if (env.adminToken !== undefined) replace({ name: 'admin', token: env.adminToken, role: 'operator' });
  if (env.adminViewerToken !== undefined) replace({ name: 'viewer', token: env.adminViewerToken, role: 'viewer' });
  const names = new Set<string>();
  const secrets = new Set<string>();
  tokens.forEach((t, i) => {
    if (names.has(t.name)) issues.push({ path: `/admin/tokens/${i}/name`, message: `repeats the token name ${t.name}` });
    if (secrets.has(t.token)) issues.push({ path: `/admin/tokens/${i}/token`, message: 'repeats another token (each token must be unique)' });
    names.add(t.name);
    secrets.add(t.token);
  });
  return tokens;
}

function resolveModel(name: string, model: GatewayConfigInput['models'][string], config: FilledConfig, issues: Issue[]): ModelSpec {
  const base = `/models/${escapePointer(name)}`;
  const pools: PoolSpec[] = [];
  for (const [key, pool] of Object.entries(model.pools ?? {})) {
    const grpcPort = pool.grpcPort ?? DEFAULT_GRPC_PORT;
    const replicas = resolveReplicas(pool.replicas, grpcPort, `${base}/pools/${key}/replicas`, issues);
    pools.push({ version: Number(key), replicas, grpcPort, subsetSize: pool.subsetSize ?? DEFAULT_SUBSET_SIZE });
  }
  pools.sort((a, b) => a.version - b.version);
  let discover: DiscoverSpec | null = null;
  if (model.discover !== undefined) {
    const d = fillDefaults(Discover, model.discover);
    discover = { replicas: resolveReplicas(d.replicas, d.grpcPort, `${base}/discover/replicas`, issues), grpcPort: d.grpcPort, subsetSize: d.subsetSize, minShare: d.minShare };
  } else if (pools.length === 0) {
    issues.push({ path: `${base}/pools`, message: 'is required without discover (a model needs pools, or replicas to discover its versions on)' });
  }
  // With discovery, the versions the initial policy names get pools of the discovered replicas.
  const versions = new Set(pools.map((p) => p.version));
  if (discover !== null) for (const v of namedVersions(model.policy)) versions.add(v);
  const result = validatePolicy(model.policy, { model: name, versions }, `${base}/policy`);
  if (!result.ok) issues.push(...result.issues);
  const healthCheck = overlay(config.healthCheck, model.healthCheck);
  const resilience = overlay(config.resilience, model.resilience);
  if (resilience.ejection.maxMs < resilience.ejection.baseMs) {
    issues.push({ path: `${base}/resilience/ejection/maxMs`, message: `must not be below baseMs (${resilience.ejection.baseMs})` });
  }
  return { name, pools, discover, policy: result.ok ? result.policy : placeholderPolicy(), healthCheck, resilience };
}

/** The versions a policy as written routes to or shadows (whatever its shape: the schema checks that). */
function namedVersions(policy: unknown): number[] {
  const p = policy as { stable?: unknown; canary?: unknown; shadow?: { version?: unknown } | null };
  return [p.stable, p.canary, p.shadow?.version].filter((v): v is number => typeof v === 'number');
}

function resolveReplicas(entries: ReadonlyArray<Static<typeof ReplicaEntry>>, grpcPort: number, base: string, issues: Issue[]): ReplicaSpec[] {
  const seen = new Set<string>();
  const replicas: ReplicaSpec[] = [];
  entries.forEach((entry, i) => {
    const raw = typeof entry === 'string' ? entry : entry.url;
    const path = `${base}/${i}${typeof entry === 'string' ? '' : '/url'}`;
    const origin = replicaOrigin(raw);
    if (typeof origin !== 'string') {
      issues.push({ path, message: origin.error });
    } else if (seen.has(origin)) {
      issues.push({ path, message: `repeats ${origin}` });
    } else {
      seen.add(origin);
      replicas.push({ url: origin, grpcPort: typeof entry === 'string' ? grpcPort : entry.grpcPort });
    }
  });
  return replicas;
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { readonly [K in keyof T]?: DeepPartial<T[K]> } : T;

/** `own` laid over `base` object by object: what `own` leaves out keeps `base`'s value; a list is one value. */
function overlay<T>(base: T, own: NoInfer<DeepPartial<T>> | undefined): T {
  if (own === undefined) return base;
  if (!isRecord(base) || !isRecord(own)) return own as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(own)) out[key] = overlay(base[key], value);
  return out as T;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Only reached when issues were recorded, so the value is never used. */
function placeholderPolicy(): PolicyDocument {
  return { stable: 0, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: '', plan: null, shadow: null, onNewVersion: null };
}

export function replicaOrigin(raw: string): string | { error: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { error: `is not a URL (expected http://host:port)` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: 'must use http or https' };
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { error: 'must be a base URL without path, query or fragment (the gateway adds /v1/models/...)' };
  }
  if (url.username !== '' || url.password !== '') return { error: 'must not carry credentials' };
  return url.origin;
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) as Pick<T, K>;
}

/** The fields that are set: an override left unset must not hide the file's value. */
function defined<T extends object>(value: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<{ [K in keyof T]: Exclude<T[K], undefined> }>;
}
