import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomId } from '../../../src/core/ids.js';

test('random ids from the pool: the asked length, never repeated, across pool refills and past its size', () => {
  const seen = new Set<string>();
  // 3,000 ids of 12 bytes and 1,000 of 32 go through the 4 KiB pool about 17 times.
  for (let i = 0; i < 4_000; i++) {
    const bytes = i % 4 === 0 ? 32 : 12;
    const id = randomId(bytes);
    assert.equal(Buffer.from(id, 'base64url').length, bytes);
    assert.ok(!seen.has(id), `id ${i} repeated`);
    seen.add(id);
  }
  assert.equal(Buffer.from(randomId(5000), 'base64url').length, 5000);
  assert.equal(Buffer.from(randomId(), 'base64url').length, 32);
});
