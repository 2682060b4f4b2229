import type { Store } from './store.js';

export interface Subscription {
  /** True once the store has confirmed the subscription. */
  listening(): boolean;
  close(): Promise<void>;
}

/**
 * Subscribes to a store channel, retrying with backoff while the store is not reachable, so start
 * order never matters. Callers must bound what they miss meanwhile (short caches, store checks).
 */
export function subscribeUntilClosed(store: Store, channel: string, onMessage: (message: string) => void): Subscription {
  let unsubscribe: (() => Promise<void>) | undefined;
  let closed = false;
  const attempt = (delayMs: number) => {
    if (closed) return;
    store.subscribe(channel, onMessage).then(
      (off) => {
        if (closed) void off();
        else unsubscribe = off;
      },
      () => setTimeout(() => attempt(Math.min(delayMs * 2, 30_000)), delayMs).unref(),
    );
  };
  attempt(1000);
  return {
    listening: () => unsubscribe !== undefined,
    async close() {
      closed = true;
      await unsubscribe?.().catch(() => undefined);
    },
  };
}
