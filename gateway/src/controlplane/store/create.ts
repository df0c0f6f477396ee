/**
 * Builds the policy store the configuration asks for, so the app never names a backend.
 * The Redis client is imported only when asked for: it costs about 10 MB of resident memory.
 */
import type { Logger } from 'pino';
import { MemoryStore } from './memory.js';
import type { RedisStoreOptions } from './redis.js';
import type { PolicyStore } from './types.js';

export type StoreConfig =
  | { type: 'memory'; auditMaxEntries: number }
  | ({ type: 'redis' } & Omit<RedisStoreOptions, 'logger'>);

export async function createStore(config: StoreConfig, logger: Logger): Promise<PolicyStore> {
  switch (config.type) {
    case 'memory':
      return new MemoryStore({ auditMaxEntries: config.auditMaxEntries });
    case 'redis': {
      const { type: _type, ...options } = config;
      const { RedisStore } = await import('./redis.js');
      return new RedisStore({ ...options, logger });
    }
  }
}
