// SessionManager.endByUpstream, what a back-channel logout does to sessions: by the IdP's `sid` it
// ends that session only; by `sub` every session of the person at that connector; the upstream
// grants of the ended logins are revoked for good (a CLI refresh then fails), also for a login
// whose session had already ended; sessions of other people, IdP sessions or connectors stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExternalIdentity } from '../../../src/core/types.js';
import { createSessionManager, sessionRef, type SessionEnd } from '../../../src/sessions/sessions.js';
import { createUpstreamGrants } from '../../../src/sessions/upstream.js';
import { createMemoryStore } from '../../../src/store/memory.js';

const HOUR = 3_600_000;
const person = (connector: string, subject: string): ExternalIdentity => ({ connector, subject, username: subject, groups: [], claims: {} });
const WHY = { reason: 'upstream_revoked', message: 'The identity provider ended this login (back-channel logout)' };

function setUp() {
  const store = createMemoryStore();
  const grants = createUpstreamGrants({ store, ttlMs: 12 * HOUR, refresh: async (identity, refreshToken) => ({ identity, refreshToken }) });
  const sessions = createSessionManager({ store, idleTtlMs: HOUR, absoluteTtlMs: 12 * HOUR, upstream: grants });
  const ended: SessionEnd[] = [];
  sessions.onEnded((end) => ended.push(end));
  const login = (identity: ExternalIdentity, sid?: string) =>
    sessions.create(identity, { upstreamRefreshToken: `rt-${identity.subject}-${sid}`, ...(sid ? { upstreamLogout: { sid } } : {}) });
  return { sessions, grants, ended, login };
}

test('by sid: that IdP session ends, with its grant; the same person’s other session stays', async () => {
  const { sessions, grants, ended, login } = setUp();
  const a = await login(person('kc', 'alice'), 'kc-sid-1');
  const b = await login(person('kc', 'alice'), 'kc-sid-2');
  const result = await sessions.endByUpstream({ connector: 'kc', sid: 'kc-sid-1', sub: 'alice' }, WHY);
  assert.deepEqual(
    result.map((r) => [r.sessionRef, r.identity?.username, r.upstreamGrant]),
    [[sessionRef(a.id), 'alice', a.identity.upstreamGrant]],
  );
  assert.equal(await sessions.get(a.id), null);
  assert.ok(await sessions.get(b.id));
  // Heard here and as the store's echo: listeners are idempotent.
  assert.deepEqual(new Set(ended.map((e) => `${e.ref} ${e.reason}`)), new Set([`${sessionRef(a.id)} signed_out`]), 'announced like a sign-out');
  const check = await grants.check(a.identity, 0);
  assert.equal(check.status, 'revoked');
  assert.equal(check.status === 'revoked' && check.reason, 'upstream_revoked');
  assert.equal((await grants.check(b.identity, 0)).status, 'current');
  assert.deepEqual(await sessions.endByUpstream({ connector: 'kc', sid: 'kc-sid-1' }, WHY), [], 'a second logout finds nothing');
});

test('by sub only: every session of that person at that connector, nobody else’s', async () => {
  const { sessions, login } = setUp();
  const a1 = await login(person('kc', 'alice'), 'x1');
  const a2 = await login(person('kc', 'alice'));
  const bob = await login(person('kc', 'bob'), 'x3');
  const elsewhere = await login(person('google', 'alice'), 'x4');
  const result = await sessions.endByUpstream({ connector: 'kc', sub: 'alice' }, WHY);
  assert.deepEqual(result.map((r) => r.sessionRef).sort(), [sessionRef(a1.id), sessionRef(a2.id)].sort());
  for (const s of [a1, a2]) assert.equal(await sessions.get(s.id), null);
  for (const s of [bob, elsewhere]) assert.ok(await sessions.get(s.id));
});

test('a sid whose session belongs to another sub is left alone', async () => {
  const { sessions, login } = setUp();
  const a = await login(person('kc', 'alice'), 'shared');
  assert.deepEqual(await sessions.endByUpstream({ connector: 'kc', sid: 'shared', sub: 'mallory' }, WHY), []);
  assert.ok(await sessions.get(a.id));
});

test('a login whose session already ended still has its grant revoked (CLI logins made from it)', async () => {
  const { sessions, grants, login } = setUp();
  const a = await login(person('kc', 'alice'), 'gone');
  await sessions.destroy(a.id);
  const result = await sessions.endByUpstream({ connector: 'kc', sid: 'gone' }, WHY);
  assert.deepEqual(result, [{ sessionRef: sessionRef(a.id), identity: undefined, upstreamGrant: a.identity.upstreamGrant }]);
  assert.equal((await grants.check(a.identity, 0)).status, 'revoked');
});
