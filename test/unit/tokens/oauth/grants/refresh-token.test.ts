import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ExternalIdentity } from '../../../../../src/core/types.js';
import { createMemoryStore } from '../../../../../src/store/memory.js';
import { createTokenIssuer } from '../../../../../src/tokens/issuer.js';
import { createKeyManager } from '../../../../../src/tokens/keys.js';
import type { UpstreamRecheck } from '../../../../../src/tokens/oauth/options.js';
import { createOAuthServer } from '../../../../../src/tokens/oauth/server.js';
import { createTokenRevocations } from '../../../../../src/tokens/revocations.js';

const MINUTE = 60_000;
const CLIENT = 'gatehouse-cli';
const alice: ExternalIdentity = { connector: 'kc', subject: 's-alice', username: 'alice', groups: ['admins', 'devs'], claims: {}, upstreamGrant: 'g1' };

/** An authorization server whose entitlement reads the groups, and whose upstream re-check is `upstream`. */
function setUp(upstream: UpstreamRecheck) {
  const store = createMemoryStore();
  const keys = createKeyManager({ alg: 'ES256', dataDir: mkdtempSync(join(tmpdir(), 'gh-refresh-')), rotateEveryMs: 60 * MINUTE, maxTokenTtlMs: 10 * MINUTE });
  const revocations = createTokenRevocations({ store, tokenTtlMs: 10 * MINUTE });
  const issuer = createTokenIssuer({ issuer: 'https://gate.example.com', keys, defaultTtlMs: 10 * MINUTE, isRevoked: revocations.isRevoked });
  const oauth = createOAuthServer({
    store,
    issuer,
    gatewayAudience: 'gatehouse',
    clientId: CLIENT,
    resources: () => [],
    entitle: (identity) => ({ allowed: true, grant: { roles: identity.groups.includes('admins') ? ['admin'] : ['dev'], groups: identity.groups } }),
    revocations,
    tokenTtlMs: 10 * MINUTE,
    refreshTtlMs: 60 * MINUTE,
    verificationUri: 'https://gate.example.com/device',
    upstream,
  });
  const login = async () => {
    const start = await oauth.startDeviceAuthorization({ client_id: CLIENT });
    await oauth.decideDevice(start.user_code, alice, true);
    return oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code });
  };
  return { oauth, issuer, login };
}

test('every refresh mints from what the IdP says now', async () => {
  const asked: ExternalIdentity[] = [];
  let groups = ['admins', 'devs'];
  const { oauth, issuer, login } = setUp(async (identity) => {
    asked.push(identity);
    return { identity: { ...identity, groups } };
  });
  const tokens = await login();
  assert.equal(asked.length, 0, 'the first tokens come from the login itself');

  groups = ['devs'];
  const next = await oauth.refresh({ client_id: CLIENT, refresh_token: tokens.refresh_token });
  const claims = await issuer.verify(next.access_token, { audience: 'gatehouse' });
  assert.deepEqual(claims.roles, ['dev']);
  assert.deepEqual(claims.groups, ['devs']);
  assert.equal(asked[0].upstreamGrant, 'g1', 'the re-check gets the login identity, with its grant');
});

test('an IdP that no longer accepts the login: invalid_grant with its reason, and the family is revoked', async () => {
  const { oauth, issuer, login } = setUp(async () => ({
    revoked: { reason: 'upstream_revoked', message: 'The identity provider no longer accepts this login (User disabled).' },
  }));
  const tokens = await login();
  await assert.rejects(
    oauth.refresh({ client_id: CLIENT, refresh_token: tokens.refresh_token }),
    (err: Error & { code?: string; reason?: string; user?: string }) => {
      assert.equal(err.code, 'invalid_grant');
      assert.equal(err.reason, 'upstream_revoked');
      assert.equal(err.user, 'alice');
      assert.equal(err.message, 'The identity provider no longer accepts this login (User disabled): sign in again.');
      return true;
    },
  );
  await assert.rejects(issuer.verify(tokens.access_token, { audience: 'gatehouse' }), (e) => (e as { code: string }).code === 'token_revoked');
});
