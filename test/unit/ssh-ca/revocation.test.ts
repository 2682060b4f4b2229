import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryStore } from '../../../src/store/memory.js';
import { BACKDATE_S } from '../../../src/ssh-ca/issue.js';
import { covers, createRevocations } from '../../../src/ssh-ca/revocation.js';

const cert = (serial: bigint, keyId: string, issuedAt: number) => ({ serial, keyId, validAfter: issuedAt - BACKDATE_S });

test('a per-person revocation covers certificates issued up to and including its second, and only that person', () => {
  const revocation = { user: 'bob', issued_up_to: 1_000 };
  assert.equal(covers(revocation, cert(1n, 'bob', 999)), true);
  assert.equal(covers(revocation, cert(1n, 'bob', 1_000)), true);
  assert.equal(covers(revocation, cert(1n, 'bob', 1_001)), false);
  assert.equal(covers(revocation, cert(1n, 'alice', 999)), false);
  assert.equal(covers({ serial: '7', user: 'bob' }, cert(7n, 'bob', 1)), true);
  assert.equal(covers({ serial: '7', user: 'bob' }, cert(8n, 'bob', 1)), false);
});

test('revocations are stored, announced to watchers, and expire with what they cover', async () => {
  const store = createMemoryStore();
  const revocations = createRevocations(store, { maxCertTtlMs: 3_600_000 });
  const now = Math.floor(Date.now() / 1000);
  const seen: unknown[] = [];
  const watch = revocations.watch((r) => seen.push(r));
  for (let i = 0; i < 50 && !watch.listening(); i++) await new Promise((r) => setTimeout(r, 10));

  await revocations.remember({ serial: '42', user: 'bob', valid_before: now + 600, key_fingerprint: 'SHA256:x' });
  assert.equal((await revocations.issued('42'))?.user, 'bob');
  assert.equal(await revocations.isRevoked(cert(42n, 'bob', now)), false);
  await revocations.revokeSerial((await revocations.issued('42'))!);
  assert.equal(await revocations.isRevoked(cert(42n, 'bob', now)), true);
  assert.equal(await revocations.isRevoked(cert(43n, 'bob', now)), false);

  await revocations.revokeUser('carol');
  assert.equal(await revocations.isRevoked(cert(44n, 'carol', now - 5)), true);
  assert.equal(await revocations.isRevoked(cert(45n, 'carol', now + 5)), false);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, [
    { serial: '42', user: 'bob' },
    { user: 'carol', issued_up_to: (seen[1] as { issued_up_to: number }).issued_up_to },
  ]);
  await watch.close();
  await store.close();
});
