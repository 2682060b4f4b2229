import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../core/clock.js';
import type { Store } from './store.js';

interface Entry {
  value: string;
  expiresAt: number; // ms; Infinity for no TTL
}

/** Single-process store. State is lost on restart and not shared between replicas. */
export function createMemoryStore(options: { clock?: Clock; sweepIntervalMs?: number } = {}): Store {
  const clock = options.clock ?? systemClock;
  const entries = new Map<string, Entry>();
  const maps = new Map<string, Map<string, string>>();
  const bus = new EventEmitter();
  bus.setMaxListeners(0);

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= clock.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const expiry = (ttlSeconds?: number) => (ttlSeconds ? clock.now() + ttlSeconds * 1000 : Infinity);

  // Expired keys are dropped on read; the sweep bounds memory for keys never read again.
  const sweep = setInterval(() => {
    const now = clock.now();
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
  }, options.sweepIntervalMs ?? 60_000);
  sweep.unref();

  return {
    kind: 'memory',
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, { value, expiresAt: expiry(ttlSeconds) });
    },
    async setIfAbsent(key, value, ttlSeconds) {
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: expiry(ttlSeconds) });
      return true;
    },
    async take(key) {
      const entry = live(key);
      entries.delete(key);
      return entry?.value ?? null;
    },
    async delete(key) {
      entries.delete(key);
    },
    async increment(key, ttlSeconds) {
      const entry = live(key);
      const count = (entry ? Number(entry.value) : 0) + 1;
      entries.set(key, { value: String(count), expiresAt: entry?.expiresAt ?? expiry(ttlSeconds) });
      return count;
    },
    async mapSet(key, field, value) {
      if (!maps.has(key)) maps.set(key, new Map());
      maps.get(key)!.set(field, value);
    },
    async mapGet(key, field) {
      return maps.get(key)?.get(field) ?? null;
    },
    async mapEntries(key) {
      return Object.fromEntries(maps.get(key) ?? []);
    },
    async mapDelete(key, field) {
      maps.get(key)?.delete(field);
    },
    async publish(channel, message) {
      bus.emit(channel, message);
    },
    async subscribe(channel, onMessage) {
      bus.on(channel, onMessage);
      return async () => {
        bus.off(channel, onMessage);
      };
    },
    async ping() {},
    async close() {
      clearInterval(sweep);
      entries.clear();
      maps.clear();
      bus.removeAllListeners();
    },
  };
}
