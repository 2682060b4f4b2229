import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSessionManager, sessionRef } from '../../../src/sessions/sessions.js';
import { createMemoryStore } from '../../../src/store/memory.js';

const identity = { connector: 'corp', subject: 's1', username: 'alice', groups: ['devs'], claims: {} };

function setUp() {
  let now = Date.parse('2026-11-26T12:00:00Z');
  const clock = { now: () => now };
  const sessions = createSessionManager({ store: createMemoryStore({ clock }), idleTtlMs: 30 * 60_000, absoluteTtlMs: 8 * 3_600_000, clock });
  return { sessions, advance: (ms: number) => (now += ms) };
}

test('a session lives while used, ends when idle too long', async () => {
  const { sessions, advance } = setUp();
  const s = await sessions.create(identity);
  assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
  advance(20 * 60_000);
  assert.ok(await sessions.get(s.id), 'still alive, and touched');
  advance(20 * 60_000);
  assert.ok(await sessions.get(s.id), 'idle timer restarted by the last use');
  advance(31 * 60_000);
  assert.equal(await sessions.get(s.id), null, 'idle timeout');
});

test('a session ends at its absolute expiry however busy it is', async () => {
  const { sessions, advance } = setUp();
  const s = await sessions.create(identity);
  for (let i = 0; i < 17; i++) {
    advance(29 * 60_000);
    await sessions.get(s.id);
  }
  advance(29 * 60_000);
  assert.equal(await sessions.get(s.id), null);
});

test('destroy ends a session; malformed ids are never looked up', async () => {
  const { sessions } = setUp();
  const s = await sessions.create(identity);
  await sessions.destroy(s.id);
  assert.equal(await sessions.get(s.id), null);
  assert.equal(await sessions.get('../../etc/passwd'), null);
  assert.notEqual(sessionRef(s.id), s.id);
  assert.equal(sessionRef(s.id).length, 24);
});

test('onEnded hears of a destroy here, an expiry found here and a destroy announced by another replica', async () => {
  let now = Date.parse('2026-11-26T12:00:00Z');
  const clock = { now: () => now };
  const store = createMemoryStore({ clock });
  // An idle TTL off whole seconds: the store keeps the record a little longer, so the manager sees it expired.
  const here = createSessionManager({ store, idleTtlMs: 1_500, absoluteTtlMs: 8 * 3_600_000, clock });
  const there = createSessionManager({ store, idleTtlMs: 1_500, absoluteTtlMs: 8 * 3_600_000, clock });
  const heard: { ref: string; reason: string }[] = [];
  const stop = here.onEnded((end) => heard.push(end));
  assert.equal(there.listening(), false, 'no store subscription while nobody listens');

  const a = await here.create(identity);
  await here.destroy(a.id);
  assert.deepEqual(heard[0], { ref: sessionRef(a.id), reason: 'signed_out' });

  const b = await there.create(identity);
  await there.destroy(b.id);
  assert.ok(
    heard.some((e) => e.ref === sessionRef(b.id) && e.reason === 'signed_out'),
    'announced through the store',
  );

  const c = await here.create(identity);
  now += 1_600;
  assert.equal(await here.get(c.id), null);
  assert.deepEqual(heard.at(-1), { ref: sessionRef(c.id), reason: 'expired' });

  await stop();
  assert.equal(here.listening(), false, 'the store subscription ends with the last listener');
  const d = await there.create(identity);
  const count = heard.length;
  await there.destroy(d.id);
  assert.equal(heard.length, count);
});
