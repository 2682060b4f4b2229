import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createMemoryStore } from '../../../../src/store/memory.js';
import { createTokenIssuer } from '../../../../src/tokens/issuer.js';
import { createKeyManager } from '../../../../src/tokens/keys.js';
import { REFRESH_TOKEN_PREFIX } from '../../../../src/tokens/oauth/families.js';
import { createOAuthServer } from '../../../../src/tokens/oauth/server.js';
import { createTokenRevocations } from '../../../../src/tokens/revocations.js';
import type { ExternalIdentity } from '../../../../src/core/types.js';

const MINUTE = 60_000;
const CLIENT = 'gatehouse-cli';
const alice: ExternalIdentity = { connector: 'corp', subject: 's-alice', username: 'alice', email: 'alice@example.com', groups: ['devs'], claims: {} };

function setUp() {
  const store = createMemoryStore();
  const keys = createKeyManager({ alg: 'ES256', dataDir: mkdtempSync(join(tmpdir(), 'gh-oauth-')), rotateEveryMs: 60 * MINUTE, maxTokenTtlMs: 10 * MINUTE });
  const revocations = createTokenRevocations({ store, tokenTtlMs: 10 * MINUTE });
  const issuer = createTokenIssuer({ issuer: 'https://gate.example.com', keys, defaultTtlMs: 10 * MINUTE, isRevoked: revocations.isRevoked });
  const oauth = createOAuthServer({
    store,
    issuer,
    gatewayAudience: 'gatehouse',
    clientId: CLIENT,
    resources: () => ['gatehouse:prod'],
    entitle: () => ({ allowed: true, grant: { roles: ['dev'], groups: ['developers'] } }),
    revocations,
    tokenTtlMs: 10 * MINUTE,
    refreshTtlMs: 60 * MINUTE,
    verificationUri: 'https://gate.example.com/device',
  });
  return { store, issuer, oauth };
}

const codeOf = (err: unknown) => (err as { code: string }).code;

describe('the device grant is redeemed once', () => {
  test('20 concurrent polls of an approved device code: exactly one token response', async () => {
    const { oauth } = setUp();
    const start = await oauth.startDeviceAuthorization({ client_id: CLIENT });
    assert.equal(await oauth.decideDevice(start.user_code, alice, true), true);
    const polls = await Promise.allSettled(Array.from({ length: 20 }, () => oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code })));
    const ok = polls.filter((p) => p.status === 'fulfilled');
    assert.equal(ok.length, 1, 'one token response');
    const refused = polls.filter((p): p is PromiseRejectedResult => p.status === 'rejected');
    assert.equal(refused.length, 19);
    for (const r of refused) assert.equal(codeOf(r.reason), 'invalid_grant');
  });

  test('a poll while pending never undoes an approval made meanwhile', async () => {
    const { oauth } = setUp();
    const start = await oauth.startDeviceAuthorization({ client_id: CLIENT });
    await assert.rejects(oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code }), (e) => codeOf(e) === 'authorization_pending');
    const [decided] = await Promise.all([
      oauth.decideDevice(start.user_code, alice, true),
      oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code }).catch(() => undefined),
    ]);
    assert.equal(decided, true);
    const tokens = await oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code });
    assert.ok(tokens.access_token);
  });
});

describe('revoking a CLI login refuses its live access tokens', () => {
  const login = async (oauth: ReturnType<typeof setUp>['oauth']) => {
    const start = await oauth.startDeviceAuthorization({ client_id: CLIENT });
    await oauth.decideDevice(start.user_code, alice, true);
    return oauth.pollDevice({ client_id: CLIENT, device_code: start.device_code });
  };

  test("refresh tokens use our own prefix, never GitHub's ghr_", async () => {
    const { oauth } = setUp();
    const tokens = await login(oauth);
    assert.ok(tokens.refresh_token.startsWith(REFRESH_TOKEN_PREFIX));
    assert.equal(REFRESH_TOKEN_PREFIX, 'gatehouse_rt_');
    await assert.rejects(
      oauth.refresh({ client_id: CLIENT, refresh_token: `ghr_${tokens.refresh_token.slice(REFRESH_TOKEN_PREFIX.length)}` }),
      (e) => codeOf(e) === 'invalid_grant',
    );
  });

  test('RFC 7009 revocation: the gateway and cluster access tokens of the family are refused (token_revoked)', async () => {
    const { oauth, issuer } = setUp();
    const tokens = await login(oauth);
    const cluster = await oauth.refresh({ client_id: CLIENT, refresh_token: tokens.refresh_token, resource: 'gatehouse:prod' });
    assert.ok(await issuer.verify(tokens.access_token, { audience: 'gatehouse' }));
    assert.ok(await issuer.verify(cluster.access_token, { audience: 'gatehouse:prod' }));
    assert.equal((await oauth.revoke({ client_id: CLIENT, token: cluster.refresh_token })).revoked, true);
    await assert.rejects(issuer.verify(tokens.access_token, { audience: 'gatehouse' }), (e) => codeOf(e) === 'token_revoked');
    await assert.rejects(issuer.verify(cluster.access_token, { audience: 'gatehouse:prod' }), (e) => codeOf(e) === 'token_revoked');
    await assert.rejects(oauth.refresh({ client_id: CLIENT, refresh_token: cluster.refresh_token }), (e) => codeOf(e) === 'invalid_grant');
  });

  test('refresh-token reuse: the access tokens of the family are refused too', async () => {
    const { oauth, issuer } = setUp();
    const tokens = await login(oauth);
    const next = await oauth.refresh({ client_id: CLIENT, refresh_token: tokens.refresh_token });
    await assert.rejects(
      oauth.refresh({ client_id: CLIENT, refresh_token: tokens.refresh_token }),
      (e) => (e as { reason: string }).reason === 'refresh_token_reused',
    );
    await assert.rejects(issuer.verify(next.access_token, { audience: 'gatehouse' }), (e) => codeOf(e) === 'token_revoked');
    await assert.rejects(issuer.verify(tokens.access_token, { audience: 'gatehouse' }), (e) => codeOf(e) === 'token_revoked');
  });

  test('another login of the same person is not affected', async () => {
    const { oauth, issuer } = setUp();
    const one = await login(oauth);
    const two = await login(oauth);
    await oauth.revoke({ client_id: CLIENT, token: one.refresh_token });
    assert.equal((await issuer.verify(two.access_token, { audience: 'gatehouse' })).preferred_username, 'alice');
  });
});
