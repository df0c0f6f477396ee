/**
 * Environment variables that override the file: what differs between two instances of the same
 * deployment (ports, the admin token, the store), so one config file serves them all.
 */
import type { Static } from 'typebox';
import { readFileSync } from 'node:fs';
import type { Issue } from '../validation.js';
import { Listeners, Logging, StoreSchema } from './schema.js';

type StoreType = Static<typeof StoreSchema.properties.type>;
type AccessLog = Static<typeof Logging.properties.access>;

export interface EnvOverrides {
  readonly restHost?: string;
  readonly restPort?: number;
  readonly grpcHost?: string;
  readonly grpcPort?: number;
  readonly adminHost?: string;
  readonly adminPort?: number;
  readonly adminToken?: string;
  readonly adminViewerToken?: string;
  readonly store?: StoreType;
  readonly redisUrl?: string;
  readonly redisKeyPrefix?: string;
  readonly redisPassword?: string;
  readonly redisSentinelPassword?: string;
  readonly accessLog?: AccessLog;
}

/** The values a field made of literals accepts, in the schema's order. */
function choices<T extends string>(union: { readonly anyOf: ReadonlyArray<{ readonly const: T }> }): readonly T[] {
  return union.anyOf.map((option) => option.const);
}

const STORE_TYPES = choices(StoreSchema.properties.type);
const ACCESS_LOG_LEVELS = choices(Logging.properties.access);
const { rest, grpc, admin } = Listeners.properties;

/** "a, b or c" */
function either(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

/** Variable name -> what it sets; docs/configuration.md and `--help` are generated from this list, the defaults they state from the schema. */
export const ENV_VARIABLES = {
  GATEWAY_CONFIG: 'Path of the configuration file (same as --config).',
  GATEWAY_REST_HOST: `Address the REST (data) listener binds (default ${rest.properties.host.default}).`,
  GATEWAY_REST_PORT: `Port of the REST (data) listener (default ${rest.properties.port.default}).`,
  GATEWAY_GRPC_HOST: `Address the gRPC (data) listener binds (default ${grpc.properties.host.default}).`,
  GATEWAY_GRPC_PORT: `Port of the gRPC (data) listener (default ${grpc.properties.port.default}).`,
  GATEWAY_ADMIN_HOST: `Address the admin listener binds (default ${admin.properties.host.default}).`,
  GATEWAY_ADMIN_PORT: `Port of the admin listener (default ${admin.properties.port.default}).`,
  ADMIN_TOKEN: 'Operator token (read and write) for the admin API, named "admin" in the audit trail; at least 16 characters.',
  ADMIN_VIEWER_TOKEN: 'Viewer token (read only) for the admin API, named "viewer".',
  GATEWAY_STORE: `Policy store: ${either(STORE_TYPES)}, over the file's store.type; memory sets aside the file's Redis settings.`,
  REDIS_URL: 'redis://[:password@]host:port[/db]; setting it selects the Redis store.',
  REDIS_KEY_PREFIX: `Prefix of every Redis key and channel (default ${StoreSchema.properties.keyPrefix.default}).`,
  REDIS_PASSWORD: 'Password of the Redis servers (store.password), kept out of the file; wins over a password in the url.',
  REDIS_PASSWORD_FILE: 'A file holding that password (a Docker or Kubernetes secret mounted as a file), read at start; REDIS_PASSWORD wins.',
  REDIS_SENTINEL_PASSWORD: 'Password of the Redis sentinels themselves (store.sentinelPassword).',
  ACCESS_LOG: `Access log lines: ${either(ACCESS_LOG_LEVELS)} (default ${Logging.properties.access.default}).`,
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
  /** A secret mounted as a file: its content, without the line end an editor or `echo` leaves. */
  const secretFile = (name: string): string | undefined => {
    const file = text(name);
    if (file === undefined) return undefined;
    try {
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (value === '') issues.push({ path: name, message: `${file} is empty` });
      return value === '' ? undefined : value;
    } catch (err) {
      issues.push({ path: name, message: `cannot be read: ${(err as Error).message}` });
      return undefined;
    }
  };
  const oneOf = <T extends string>(name: string, values: readonly T[]): T | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const known = values.find((v) => v === value);
    if (known === undefined) issues.push({ path: name, message: `must be ${either(values.map((v) => `"${v}"`))}, got "${value}"` });
    return known;
  };
  const store = oneOf('GATEWAY_STORE', STORE_TYPES);
  const redisUrl = text('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    issues.push({ path: 'REDIS_URL', message: 'must start with redis:// or rediss://' });
  }
  const accessLog = oneOf('ACCESS_LOG', ACCESS_LOG_LEVELS);
  const value: EnvOverrides = {
    restHost: text('GATEWAY_REST_HOST'),
    restPort: port('GATEWAY_REST_PORT'),
    grpcHost: text('GATEWAY_GRPC_HOST'),
    grpcPort: port('GATEWAY_GRPC_PORT'),
    adminHost: text('GATEWAY_ADMIN_HOST'),
    adminPort: port('GATEWAY_ADMIN_PORT'),
    adminToken: token('ADMIN_TOKEN'),
    adminViewerToken: token('ADMIN_VIEWER_TOKEN'),
    store,
    redisUrl,
    redisKeyPrefix: text('REDIS_KEY_PREFIX'),
    redisPassword: text('REDIS_PASSWORD') ?? secretFile('REDIS_PASSWORD_FILE'),
    redisSentinelPassword: text('REDIS_SENTINEL_PASSWORD'),
    accessLog,
  };
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}
