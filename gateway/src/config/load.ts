/**
 * Reads the configuration (YAML or JSON), checks it whole, applies environment overrides and fills
 * defaults. Nothing starts on a configuration with an error: the caller prints the issues and exits.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validatePolicy } from '../policy/validate.js';
import type { PolicyDocument } from '../policy/schema.js';
import { compileSchema, escapePointer, issuesFromAjv, ValidationError, type Issue } from '../validation.js';
import { GatewayConfigSchema, type GatewayConfigInput, type HealthCheckInput, type ResilienceInput } from './schema.js';
import { readEnvOverrides, type EnvOverrides } from './env.js';

export interface HealthCheckSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface PoolSpec {
  readonly version: number;
  /** Normalised origins (`http://host:port`). */
  readonly replicas: readonly string[];
}

export interface ResilienceSettings {
  readonly breaker: { readonly errorThresholdPercentage: number; readonly volumeThreshold: number; readonly windowSeconds: number; readonly resetTimeoutMs: number };
  readonly retry: { readonly budgetPercent: number; readonly minRetriesPerSecond: number; readonly attemptTimeoutMs: number };
  readonly ejection: { readonly consecutiveFailures: number; readonly baseMs: number; readonly maxMs: number; readonly maxEjectedPercent: number };
  readonly drain: { readonly errorRate: number; readonly windowSeconds: number; readonly minRequests: number };
  readonly analysis: {
    readonly enabled: boolean;
    readonly windowSeconds: number;
    readonly minRequests: number;
    readonly maxErrorRate: number;
    readonly errorRatio: number;
    readonly latencyRatio: number;
    readonly latencyMarginMs: number;
  };
}

export const DEFAULT_RESILIENCE: ResilienceSettings = {
  breaker: { errorThresholdPercentage: 50, volumeThreshold: 10, windowSeconds: 10, resetTimeoutMs: 5_000 },
  retry: { budgetPercent: 20, minRetriesPerSecond: 10, attemptTimeoutMs: 10_000 },
  ejection: { consecutiveFailures: 5, baseMs: 30_000, maxMs: 300_000, maxEjectedPercent: 50 },
  drain: { errorRate: 0.5, windowSeconds: 5, minRequests: 10 },
  analysis: { enabled: true, windowSeconds: 10, minRequests: 20, maxErrorRate: 0.01, errorRatio: 2, latencyRatio: 2, latencyMarginMs: 50 },
};

export interface ModelSpec {
  readonly name: string;
  readonly pools: readonly PoolSpec[];
  readonly policy: PolicyDocument;
  readonly healthCheck: HealthCheckSettings;
  readonly resilience: ResilienceSettings;
}

export interface ProxySettings {
  readonly deadlineMs: number;
  readonly connectTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly retryBufferBytes: number;
  readonly connectionsPerReplica: number;
  readonly keepAliveTimeoutMs: number;
}

export type AdminRole = 'viewer' | 'operator';

export interface AdminTokenSpec {
  readonly name: string;
  readonly token: string;
  readonly role: AdminRole;
}

interface StoreCommon {
  readonly auditMaxEntries: number;
  readonly resyncIntervalMs: number;
}

/** TLS to Redis, the files read: PEM texts. */
export interface RedisTlsSettings {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

export type StoreSettings =
  | ({ readonly type: 'memory' } & StoreCommon)
  | ({
      readonly type: 'redis';
      readonly url?: string;
      readonly sentinels?: ReadonlyArray<{ readonly host: string; readonly port: number }>;
      readonly sentinelName?: string;
      readonly cluster?: ReadonlyArray<{ readonly host: string; readonly port: number }>;
      readonly username?: string;
      readonly password?: string;
      readonly db?: number;
      readonly tls?: RedisTlsSettings;
      readonly sentinelUsername?: string;
      readonly sentinelPassword?: string;
      readonly sentinelTls?: RedisTlsSettings;
      readonly keyPrefix: string;
      readonly connectTimeoutMs: number;
      readonly commandTimeoutMs: number;
    } & StoreCommon);

export interface DnsSettings {
  readonly servers: readonly string[];
  readonly refreshMs: number;
}

export interface ShutdownSettings {
  readonly readinessDelayMs: number;
  readonly drainTimeoutMs: number;
}

export interface AccessLogSettings {
  readonly access: 'off' | 'errors' | 'all';
  readonly sampleRate: number;
}

export interface GatewayConfig {
  readonly rest: { readonly host: string; readonly port: number };
  readonly admin: { readonly host: string; readonly port: number };
  /** Empty: the gateway generates an operator token at start and prints it once. */
  readonly adminTokens: readonly AdminTokenSpec[];
  /** Origins allowed to call the admin API from a browser; empty: CORS off. */
  readonly adminCorsOrigins: readonly string[];
  readonly store: StoreSettings;
  readonly labels: { readonly stable: string; readonly canary: string };
  readonly proxy: ProxySettings;
  readonly shutdown: ShutdownSettings;
  readonly logging: AccessLogSettings;
  readonly dns: DnsSettings;
  readonly runtime: { readonly heapGrowthPercent: number };
  readonly models: readonly ModelSpec[];
}

export const DEFAULT_HEALTH_CHECK: HealthCheckSettings = {
  intervalMs: 2000,
  timeoutMs: 1000,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
};

export const DEFAULT_PROXY: ProxySettings = {
  deadlineMs: 30_000,
  connectTimeoutMs: 5_000,
  maxBodyBytes: 32 * 1024 * 1024,
  retryBufferBytes: 4 * 1024 * 1024,
  connectionsPerReplica: 128,
  keepAliveTimeoutMs: 4_000,
};

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
  const issues: Issue[] = [];
  const models = Object.entries(document.models).map(([name, model]) =>
    resolveModel(name, model, document.healthCheck, document.resilience, issues),
  );
  const labels = { stable: document.labels?.stable ?? 'stable', canary: document.labels?.canary ?? 'canary' };
  if (labels.stable === labels.canary) {
    issues.push({ path: '/labels/canary', message: 'must differ from the stable label' });
  }
  const env = overrides.value;
  // GATEWAY_STORE=memory sets aside whatever the file says about Redis (a local run of a prod file).
  const store =
    env.store === 'memory'
      ? resolveStore({ type: 'memory', auditMaxEntries: document.store?.auditMaxEntries, resyncIntervalMs: document.store?.resyncIntervalMs }, issues)
      : resolveStore({ ...document.store, ...storeOverrides(env) }, issues);
  const adminTokens = resolveTokens(document.admin?.tokens ?? [], env, issues);
  if (issues.length > 0) throw new ConfigError(source, issues);
  return {
    rest: { host: env.restHost ?? document.listeners?.rest?.host ?? '0.0.0.0', port: env.restPort ?? document.listeners?.rest?.port ?? 8501 },
    admin: {
      host: env.adminHost ?? document.listeners?.admin?.host ?? '127.0.0.1',
      port: env.adminPort ?? document.listeners?.admin?.port ?? 9901,
    },
    adminTokens,
    adminCorsOrigins: document.admin?.cors?.origins ?? [],
    store,
    labels,
    proxy: { ...DEFAULT_PROXY, ...stripUndefined(document.proxy ?? {}) },
    shutdown: { readinessDelayMs: 0, drainTimeoutMs: 30_000, ...stripUndefined(document.shutdown ?? {}) },
    logging: { access: env.accessLog ?? document.logging?.access ?? 'off', sampleRate: document.logging?.sampleRate ?? 1 },
    dns: { servers: document.dns?.servers ?? [], refreshMs: document.dns?.refreshMs ?? 10_000 },
    runtime: { heapGrowthPercent: document.runtime?.heapGrowthPercent ?? 30 },
    models,
  };
}

type StoreInput = NonNullable<GatewayConfigInput['store']> | Partial<NonNullable<GatewayConfigInput['store']>>;

/** REDIS_URL alone means "use Redis"; GATEWAY_STORE=memory wins over it. */
function storeOverrides(env: EnvOverrides): Partial<NonNullable<GatewayConfigInput['store']>> {
  const out: { type?: 'memory' | 'redis'; url?: string; keyPrefix?: string; password?: string; sentinelPassword?: string } = {};
  if (env.redisUrl !== undefined) {
    out.type = 'redis';
    out.url = env.redisUrl;
  }
  if (env.store !== undefined) out.type = env.store;
  if (env.redisKeyPrefix !== undefined) out.keyPrefix = env.redisKeyPrefix;
  if (env.redisPassword !== undefined) out.password = env.redisPassword;
  if (env.redisSentinelPassword !== undefined) out.sentinelPassword = env.redisSentinelPassword;
  return out;
}

function resolveStore(input: StoreInput, issues: Issue[]): StoreSettings {
  const common = {
    auditMaxEntries: input.auditMaxEntries ?? 10_000,
    resyncIntervalMs: input.resyncIntervalMs ?? 5_000,
  };
  const redisFields = (
    [
      'url',
      'sentinels',
      'sentinelName',
      'cluster',
      'username',
      'password',
      'db',
      'tls',
      'sentinelUsername',
      'sentinelPassword',
      'sentinelTls',
      'keyPrefix',
      'connectTimeoutMs',
      'commandTimeoutMs',
    ] as const
  ).filter((f) => input[f] !== undefined);
  if ((input.type ?? 'memory') === 'memory') {
    for (const f of redisFields) issues.push({ path: `/store/${f}`, message: 'only applies to the redis store (type: redis)' });
    return { type: 'memory', ...common };
  }
  const sources = (['url', 'sentinels', 'cluster'] as const).filter((f) => input[f] !== undefined);
  if (sources.length !== 1) {
    issues.push({
      path: '/store',
      message: sources.length === 0 ? 'a redis store needs url, sentinels or cluster (or REDIS_URL)' : `give only one of ${sources.join(', ')}`,
    });
  }
  if (input.sentinels !== undefined && input.sentinelName === undefined) {
    issues.push({ path: '/store/sentinelName', message: 'is required with sentinels (the master name)' });
  }
  if (input.sentinels === undefined) {
    for (const f of ['sentinelName', 'sentinelUsername', 'sentinelPassword', 'sentinelTls'] as const) {
      if (input[f] !== undefined) issues.push({ path: `/store/${f}`, message: 'only applies with sentinels' });
    }
  }
  if (input.cluster !== undefined && input.db !== undefined && input.db !== 0) {
    issues.push({ path: '/store/db', message: 'Redis Cluster has only database 0' });
  }
  if (input.url !== undefined && input.cluster === undefined && input.sentinels === undefined) checkRedisUrl(input.url, issues);
  const tls = input.tls === undefined ? undefined : resolveTls(input.tls, '/store/tls', issues);
  const sentinelTls = input.sentinelTls === undefined ? undefined : resolveTls(input.sentinelTls, '/store/sentinelTls', issues);
  return {
    type: 'redis',
    ...(input.url === undefined ? {} : { url: input.url }),
    ...(input.sentinels === undefined ? {} : { sentinels: input.sentinels }),
    ...(input.sentinelName === undefined ? {} : { sentinelName: input.sentinelName }),
    ...(input.cluster === undefined ? {} : { cluster: input.cluster }),
    ...(input.username === undefined ? {} : { username: input.username }),
    ...(input.password === undefined ? {} : { password: input.password }),
    ...(input.db === undefined ? {} : { db: input.db }),
    ...(tls === undefined ? {} : { tls }),
    ...(input.sentinelUsername === undefined ? {} : { sentinelUsername: input.sentinelUsername }),
    ...(input.sentinelPassword === undefined ? {} : { sentinelPassword: input.sentinelPassword }),
    ...(sentinelTls === undefined ? {} : { sentinelTls }),
    keyPrefix: input.keyPrefix ?? 'canary-gateway:',
    connectTimeoutMs: input.connectTimeoutMs ?? 2_000,
    commandTimeoutMs: input.commandTimeoutMs ?? 1_000,
    ...common,
  };
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

type TlsInput = NonNullable<NonNullable<GatewayConfigInput['store']>['tls']>;

/** Reads the PEM files now, so that one missing is a configuration error naming it, not a connection failure later. */
function resolveTls(input: TlsInput, path: string, issues: Issue[]): RedisTlsSettings {
  if ((input.certFile === undefined) !== (input.keyFile === undefined)) {
    issues.push({ path: `${path}/${input.certFile === undefined ? 'certFile' : 'keyFile'}`, message: 'is required with ' + (input.certFile === undefined ? 'keyFile' : 'certFile') });
  }
  const read = (field: 'caFile' | 'certFile' | 'keyFile'): string | undefined => {
    const file = input[field];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      issues.push({ path: `${path}/${field}`, message: `cannot be read: ${(err as Error).message}` });
      return undefined;
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(input.servername === undefined ? {} : { servername: input.servername }),
    rejectUnauthorized: input.rejectUnauthorized ?? true,
  };
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

function resolveModel(
  name: string,
  model: GatewayConfigInput['models'][string],
  globalHealth: HealthCheckInput | undefined,
  globalResilience: ResilienceInput | undefined,
  issues: Issue[],
): ModelSpec {
  const base = `/models/${escapePointer(name)}`;
  const pools: PoolSpec[] = [];
  for (const [key, pool] of Object.entries(model.pools)) {
    const version = Number(key);
    const seen = new Set<string>();
    const replicas: string[] = [];
    pool.replicas.forEach((raw, i) => {
      const path = `${base}/pools/${key}/replicas/${i}`;
      const origin = replicaOrigin(raw);
      if (typeof origin !== 'string') {
        issues.push({ path, message: origin.error });
      } else if (seen.has(origin)) {
        issues.push({ path, message: `repeats ${origin}` });
      } else {
        seen.add(origin);
        replicas.push(origin);
      }
    });
    pools.push({ version, replicas });
  }
  pools.sort((a, b) => a.version - b.version);
  const result = validatePolicy(model.policy, { model: name, versions: new Set(pools.map((p) => p.version)) }, `${base}/policy`);
  const healthCheck = { ...DEFAULT_HEALTH_CHECK, ...stripUndefined(globalHealth ?? {}), ...stripUndefined(model.healthCheck ?? {}) };
  if (!result.ok) issues.push(...result.issues);
  const resilience = resolveResilience(globalResilience, model.resilience);
  if (resilience.ejection.maxMs < resilience.ejection.baseMs) {
    issues.push({ path: `${base}/resilience/ejection/maxMs`, message: `must not be below baseMs (${resilience.ejection.baseMs})` });
  }
  return { name, pools, policy: result.ok ? result.policy : placeholderPolicy(), healthCheck, resilience };
}

/** Defaults, then the file's global section, then the model's own, section by section. */
function resolveResilience(global: ResilienceInput | undefined, own: ResilienceInput | undefined): ResilienceSettings {
  const merge = <K extends keyof ResilienceSettings>(key: K): ResilienceSettings[K] => ({
    ...DEFAULT_RESILIENCE[key],
    ...stripUndefined(global?.[key] ?? {}),
    ...stripUndefined(own?.[key] ?? {}),
  }) as ResilienceSettings[K];
  return { breaker: merge('breaker'), retry: merge('retry'), ejection: merge('ejection'), drain: merge('drain'), analysis: merge('analysis') };
}

/** Only reached when issues were recorded, so the value is never used. */
function placeholderPolicy(): PolicyDocument {
  return { stable: 0, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: '', plan: null };
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

/** Lets `{...defaults, ...stripUndefined(partial)}` keep a default where the file leaves a field out. */
function stripUndefined<T extends object>(value: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>;
  }>;
}
