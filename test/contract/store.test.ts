import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { createMemoryStore } from '../../src/store/memory.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { closedPort, REDIS_URL, requireRedis } from '../helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a freshly created Redis store has connected (it connects in the background). */
async function ready(store: Store): Promise<Store> {
  for (let i = 0; i < 100; i++) {
    try {
      await store.ping();
      return store;
    } catch {
      await sleep(20);
    }
  }
  throw new Error('store never became ready');
}

const backends: { name: string; make: () => Promise<Store>; needsRedis: boolean }[] = [
  { name: 'memory', make: async () => createMemoryStore(), needsRedis: false },
  { name: 'redis', make: () => ready(createRedisStore({ url: REDIS_URL, prefix: `gatehouse-contract:${process.pid}:${Date.now()}:` })), needsRedis: true },
];

for (const backend of backends) {
  describe(`Store contract: ${backend.name}`, () => {
    let store: Store | undefined;
    const use = async (t: TestContext) => {
      if (backend.needsRedis && !(await requireRedis(t))) return undefined;
      store ??= await backend.make();
      return store;
    };
    after(async () => store?.close());

    test('get/set/delete round-trip', async (t) => {
      const s = await use(t);
      if (!s) return;
      assert.equal(await s.get('k1'), null);
      await s.set('k1', 'v1');
      assert.equal(await s.get('k1'), 'v1');
      await s.delete('k1');
      assert.equal(await s.get('k1'), null);
    });

    test('values expire after their TTL', async (t) => {
      const s = await use(t);
      if (!s) return;
      await s.set('ttl', 'x', 1);
      assert.equal(await s.get('ttl'), 'x');
      await sleep(1100);
      assert.equal(await s.get('ttl'), null);
    });

    test('take returns a value exactly once, even under concurrency', async (t) => {
      const s = await use(t);
      if (!s) return;
      await s.set('once', 'secret', 60);
      const results = await Promise.all(Array.from({ length: 20 }, () => s.take('once')));
      assert.deepEqual(results.filter((r) => r !== null), ['secret']);
      assert.equal(await s.take('missing'), null);
    });

    test('setIfAbsent is won by exactly one caller', async (t) => {
      const s = await use(t);
      if (!s) return;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.setIfAbsent('nx', String(i), 60)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await s.setIfAbsent('nx', 'again', 60), false);
    });

    test('increment counts within a window that starts at the first increment', async (t) => {
      const s = await use(t);
      if (!s) return;
      const counts = await Promise.all(Array.from({ length: 10 }, () => s.increment('ctr', 1)));
      assert.deepEqual([...counts].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await sleep(1100);
      assert.equal(await s.increment('ctr', 1), 1, 'window expired');
    });

    test('publish reaches subscribers until they unsubscribe', async (t) => {
      const s = await use(t);
      if (!s) return;
      const received: string[] = [];
      const unsubscribe = await s.subscribe('events', (m) => received.push(m));
      await s.publish('events', 'one');
      for (let i = 0; i < 50 && received.length < 1; i++) await sleep(10);
      await unsubscribe();
      await s.publish('events', 'two');
      await sleep(50);
      assert.deepEqual(received, ['one']);
    });
  });
}

describe('Redis store when Redis is unreachable', () => {
  test('operations fail fast with store_unavailable (503) instead of hanging', async () => {
    const store = createRedisStore({ url: `redis://127.0.0.1:${await closedPort()}` });
    try {
      for (const op of [() => store.get('x'), () => store.set('x', 'y'), () => store.take('x'), () => store.ping()]) {
        await assert.rejects(op(), (err: { code?: string; status?: number }) => err.code === 'store_unavailable' && err.status === 503);
      }
    } finally {
      await store.close();
    }
  });
});
