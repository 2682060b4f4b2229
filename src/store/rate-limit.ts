import type { Store } from './store.js';

/*
 * A fixed-window counter in the shared store (the same scheme as the login rate limit, so
 * replicas share the budget): `hit` adds one to the key's current window and says whether the
 * limit is exceeded. `first` marks the first refused hit of a window, so callers audit a flood
 * once per window rather than once per request. `exhausted` reads without counting: true once
 * `limit` hits are in the window (a check before expensive work when only failures are counted).
 */

export interface RateLimitHit {
  count: number;
  limited: boolean;
  /** This hit is the first one over the limit in its window. */
  first: boolean;
  /** Seconds until the window ends. */
  retryAfterSeconds: number;
}

export interface FixedWindowLimiter {
  hit(key: string): Promise<RateLimitHit>;
  /** True when the current window already holds `limit` hits (the next hit would be limited). */
  exhausted(key: string): Promise<boolean>;
}

export function createFixedWindowLimiter(store: Store, options: { name: string; limit: number; windowSeconds: number }): FixedWindowLimiter {
  const windowMs = options.windowSeconds * 1000;
  const keyOf = (key: string) => `ratelimit:${options.name}:${key}:${Math.floor(Date.now() / windowMs)}`;
  const retryAfter = () => Math.max(1, Math.ceil((windowMs - (Date.now() % windowMs)) / 1000));
  return {
    async hit(key) {
      const count = await store.increment(keyOf(key), options.windowSeconds);
      return { count, limited: count > options.limit, first: count === options.limit + 1, retryAfterSeconds: retryAfter() };
    },
    async exhausted(key) {
      const raw = await store.get(keyOf(key));
      return raw !== null && Number(raw) >= options.limit;
    },
  };
}
