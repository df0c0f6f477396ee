/**
 * Reads the configuration (YAML or JSON), checks it whole, applies environment overrides and fills
 * defaults. Nothing starts on a configuration with an error: the caller prints the issues and exits.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validatePolicy } from '../policy/validate.js';
import type { PolicyDocument } from '../policy/schema.js';
import { compileSchema, escapePointer, issuesFromAjv, ValidationError, type Issue } from '../validation.js';
import { GatewayConfigSchema, type GatewayConfigInput, type HealthCheckInput } from './schema.js';
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

export interface ModelSpec {
  readonly name: string;
  readonly pools: readonly PoolSpec[];
  readonly policy: PolicyDocument;
  readonly healthCheck: HealthCheckSettings;
}

export interface ProxySettings {
  readonly deadlineMs: number;
  readonly connectTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly retryBufferBytes: number;
  readonly connectionsPerReplica: number;
  readonly keepAliveTimeoutMs: number;
}

export interface GatewayConfig {
  readonly rest: { readonly host: string; readonly port: number };
  readonly admin: { readonly host: string; readonly port: number };
  /** Undefined: the gateway generates one at start and prints it once. */
  readonly adminToken: string | undefined;
  readonly store: { readonly type: 'memory' };
  readonly labels: { readonly stable: string; readonly canary: string };
  readonly proxy: ProxySettings;
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
export function resolveConfig(document: unknown, source: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const overrides = readEnvOverrides(env);
  if (!overrides.ok) throw new ConfigError('environment', overrides.issues);
  if (!checkConfig(document)) throw new ConfigError(source, issuesFromAjv(checkConfig.errors));
  const issues: Issue[] = [];
  const models = Object.entries(document.models).map(([name, model]) =>
    resolveModel(name, model, document.healthCheck, issues),
  );
  const labels = { stable: document.labels?.stable ?? 'stable', canary: document.labels?.canary ?? 'canary' };
  if (labels.stable === labels.canary) {
    issues.push({ path: '/labels/canary', message: 'must differ from the stable label' });
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  return applyOverrides(
    {
      rest: { host: document.listeners?.rest?.host ?? '0.0.0.0', port: document.listeners?.rest?.port ?? 8501 },
      admin: { host: document.listeners?.admin?.host ?? '127.0.0.1', port: document.listeners?.admin?.port ?? 9901 },
      adminToken: document.admin?.token,
      store: document.store ?? { type: 'memory' },
      labels,
      proxy: { ...DEFAULT_PROXY, ...stripUndefined(document.proxy ?? {}) },
      models,
    },
    overrides.value,
  );
}

function resolveModel(
  name: string,
  model: GatewayConfigInput['models'][string],
  globalHealth: HealthCheckInput | undefined,
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
  if (healthCheck.timeoutMs > healthCheck.intervalMs) {
    issues.push({ path: `${base}/healthCheck/timeoutMs`, message: `must not exceed intervalMs (${healthCheck.intervalMs})` });
  }
  if (!result.ok) issues.push(...result.issues);
  return { name, pools, policy: result.ok ? result.policy : placeholderPolicy(), healthCheck };
}

/** Only reached when issues were recorded, so the value is never used. */
function placeholderPolicy(): PolicyDocument {
  return { stable: 0, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: '' };
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

function applyOverrides(config: GatewayConfig, env: EnvOverrides): GatewayConfig {
  return {
    ...config,
    rest: { host: env.restHost ?? config.rest.host, port: env.restPort ?? config.rest.port },
    admin: { host: env.adminHost ?? config.admin.host, port: env.adminPort ?? config.admin.port },
    adminToken: env.adminToken ?? config.adminToken,
    store: env.store ?? config.store,
  };
}

/** Lets `{...defaults, ...stripUndefined(partial)}` keep a default where the file leaves a field out. */
function stripUndefined<T extends object>(value: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>;
  }>;
}
