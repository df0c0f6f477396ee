/**
 * How the Redis store's connection settings become ioredis clients: standalone (url), Sentinel or
 * Cluster, each with its credentials and TLS where ioredis reads them. The places differ per mode
 * and a misplaced option is silently ignored (ioredis dials a Sentinel-resolved master in plain
 * text unless enableTLSForSentinelMode is set; Cluster nodes take theirs from redisOptions; a
 * password in the url beats one in the options), so the mapping is one pure function, tested apart.
 */
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTlsSettings, StoreSettings } from '../../config/load.js';

/** The connection part of the Redis store's settings (see config/schema.ts for what each means). */
export type RedisConnectionOptions = Pick<
  Extract<StoreSettings, { type: 'redis' }>,
  'url' | 'sentinels' | 'sentinelName' | 'cluster' | 'username' | 'password' | 'db' | 'tls' | 'sentinelUsername' | 'sentinelPassword' | 'sentinelTls'
>;

export type ClientPlan =
  | { readonly mode: 'standalone'; readonly url: string; readonly options: RedisOptions }
  | { readonly mode: 'sentinel'; readonly options: RedisOptions }
  | { readonly mode: 'cluster'; readonly nodes: ReadonlyArray<{ host: string; port: number }>; readonly options: ClusterOptions };

/**
 * `common`: the per-connection options (timeouts, retry, offline queue...). `scripts` are defined
 * on the client ioredis runs commands through (the Cluster object, not its node connections).
 */
export function planClient(o: RedisConnectionOptions, common: RedisOptions, scripts: RedisOptions['scripts']): ClientPlan {
  const auth: RedisOptions = {
    ...(o.username === undefined ? {} : { username: o.username }),
    ...(o.password === undefined ? {} : { password: o.password }),
    ...(o.tls === undefined ? {} : { tls: tlsOptions(o.tls) }),
  };
  if (o.cluster !== undefined) {
    // Node connections are ioredis' business (it reconnects them on MOVED / slot refresh).
    const { lazyConnect: _lazy, retryStrategy: _retry, ...nodeOptions } = common;
    return {
      mode: 'cluster',
      nodes: o.cluster.map((n) => ({ host: n.host, port: n.port })),
      options: {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: common.retryStrategy as NonNullable<ClusterOptions['clusterRetryStrategy']>,
        scripts,
        redisOptions: { ...nodeOptions, ...auth },
      },
    };
  }
  if (o.sentinels !== undefined) {
    return {
      mode: 'sentinel',
      options: {
        ...common,
        scripts,
        sentinels: o.sentinels.map((n) => ({ host: n.host, port: n.port })),
        ...(o.sentinelName === undefined ? {} : { name: o.sentinelName }),
        ...auth,
        // Without it ioredis ignores `tls` for the master it resolves through the sentinels.
        ...(o.tls === undefined ? {} : { enableTLSForSentinelMode: true }),
        ...(o.db === undefined ? {} : { db: o.db }),
        ...(o.sentinelUsername === undefined ? {} : { sentinelUsername: o.sentinelUsername }),
        ...(o.sentinelPassword === undefined ? {} : { sentinelPassword: o.sentinelPassword }),
        ...(o.sentinelTls === undefined ? {} : { sentinelTLS: tlsOptions(o.sentinelTls) }),
      },
    };
  }
  // Credentials and db leave the url and go in the options, so an explicit setting wins (ioredis
  // would let the url's win) and the url handed on carries no secret.
  const url = new URL(o.url as string);
  const username = o.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password = o.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  const pathDb = /^\/([0-9]+)$/.exec(url.pathname)?.[1];
  const db = o.db ?? (pathDb === undefined ? undefined : Number(pathDb));
  url.username = '';
  url.password = '';
  url.pathname = '';
  return {
    mode: 'standalone',
    url: url.toString(),
    options: {
      ...common,
      scripts,
      ...auth,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(db === undefined ? {} : { db }),
    },
  };
}

export function createClient(plan: ClientPlan): Redis | Cluster {
  switch (plan.mode) {
    case 'cluster':
      return new Cluster([...plan.nodes], plan.options);
    case 'sentinel':
      return new Redis(plan.options);
    case 'standalone':
      return new Redis(plan.url, plan.options);
  }
}

function tlsOptions(tls: RedisTlsSettings): ConnectionOptions {
  return {
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
