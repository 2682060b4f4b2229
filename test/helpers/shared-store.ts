import { storeUnavailable } from '../../src/core/errors.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/store.js';

/**
 * A memory store that presents itself as shared (`kind: 'redis'`, as replicas see Redis), and can
 * be "taken down": while `down` is true, every call fails as an unreachable Redis does.
 */
export function sharedStore(): Store & { down: boolean } {
  const inner = createMemoryStore();
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (shared.down) throw storeUnavailable(new Error('connection refused'));
      return fn(...args);
    };
  const shared: Store & { down: boolean } = {
    down: false,
    kind: 'redis',
    get: guard(inner.get),
    set: guard(inner.set),
    setIfAbsent: guard(inner.setIfAbsent),
    take: guard(inner.take),
    delete: guard(inner.delete),
    increment: guard(inner.increment),
    mapSet: guard(inner.mapSet),
    mapGet: guard(inner.mapGet),
    mapEntries: guard(inner.mapEntries),
    mapDelete: guard(inner.mapDelete),
    publish: guard(inner.publish),
    subscribe: guard(inner.subscribe),
    ping: guard(inner.ping),
    close: inner.close,
  };
  return shared;
}
