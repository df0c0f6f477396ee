/**
 * Builds the policy store the configuration asks for, so the app never names a backend.
 */
import type { Logger } from 'pino';
import { MemoryStore } from './memory.js';
import { RedisStore, type RedisStoreOptions } from './redis.js';
import type { PolicyStore } from './types.js';

export type StoreConfig =
  | { type: 'memory'; auditMaxEntries: number }
  | ({ type: 'redis' } & Omit<RedisStoreOptions, 'logger'>);

export function createStore(config: StoreConfig, logger: Logger): PolicyStore {
  switch (config.type) {
    case 'memory':
      return new MemoryStore({ auditMaxEntries: config.auditMaxEntries });
    case 'redis': {
      const { type: _type, ...options } = config;
      return new RedisStore({ ...options, logger });
    }
  }
}
