import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalCopy, canonicalJson, chainEvent, eventLine, findChainBreak, GENESIS_HASH } from '../../../src/audit/chain.js';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { toUnchainedEvent } from '../../../src/audit/sink.js';

/** A seeded generator, so a failure names a value that can be made again. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const KEYS = ['a', 'b', 'Z', 'é', '✓', 'prev_hash', 'user', 'hash', '', ' ', '10', '2', '0x', '01', '-1', 'a"b', 'line\nbreak', '𝄞', 'B', 'aa'];
const STRINGS = ['', 'x', 'héllo', 'quote " and \\ slash', '\u0000\u001f', '\ud800', '𝄞 ✓', '</script>'];
const NUMBERS = [0, -0, 1, -1.5, 1e21, 2 ** 53, NaN, Infinity, -Infinity];

/** Values as capabilities hand them over: nested objects and arrays, undefined members, odd numbers, now and then a toJSON or a Date. */
function value(next: () => number, depth = 0): unknown {
  const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)];
  const r = next();
  if (depth > 3 || r < 0.3) return pick<unknown>([...STRINGS, ...NUMBERS, true, false, null, undefined]);
  if (r < 0.45) return Array.from({ length: Math.floor(next() * 4) }, () => (next() < 0.1 ? () => 1 : value(next, depth + 1)));
  if (r < 0.47) return new Date(0);
  if (r < 0.48) return { toJSON: () => 'custom' };
  const out: Record<string, unknown> = next() < 0.05 ? Object.create(null) : {};
  for (let i = Math.floor(next() * 6); i > 0; i--) out[pick(KEYS)] = value(next, depth + 1);
  return out;
}

describe('audit chain: the canonical copy', () => {
  test('is JSON.parse(JSON.stringify(value)), with the same canonical JSON', () => {
    const next = random(7);
    for (let i = 0; i < 20_000; i++) {
      const v = { details: value(next) };
      const copy = canonicalCopy(v);
      const roundTrip = JSON.parse(JSON.stringify(v)) as unknown;
      assert.deepEqual(copy, roundTrip, `value ${i}`);
      assert.equal(canonicalJson(copy), canonicalJson(roundTrip), `value ${i}`);
    }
  });

  test('events hash the same by either path, and the stored line is the JSON of the chained event', () => {
    const next = random(11);
    let prev = GENESIS_HASH;
    const lines: string[] = [];
    let fast = 0;
    for (let i = 0; i < 5_000; i++) {
      const details = value(next) as Record<string, unknown>;
      const event = toUnchainedEvent({
        type: 'db.query',
        outcome: i % 3 ? 'success' : 'failure',
        user: i % 2 ? 'alice' : undefined,
        roles: ['dba'],
        session_id: 's1',
        reason: i % 3 ? undefined : 'db_name_not_allowed',
        details: typeof details === 'object' && details !== null && !Array.isArray(details) ? details : { v: details },
        context: { remoteAddr: '127.0.0.1', requestId: `r${i}` },
      });
      const chained = chainEvent(event, prev);
      // The general path: the same event as a reader parses it back, key order lost.
      const general = chainEvent(JSON.parse(JSON.stringify(event)) as Omit<AuditEvent, 'prev_hash' | 'hash'>, prev);
      assert.equal(chained.hash, general.hash, `event ${i}`);
      const line = eventLine(chained);
      if (line !== JSON.stringify(general)) fast++;
      assert.equal(line, JSON.stringify(chained), `event ${i}`);
      assert.deepEqual(JSON.parse(line), general, `event ${i}`);
      lines.push(line);
      prev = chained.hash;
    }
    // Keys that start with a digit, a Date and a toJSON take the general path; the rest the fast one.
    assert.ok(fast > 1_000 && fast < 5_000, `both paths were taken (${fast} fast)`);
    assert.equal(findChainBreak(lines.map((l) => JSON.parse(l) as AuditEvent)), -1);
  });
});
