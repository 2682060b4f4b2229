import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { createClient } from 'redis';
import { createMemoryStore } from '../../src/store/memory.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { closedPort, REDIS_URL, requireRedis } from '../helpers/peers/services.js';

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

interface Harness {
  store: Store;
  /** Moves the store's time forward by `ms` (TTLs run out as if that much time had passed). */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** The memory store on a fake clock: time moves only when the test says so. */
function memoryHarness(): Harness {
  let now = Date.now();
  const store = createMemoryStore({ clock: { now: () => now } });
  return {
    store,
    advance: async (ms) => {
      now += ms;
    },
    close: () => store.close(),
  };
}

/**
 * Redis expires keys on the server's clock, which a test cannot fake. Rather than sleeping whole
 * seconds, "advancing" shortens the TTL of every key under this suite's prefix by `ms` (PTTL, then
 * PEXPIRE in ms). A key whose TTL runs out is left 1 ms to live, so it expires through Redis's own
 * expiry (not a DEL) after a few ms; a key the store gave no TTL (PTTL -1), or too long a one,
 * stays, so the assertions still catch a store that sets TTLs wrong.
 */
async function redisHarness(): Promise<Harness> {
  const prefix = `gatehouse-contract:${process.pid}:${Date.now()}:`;
  const store = await ready(createRedisStore({ url: REDIS_URL, prefix }));
  const admin = createClient({ url: REDIS_URL });
  await admin.connect();
  return {
    store,
    async advance(ms) {
      let expiring = false;
      for await (const keys of admin.scanIterator({ MATCH: `${prefix}*` })) {
        for (const key of keys) {
          const ttl = await admin.pTTL(key);
          if (ttl < 0) continue; // no TTL, or already gone
          await admin.pExpire(key, Math.max(1, ttl - ms));
          if (ttl <= ms) expiring = true;
        }
      }
      if (expiring) await sleep(5);
    },
    async close() {
      await store.close();
      await admin.quit();
    },
  };
}

const backends: { name: string; make: () => Promise<Harness>; needsRedis: boolean }[] = [
  { name: 'memory', make: async () => memoryHarness(), needsRedis: false },
  { name: 'redis', make: redisHarness, needsRedis: true },
];

for (const backend of backends) {
  describe(`Store contract: ${backend.name}`, () => {
    let harness: Harness | undefined;
    const use = async (t: TestContext) => {
      if (backend.needsRedis && !(await requireRedis(t))) return undefined;
      harness ??= await backend.make();
      return harness.store;
    };
    const advance = (ms: number) => harness!.advance(ms);
    after(async () => harness?.close());

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
      await advance(1100);
      assert.equal(await s.get('ttl'), null);
    });

    test('take returns a value exactly once, even under concurrency', async (t) => {
      const s = await use(t);
      if (!s) return;
      await s.set('once', 'secret', 60);
      const results = await Promise.all(Array.from({ length: 20 }, () => s.take('once')));
      assert.deepEqual(
        results.filter((r) => r !== null),
        ['secret'],
      );
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
      assert.deepEqual(
        [...counts].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      await advance(1100);
      assert.equal(await s.increment('ctr', 1), 1, 'window expired');
    });

    test('maps keep fields apart, list them, and forget a deleted one', async (t) => {
      const s = await use(t);
      if (!s) return;
      assert.deepEqual(await s.mapEntries('m'), {});
      assert.equal(await s.mapGet('m', 'a'), null);
      await Promise.all([s.mapSet('m', 'a', '1'), s.mapSet('m', 'b', '2'), s.mapSet('other', 'a', 'x')]);
      await s.mapSet('m', 'a', '3');
      assert.deepEqual(await s.mapEntries('m'), { a: '3', b: '2' });
      assert.equal(await s.mapGet('m', 'a'), '3');
      await s.mapDelete('m', 'a');
      assert.deepEqual(await s.mapEntries('m'), { b: '2' });
      assert.deepEqual(await s.mapEntries('other'), { a: 'x' });
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
