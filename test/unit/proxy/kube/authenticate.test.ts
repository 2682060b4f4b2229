import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JWTPayload } from 'jose';
import type { ClusterConfig } from '../../../../src/config/schema.js';
import type { Clock } from '../../../../src/core/clock.js';
import { createAuthenticator } from '../../../../src/proxy/kube/authenticate.js';
import { TokenRejectedError, type TokenIssuer, type TokenRejection } from '../../../../src/tokens/issuer.js';

const cluster = { name: 'prod', audience: 'kube:prod' } as ClusterConfig;
const claims: JWTPayload = {
  sub: 'corp:alice',
  preferred_username: 'alice',
  connector: 'corp',
  groups: ['dev'],
  roles: ['developer'],
  kubernetes_users: ['alice'],
};

function setup(verify: (token: string, options: { audience: string }) => Promise<JWTPayload>) {
  const clock: Clock & { time: number } = { time: 1_000_000_000_000, now: () => clock.time };
  let verified = 0;
  const issuer = {
    verify: (token: string, options: { audience: string }) => {
      verified += 1;
      return verify(token, options);
    },
  } as unknown as TokenIssuer;
  return { clock, authenticate: createAuthenticator(issuer, clock), verified: () => verified };
}

describe('kube proxy authentication', () => {
  test('a verified bearer becomes the person, verified once for up to 10 s', async () => {
    const s = setup(async () => ({ ...claims, exp: Math.floor(s.clock.time / 1000) + 3600 }));
    const first = await s.authenticate('Bearer abc', cluster);
    assert.deepEqual(first, {
      identity: { username: 'alice', groups: ['dev'], users: ['alice'], roles: ['developer'], connector: 'corp' },
      claims: { ...claims, exp: Math.floor(s.clock.time / 1000) + 3600 },
      exp: s.clock.time + 10_000,
    });
    s.clock.time += 9_999;
    await s.authenticate('Bearer abc', cluster);
    assert.equal(s.verified(), 1);
    s.clock.time += 1;
    await s.authenticate('Bearer abc', cluster);
    assert.equal(s.verified(), 2);
  });

  test('a token expiring sooner is cached only until it expires', async () => {
    const s = setup(async () => ({ ...claims, exp: Math.floor(s.clock.time / 1000) + 2 }));
    const auth = await s.authenticate('Bearer abc', cluster);
    assert.equal('exp' in auth && auth.exp, s.clock.time + 2_000);
  });

  test('the cache is per cluster audience', async () => {
    const audiences: string[] = [];
    const s = setup(async (_t, { audience }) => {
      audiences.push(audience);
      return { ...claims, exp: Math.floor(s.clock.time / 1000) + 3600 };
    });
    await s.authenticate('Bearer abc', cluster);
    await s.authenticate('Bearer abc', { ...cluster, name: 'staging', audience: 'kube:staging' });
    assert.deepEqual(audiences, ['kube:prod', 'kube:staging']);
  });

  test('no bearer, or a rejected token, is a 401 with a reason', async () => {
    const reasons: Record<string, string> = { revoked: 'token_revoked', expired: 'token_expired', audience: 'token_wrong_cluster', signature: 'token_invalid' };
    for (const [rejection, reason] of Object.entries(reasons)) {
      const s = setup(async () => {
        throw new TokenRejectedError(rejection as TokenRejection, `rejected: ${rejection}`);
      });
      const denial = await s.authenticate('Bearer abc', cluster);
      assert.equal('reason' in denial && denial.reason, reason);
      assert.equal('status' in denial && denial.status, 401);
    }
    const s = setup(async () => claims);
    assert.deepEqual(await s.authenticate('Basic eDp5', cluster), {
      status: 401,
      reason: 'token_missing',
      message: 'No bearer token: use the kubeconfig from `gatehouse kube login`.',
    });
    assert.equal(s.verified(), 0);
  });
});
