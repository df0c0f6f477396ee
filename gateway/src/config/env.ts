/**
 * Environment variables that override the file: what differs between two instances of the same
 * deployment (ports, the admin token, the store), so one config file serves them all.
 */
import type { Issue } from '../validation.js';

export interface EnvOverrides {
  readonly restHost?: string;
  readonly restPort?: number;
  readonly adminHost?: string;
  readonly adminPort?: number;
  readonly adminToken?: string;
  readonly adminViewerToken?: string;
  readonly store?: 'memory' | 'redis';
  readonly redisUrl?: string;
  readonly redisKeyPrefix?: string;
  readonly redisPassword?: string;
  readonly redisSentinelPassword?: string;
  readonly accessLog?: 'off' | 'errors' | 'all';
}

/** Variable name -> what it sets; the README's table is generated from the same list. */
export const ENV_VARIABLES = {
  GATEWAY_CONFIG: 'Path of the configuration file (same as --config).',
  GATEWAY_REST_HOST: 'Address the REST (data) listener binds (default 0.0.0.0).',
  GATEWAY_REST_PORT: 'Port of the REST (data) listener (default 8501).',
  GATEWAY_ADMIN_HOST: 'Address the admin listener binds (default 127.0.0.1).',
  GATEWAY_ADMIN_PORT: 'Port of the admin listener (default 9901).',
  ADMIN_TOKEN: 'Operator token (read and write) for the admin API, named "admin" in the audit trail; at least 16 characters.',
  ADMIN_VIEWER_TOKEN: 'Viewer token (read only) for the admin API, named "viewer".',
  GATEWAY_STORE: 'Policy store: memory or redis.',
  REDIS_URL: 'redis://[:password@]host:port[/db]; setting it selects the Redis store.',
  REDIS_KEY_PREFIX: 'Prefix of every Redis key and channel (default canary-gateway:).',
  REDIS_PASSWORD: 'Password of the Redis servers (store.password), kept out of the file; wins over a password in the url.',
  REDIS_SENTINEL_PASSWORD: 'Password of the Redis sentinels themselves (store.sentinelPassword).',
  ACCESS_LOG: 'Access log lines: off (default), errors or all.',
} as const;

export function readEnvOverrides(env: NodeJS.ProcessEnv): { ok: true; value: EnvOverrides } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const port = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > 65535) {
      issues.push({ path: name, message: `must be a port number 0-65535, got "${raw}"` });
      return undefined;
    }
    return n;
  };
  const text = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const token = (name: string): string | undefined => {
    const value = text(name);
    if (value !== undefined && (value.length < 16 || /\s/.test(value))) {
      issues.push({ path: name, message: 'must be at least 16 characters, without spaces' });
    }
    return value;
  };
  const storeName = text('GATEWAY_STORE');
  if (storeName !== undefined && storeName !== 'memory' && storeName !== 'redis') {
    issues.push({ path: 'GATEWAY_STORE', message: `must be "memory" or "redis", got "${storeName}"` });
  }
  const redisUrl = text('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    issues.push({ path: 'REDIS_URL', message: 'must start with redis:// or rediss://' });
  }
  const accessLog = text('ACCESS_LOG');
  if (accessLog !== undefined && accessLog !== 'off' && accessLog !== 'errors' && accessLog !== 'all') {
    issues.push({ path: 'ACCESS_LOG', message: `must be off, errors or all, got "${accessLog}"` });
  }
  const value: EnvOverrides = {
    restHost: text('GATEWAY_REST_HOST'),
    restPort: port('GATEWAY_REST_PORT'),
    adminHost: text('GATEWAY_ADMIN_HOST'),
    adminPort: port('GATEWAY_ADMIN_PORT'),
    adminToken: token('ADMIN_TOKEN'),
    adminViewerToken: token('ADMIN_VIEWER_TOKEN'),
    store: storeName === 'memory' || storeName === 'redis' ? storeName : undefined,
    redisUrl,
    redisKeyPrefix: text('REDIS_KEY_PREFIX'),
    redisPassword: text('REDIS_PASSWORD'),
    redisSentinelPassword: text('REDIS_SENTINEL_PASSWORD'),
    accessLog: accessLog === 'off' || accessLog === 'errors' || accessLog === 'all' ? accessLog : undefined,
  };
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}
