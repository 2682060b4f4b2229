import type { Logger } from '../core/logger.js';
import { createMemoryStore } from './memory.js';
import { createRedisStore } from './redis.js';
import type { Store } from './store.js';

export type { Store } from './store.js';

export function createStore(options: { redisUrl?: string; prefix?: string; logger?: Logger }): Store {
  if (options.redisUrl) return createRedisStore({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
  options.logger?.warn('state.redis_url is not set: using the in-memory store (single replica, state lost on restart)');
  return createMemoryStore();
}
