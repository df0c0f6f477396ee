/** Real redis-server processes for tests (see scripts/lib/redis-server.ts). */
export {
  freePort,
  startRedis,
  startSentinel,
  type RedisOptions,
  type RedisServer,
  type SentinelOptions,
  type SentinelServer,
} from '../../scripts/lib/redis-server.js';
