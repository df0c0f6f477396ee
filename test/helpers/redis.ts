/** Real redis-server processes for tests (see scripts/lib/redis-server.ts). */
export { freePort, startRedis, type RedisOptions, type RedisServer } from '../../scripts/lib/redis-server.js';
