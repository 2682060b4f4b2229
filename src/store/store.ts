/**
 * Shared short-lived state: sessions, login state, replay caches, counters,
 * and fan-out between replicas. Every backend passes test/contract/store.test.ts.
 * Values are strings; callers own their encoding. TTLs are in seconds.
 * Operations throw GatehouseError `store_unavailable` (503) when the backend is down.
 */
export interface Store {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when the key is absent; true when this call set it (replay caches, locks). */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Reads and deletes atomically: a value can be taken once (state, nonce, codes). */
  take(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  /** Adds 1 and returns the new count; the TTL starts with the first increment (fixed windows). */
  increment(key: string, ttlSeconds: number): Promise<number>;
  /** A map of fields under one key (records that must be listed: access requests). No TTL. */
  mapSet(key: string, field: string, value: string): Promise<void>;
  mapGet(key: string, field: string): Promise<string | null>;
  mapEntries(key: string): Promise<Record<string, string>>;
  mapDelete(key: string, field: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Returns a function that unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** Resolves when the backend answers; rejects with store_unavailable otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

export async function getJson<T>(store: Store, key: string): Promise<T | null> {
  const raw = await store.get(key);
  return raw === null ? null : (JSON.parse(raw) as T);
}

export async function takeJson<T>(store: Store, key: string): Promise<T | null> {
  const raw = await store.take(key);
  return raw === null ? null : (JSON.parse(raw) as T);
}

export const setJson = (store: Store, key: string, value: unknown, ttlSeconds?: number): Promise<void> => store.set(key, JSON.stringify(value), ttlSeconds);
