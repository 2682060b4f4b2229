import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../../../src/core/errors.js';
import type { ExternalIdentity } from '../../../src/core/types.js';
import { createSessionManager, sessionRef, UPSTREAM_RECHECK_MS, type UpstreamRevoked } from '../../../src/sessions/sessions.js';
import { createUpstreamGrants, type UpstreamRefresh } from '../../../src/sessions/upstream.js';
import { createMemoryStore } from '../../../src/store/memory.js';

const alice: ExternalIdentity = { connector: 'kc', subject: 's-alice', username: 'alice', groups: ['admins', 'devs'], claims: {} };
const HOUR = 3_600_000;

/** An IdP stand-in: answers with `groups`, rotates its refresh token, or refuses as told. */
function setUp() {
  let now = Date.parse('2026-12-01T09:00:00Z');
  const clock = { now: () => now };
  const store = createMemoryStore({ clock });
  const idp = { groups: ['admins', 'devs'], fail: undefined as Error | undefined, calls: [] as string[], rotation: 0 };
  const refresh: UpstreamRefresh = async (previous, refreshToken) => {
    idp.calls.push(refreshToken);
    if (idp.fail) throw idp.fail;
    return { identity: { ...previous, groups: [...idp.groups] }, refreshToken: `rt-${++idp.rotation}` };
  };
  const warnings: string[] = [];
  const grants = createUpstreamGrants({ store, refresh, ttlMs: 12 * HOUR, clock, logger: { warn: (_o, msg) => warnings.push(msg) } });
  const revoked: UpstreamRevoked[] = [];
  const sessions = createSessionManager({
    store,
    idleTtlMs: HOUR,
    absoluteTtlMs: 12 * HOUR,
    clock,
    upstream: grants,
    onUpstreamRevoked: async (e) => void revoked.push(e),
  });
  return { store, grants, sessions, idp, revoked, warnings, advance: (ms: number) => (now += ms) };
}

const refused = () => new GatehouseError('upstream_revoked', 'The identity provider no longer accepts this login (User disabled).', { status: 401 });

test('a grant answers from its last check while fresh, and asks the IdP (rotating its refresh token) when older', async () => {
  const { grants, idp, advance } = setUp();
  const identity = await grants.save(alice, 'rt-0', 'session-id');
  assert.match(identity.upstreamGrant ?? '', /^[A-Za-z0-9_-]{22}$/);

  assert.deepEqual(await grants.check(identity, 60_000), { status: 'current', identity }, 'fresh: the IdP is not asked');
  assert.deepEqual(idp.calls, []);

  idp.groups = ['devs'];
  advance(60_000);
  const checked = await grants.check(identity, 60_000);
  assert.equal(checked.status, 'current');
  assert.deepEqual(checked.status === 'current' && checked.identity.groups, ['devs'], "the IdP's groups of today");
  assert.equal(checked.status === 'current' && checked.identity.upstreamGrant, identity.upstreamGrant, 'still the same grant');

  await grants.check(identity, 0);
  assert.deepEqual(idp.calls, ['rt-0', 'rt-1'], 'the rotated refresh token is used next');
});

test('an IdP refusal revokes the grant for good; an unreachable IdP leaves the last answer standing', async () => {
  const { grants, idp, warnings } = setUp();
  const identity = await grants.save(alice, 'rt-0', 'session-id');

  idp.fail = new GatehouseError('idp_unavailable', 'The identity provider could not be reached.', { status: 502 });
  assert.deepEqual(await grants.check(identity, 0), { status: 'current', identity });
  idp.fail = new Error('socket hang up');
  assert.deepEqual(await grants.check(identity, 0), { status: 'current', identity });
  assert.equal(warnings.length, 2, 'logged');

  idp.fail = refused();
  const first = await grants.check(identity, 0);
  assert.equal(first.status, 'revoked');
  assert.ok(first.status === 'revoked' && first.first && first.reason === 'upstream_revoked' && first.sessionId === 'session-id');
  assert.match(first.status === 'revoked' ? first.message : '', /User disabled/);

  idp.fail = undefined;
  const calls = idp.calls.length;
  const again = await grants.check(identity, 0);
  assert.ok(again.status === 'revoked' && !again.first, 'still revoked, and not news');
  assert.equal(idp.calls.length, calls, 'the IdP is not asked again');

  const forged = await grants.check({ ...alice, upstreamGrant: '../../etc' }, 0);
  assert.equal(forged.status, 'revoked', 'an unknown grant counts as ended');
});

test('a browser session re-checks at most once a minute, takes the new groups, and ends when the IdP refuses', async () => {
  const { sessions, idp, revoked, advance } = setUp();
  const ended: string[] = [];
  await sessions.onEnded((e) => ended.push(e.ref));
  const s = await sessions.create(alice, { upstreamRefreshToken: 'rt-0' });
  assert.ok(s.identity.upstreamGrant);

  advance(UPSTREAM_RECHECK_MS - 1);
  await sessions.get(s.id);
  assert.deepEqual(idp.calls, [], 'not yet');

  idp.groups = ['devs'];
  advance(1);
  assert.deepEqual((await sessions.get(s.id))?.identity.groups, ['devs']);
  assert.deepEqual(idp.calls, ['rt-0']);
  await sessions.get(s.id);
  assert.equal(idp.calls.length, 1, 'checked: the next minute is quiet');

  idp.fail = refused();
  advance(UPSTREAM_RECHECK_MS);
  assert.equal(await sessions.get(s.id), null, 'the IdP refused: the session is over');
  assert.deepEqual([...new Set(ended)], [sessionRef(s.id)], "heard (here, and maybe as the store's echo)");
  assert.equal(revoked.length, 1);
  assert.deepEqual(
    { ...revoked[0], identity: undefined },
    {
      identity: undefined,
      reason: 'upstream_revoked',
      message: refused().message,
      via: 'session',
      sessionRef: sessionRef(s.id),
    },
  );
});

test('recheck (a CLI refresh) always asks, and a refusal ends the session of that login, told once', async () => {
  const { sessions, idp, revoked } = setUp();
  const s = await sessions.create(alice, { upstreamRefreshToken: 'rt-0' });

  idp.groups = ['devs'];
  const now = await sessions.recheck(s.identity);
  assert.ok('identity' in now && now.identity.groups.length === 1, 'asked at once, no minute to wait');

  idp.fail = refused();
  assert.deepEqual(await sessions.recheck(s.identity), { revoked: { reason: 'upstream_revoked', message: refused().message } });
  assert.equal(await sessions.get(s.id), null);
  assert.equal(revoked.length, 1);
  assert.equal(revoked[0].via, 'refresh');
  assert.equal(revoked[0].sessionRef, sessionRef(s.id));

  assert.ok('revoked' in (await sessions.recheck(s.identity)), 'another CLI login of the same grant is refused too');
  assert.equal(revoked.length, 1, 'but that is no news');
});

test('logins without a refresh token are never re-checked', async () => {
  const { sessions, idp, advance } = setUp();
  const s = await sessions.create(alice, {});
  assert.equal(s.identity.upstreamGrant, undefined);
  advance(10 * UPSTREAM_RECHECK_MS);
  assert.ok(await sessions.get(s.id));
  assert.deepEqual(await sessions.recheck(s.identity), { identity: s.identity });
  assert.deepEqual(idp.calls, []);
});
