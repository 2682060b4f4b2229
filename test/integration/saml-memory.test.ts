/**
 * Memory: 10,000 ACS validations in one process (our checks, samlify's second opinion, the
 * replay cache) must not grow the heap or RSS. The schema validator is the real xmllint in a
 * child process; the same response text is validated each time, so after the first run its
 * result comes from the validator's small digest memo, and what is measured is everything that
 * runs inside this process. RSS before and after is printed; the bound is 40 MiB of growth
 * (a leak of even 4 KiB per validation would exceed it) and 16 MiB of heap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { replayKey } from '../../src/connectors/saml/checks/replay.js';
import { startOfflineSp } from '../helpers/saml-offline-sp.js';
import { requireBinary } from '../helpers/services.js';

const ITERATIONS = 10_000;
const RSS_BOUND = 40 * 1024 * 1024;
const HEAP_BOUND = 16 * 1024 * 1024;

/** A full GC between measurements, without needing `node --expose-gc`. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test(`${ITERATIONS} ACS validations keep RSS and heap flat`, { timeout: 900_000 }, async (t) => {
  if (!requireBinary(t, 'xmllint')) return;
  const { idp, connector, store, close } = startOfflineSp('mem');
  const { encoded, assertionId } = await idp.response({
    spMetadata: connector.spMetadata(),
    inResponseTo: '_req-1',
    attributes: [['uid', 'alice'], ['groups', ['a', 'b', 'c']]],
    notOnOrAfter: 3_600_000,
  });
  const validate = async () => {
    const { identity } = await connector.finishLogin({ callbackUrl: new URL(connector.acsUrl), state: '', pending: { requestId: '_req-1' }, form: { SAMLResponse: encoded } });
    assert.equal(identity.username, 'alice');
    await store.delete(replayKey('mem', assertionId));
  };
  for (let i = 0; i < 500; i++) await validate(); // warm-up: JIT, caches, memo
  gc();
  const before = process.memoryUsage();
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) await validate();
  gc();
  await new Promise((r) => setTimeout(r, 100));
  const after = process.memoryUsage();
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  t.diagnostic(
    `${ITERATIONS} validations in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS ${mib(before.rss)} → ${mib(after.rss)} (${mib(after.rss - before.rss)}), heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  assert.ok(after.rss - before.rss < RSS_BOUND, `RSS grew by ${mib(after.rss - before.rss)}`);
  assert.ok(after.heapUsed - before.heapUsed < HEAP_BOUND, `heap grew by ${mib(after.heapUsed - before.heapUsed)}`);
  await close();
});
