import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createKeyManager } from '../../../src/tokens/keys.js';
import type { Store } from '../../../src/store/store.js';
import { sharedStore } from '../../helpers/shared-store.js';

const MINUTE = 60_000;

describe('signing keys shared by replicas', () => {
  let now = Date.parse('2026-11-26T12:00:00Z');
  const clock = { now: () => now };
  const options = (store: Store) => ({
    alg: 'ES256' as const,
    store,
    clock,
    dataDir: mkdtempSync(join(tmpdir(), 'gh-keys-')),
    rotateEveryMs: 60 * MINUTE,
    maxTokenTtlMs: 10 * MINUTE,
  });

  test('replicas starting at the same moment agree on one key', async () => {
    const store = sharedStore();
    const replicas = Array.from({ length: 4 }, () => createKeyManager(options(store)));
    const kids = await Promise.all(replicas.map(async (k) => (await k.active()).kid));
    assert.equal(new Set(kids).size, 1, `one key for all replicas, got ${kids.join(', ')}`);
    const jwks = await replicas[0].jwks();
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [kids[0]],
    );
  });

  test('keys already loaded keep serving while the store is away; a cold start fails clearly', async () => {
    const store = sharedStore();
    const warm = createKeyManager(options(store));
    const { kid } = await warm.active();
    store.down = true;
    now += 5 * MINUTE; // past the periodic re-read, which now fails
    assert.equal((await warm.active()).kid, kid);
    assert.deepEqual(
      (await warm.jwks()).keys.map((k) => k.kid),
      [kid],
    );
    const cold = createKeyManager(options(store));
    await assert.rejects(cold.active(), (err: Error & { code?: string }) => err.code === 'store_unavailable');
    store.down = false;
    assert.equal((await cold.active()).kid, kid);
  });
});
