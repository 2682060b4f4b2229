import { createClient } from 'redis';
import { storeUnavailable } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Store } from './store.js';

type Client = ReturnType<typeof createClient>;

/**
 * Redis-backed store shared by replicas. It never blocks start-up: it connects in the
 * background, reconnects with capped backoff, and fails fast (503) while Redis is away
 * instead of queueing commands.
 */
export function createRedisStore(options: { url: string; prefix?: string; logger?: Logger; connectTimeoutMs?: number }): Store {
  const prefix = options.prefix ?? 'gatehouse:';
  const k = (key: string) => prefix + key;
  let lastError = '';

  const makeClient = (): Client => {
    const client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 2000,
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000),
      },
    });
    client.on('error', (err: Error) => {
      // One log line per distinct failure, not one per retry.
      if (err.message !== lastError) options.logger?.warn({ err: err.message }, 'redis unavailable; retrying');
      lastError = err.message;
    });
    client.on('ready', () => {
      if (lastError) options.logger?.info('redis connection restored');
      lastError = '';
    });
    client.connect().catch(() => {});
    return client;
  };

  const client = makeClient();
  let subscriber: Client | undefined;

  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    if (!client.isReady) throw storeUnavailable(new Error(lastError || 'redis not connected'));
    try {
      return await op();
    } catch (err) {
      throw storeUnavailable(err);
    }
  };

  return {
    kind: 'redis',
    get: (key) => run(() => client.get(k(key))),
    async set(key, value, ttlSeconds) {
      await run(() => (ttlSeconds ? client.set(k(key), value, { EX: ttlSeconds }) : client.set(k(key), value)));
    },
    async setIfAbsent(key, value, ttlSeconds) {
      const reply = await run(() => client.set(k(key), value, { EX: ttlSeconds, NX: true }));
      return reply === 'OK';
    },
    take: (key) => run(() => client.getDel(k(key))),
    async delete(key) {
      await run(() => client.del(k(key)));
    },
    async increment(key, ttlSeconds) {
      const [count] = await run(() => client.multi().incr(k(key)).expire(k(key), ttlSeconds, 'NX').exec());
      return Number(count);
    },
    async mapSet(key, field, value) {
      await run(() => client.hSet(k(key), field, value));
    },
    mapGet: (key, field) => run(async () => (await client.hGet(k(key), field)) ?? null),
    mapEntries: (key) => run(async () => ({ ...(await client.hGetAll(k(key))) })),
    async mapDelete(key, field) {
      await run(() => client.hDel(k(key), field));
    },
    async publish(channel, message) {
      await run(() => client.publish(k(channel), message));
    },
    async subscribe(channel, onMessage) {
      subscriber ??= makeClient();
      const listener = (message: string) => onMessage(message);
      await subscriber.subscribe(k(channel), listener);
      return async () => {
        await subscriber?.unsubscribe(k(channel), listener);
      };
    },
    async ping() {
      await run(() => client.ping());
    },
    async close() {
      for (const c of [client, subscriber]) {
        if (!c?.isOpen) continue;
        // quit() drains politely when connected; while reconnecting only destroy() stops the retries.
        if (c.isReady) await c.quit().catch(() => undefined);
        if (c.isOpen) c.destroy();
      }
    },
  };
}
