/**
 * Memory guard: 500 ACS validations in one process (our checks, samlify's second opinion, the
 * replay cache) must not grow the heap, external memory or RSS. The schema validator is the real
 * xmllint in a child process; the same response text is validated each time, so after the first
 * run its result comes from the validator's small digest memo, and what is measured is everything
 * that runs inside this process. The loop is shared with `bench/saml-memory.ts`, which runs
 * 10,000 validations (about 3 minutes) and is where a slow native leak shows; this guard takes
 * about 10 s alone (about 16 ms per validation on a 2-core machine).
 *
 * How the bounds were chosen, for 200 warm-up + 500 measured validations:
 * - Heap (heapUsed after a full GC) is steady: in repeated runs it grew by 0.3–0.4 MiB. A leak
 *   of 4 KiB per validation adds about 2 MiB over 500 validations (measured: a 4 KiB string kept
 *   per validation grew the heap by 4.1 MiB over 1,000). A 1 MiB bound therefore catches any JS
 *   leak of 2 KiB per validation or more, with room for noise.
 * - External memory (Buffers, after a full GC) is as exact: 0.0 MiB of growth; a 4 KiB Buffer
 *   kept per validation grew it by 4.0 MiB over 1,000. Same 1 MiB bound.
 * - RSS is not exact: after the warm-up it moved by −25 to +17 MiB (the latter on a loaded CI
 *   machine: V8 returns or keeps the pages the warm-up grew), so a 4 MiB leak hides in that drift
 *   whatever the bound. The RSS bound is a coarse backstop for leaks V8 does not see (native
 *   memory): 32 MiB, i.e. 64 KiB per validation or a runaway. Slower native leaks are for the
 *   10,000-validation bench, with its 40 MiB RSS bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeRun, measureSamlMemory, MiB, mib } from '../../bench/lib/saml-memory.js';
import { requireBinary } from '../helpers/peers/services.js';

const WARMUP = 200;
const ITERATIONS = 500;
const RSS_BOUND = 32 * MiB;
const HEAP_BOUND = 1 * MiB;
const EXTERNAL_BOUND = 1 * MiB;

test(`${ITERATIONS} ACS validations keep RSS, heap and external memory flat`, { timeout: 180_000 }, async (t) => {
  if (!requireBinary(t, 'xmllint')) return;
  const run = await measureSamlMemory({ warmup: WARMUP, iterations: ITERATIONS });
  t.diagnostic(describeRun(run));
  assert.ok(run.heapGrowth < HEAP_BOUND, `heap grew by ${mib(run.heapGrowth)} (bound ${mib(HEAP_BOUND)})`);
  assert.ok(run.externalGrowth < EXTERNAL_BOUND, `external memory grew by ${mib(run.externalGrowth)} (bound ${mib(EXTERNAL_BOUND)})`);
  assert.ok(run.rssGrowth < RSS_BOUND, `RSS grew by ${mib(run.rssGrowth)} (bound ${mib(RSS_BOUND)})`);
});
