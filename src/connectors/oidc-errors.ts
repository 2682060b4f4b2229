import { GatehouseError } from '../core/errors.js';

/**
 * Maps openid-client / oauth4webapi failures to our stable login error codes.
 * Each code names one check: nonce, signature, audience, expiry, issuer, code exchange.
 */
export function loginErrorFromOidc(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const e = err as { code?: string; message?: string; cause?: { claim?: string; error?: string } & Record<string, unknown>; error?: string };
  const claim = e.cause?.claim;
  const fail = (code: string, message: string, status = 401) => new GatehouseError(code, message, { status, cause: err });
  switch (e.code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      if (claim === 'nonce') return fail('nonce_mismatch', 'The ID token nonce does not match this login.');
      if (claim === 'aud' || claim === 'azp') return fail('id_token_audience', 'The ID token was issued for another client.');
      if (claim === 'iss') return fail('id_token_issuer', 'The ID token was issued by another issuer.');
      return fail('id_token_invalid', `The ID token claim "${claim}" is invalid.`);
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return claim === 'exp'
        ? fail('id_token_expired', 'The ID token has expired.')
        : fail('id_token_invalid', `The ID token "${claim}" time is invalid.`);
    case 'OAUTH_JWS_SIGNATURE_VALIDATION_FAILED':
    case 'OAUTH_KEY_SELECTION_FAILED':
    case 'OAUTH_UNSUPPORTED_OPERATION':
    case 'OAUTH_JWT_USERINFO_EXPECTED':
      return fail('id_token_signature', 'The ID token signature could not be verified with the IdP keys.');
    case 'OAUTH_RESPONSE_BODY_ERROR':
      return fail('code_rejected', `The IdP refused the authorization code (${e.error ?? 'invalid_grant'}).`);
    case 'OAUTH_AUTHORIZATION_RESPONSE_ERROR':
      return fail('idp_error', `The IdP returned an error (${e.error ?? 'unknown'}).`);
  }
  if (e.message && /\balg\b|algorithm|JWS|JWT/i.test(e.message)) {
    return fail('id_token_invalid', 'The ID token is malformed or uses an algorithm that is not allowed.');
  }
  return new GatehouseError('idp_unavailable', 'The identity provider could not be reached or answered unexpectedly.', {
    status: 502,
    expose: true,
    cause: err,
  });
}
