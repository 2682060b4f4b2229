import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refreshErrorFromOidc } from '../../../src/connectors/oidc-errors.js';

/** What openid-client v6 throws for an OAuth error body: a ClientError whose cause is oauth4webapi's ResponseBodyError. */
const bodyError = (error: string, description?: string) => {
  const inner = Object.assign(new Error('server responded with an error in the response body'), {
    code: 'OAUTH_RESPONSE_BODY_ERROR',
    error,
    error_description: description,
  });
  return Object.assign(new Error('invalid response encountered', { cause: inner }), { code: 'OAUTH_RESPONSE_BODY_ERROR', error });
};

test("refresh: invalid_grant is upstream_revoked, with the IdP's words reduced to plain text", () => {
  const err = refreshErrorFromOidc(bodyError('invalid_grant', 'User disabled'));
  assert.equal(err.code, 'upstream_revoked');
  assert.equal(err.status, 401);
  assert.equal(err.message, 'The identity provider no longer accepts this login (User disabled).');
  const odd = refreshErrorFromOidc(bodyError('invalid_grant', '<script>x</script>"Session" not active\n'));
  assert.equal(odd.message, 'The identity provider no longer accepts this login (scriptxscriptSession not active).');
  assert.equal(refreshErrorFromOidc(bodyError('invalid_grant')).message, 'The identity provider no longer accepts this login.');
});

test('refresh: other refusals say nothing about the person (idp_unavailable, 502)', () => {
  for (const error of ['invalid_client', 'server_error', 'unauthorized_client']) {
    const err = refreshErrorFromOidc(bodyError(error, 'whatever'));
    assert.equal(err.code, 'idp_unavailable', error);
    assert.equal(err.status, 502);
  }
  assert.equal(refreshErrorFromOidc(new TypeError('fetch failed')).code, 'idp_unavailable');
});

test('refresh: a new ID token that fails a check keeps its login code', () => {
  const inner = Object.assign(new Error('unexpected JWT "iss" (issuer) claim value'), { code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', cause: { claim: 'iss' } });
  const err = refreshErrorFromOidc(Object.assign(new Error('invalid response encountered', { cause: inner }), { code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' }));
  assert.equal(err.code, 'id_token_issuer');
  assert.equal(err.status, 401);
});
