import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reusable } from '../../../src/cli/session.js';

const jwt = (claims: Record<string, unknown>) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;
const now = () => Math.floor(Date.now() / 1000);

test('cached tokens: reused until a minute before expiry; under an access request, only 30 s after issue', () => {
  const inTenMinutes = Date.now() + 600_000;
  assert.equal(reusable(jwt({ iat: now() - 300 }), inTenMinutes), true, 'a plain token lives out its cache time');
  assert.equal(reusable(jwt({ iat: now() }), Date.now() + 30_000), false, 'renewed a minute early');
  assert.equal(reusable(jwt({ iat: now() - 5, access_requests: ['r1'] }), inTenMinutes), true);
  assert.equal(reusable(jwt({ iat: now() - 31, access_requests: ['r1'] }), inTenMinutes), false, 'the request may have ended: refresh');
  assert.equal(reusable('not-a-jwt', inTenMinutes), false);
  assert.equal(reusable(undefined, inTenMinutes), false);
});
