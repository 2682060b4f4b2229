import { GatehouseError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';

/**
 * Maps openid-client / oauth4webapi failures to our stable login error codes.
 * Each code names one check: nonce, signature, audience, expiry, issuer, code exchange.
 *
 * openid-client v6 re-throws most oauth4webapi errors as a `ClientError` that keeps the `code`
 * but replaces the message with a generic one ("invalid response encountered") and moves the
 * original `OperationProcessingError` to `cause`. The specifics (which claim, which JWS header,
 * the signature check) are on that inner error's own `cause`, so we look down the chain.
 */
export function loginErrorFromOidc(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const { code, message, details, error } = unwrap(err);
  const claim = typeof details.claim === 'string' ? details.claim : undefined;
  const fail = (loginCode: ErrorCode, text: string, status = 401) => new GatehouseError(loginCode, text, { status, cause: err });
  const badSignature = () => fail('id_token_signature', 'The ID token signature could not be verified with the IdP keys.');
  const badAlgorithm = () => fail('id_token_signature', 'The ID token is not signed with an algorithm the IdP advertises.');
  const invalidToken = () => fail('id_token_invalid', 'The ID token is malformed or lacks a required claim.');

  switch (code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      if (claim === 'nonce') return fail('nonce_mismatch', 'The ID token nonce does not match this login.');
      if (claim === 'aud' || claim === 'azp') return fail('id_token_audience', 'The ID token was issued for another client.');
      if (claim === 'iss') return fail('id_token_issuer', 'The ID token was issued by another issuer.');
      return fail('id_token_invalid', `The ID token claim "${claim ?? 'unknown'}" is invalid.`);
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return claim === 'exp'
        ? fail('id_token_expired', 'The ID token has expired.')
        : fail('id_token_invalid', `The ID token "${claim ?? 'unknown'}" time is invalid.`);
    case 'OAUTH_KEY_SELECTION_FAILED':
      // No key in the IdP's JWKS matches the token's kid/alg.
      return badSignature();
    case 'OAUTH_UNSUPPORTED_OPERATION':
      // Unsupported or symmetric JWS algorithm, or a `crit` header (details carry `alg`/`header`).
      if ('alg' in details || 'header' in details) return badAlgorithm();
      break;
    case 'OAUTH_INVALID_RESPONSE':
      // The signature did not verify against the selected JWKS key.
      if ('signature' in details && 'key' in details) return badSignature();
      // `alg` not in id_token_signing_alg_values_supported (this is what stops `alg: none`).
      if ('header' in details && 'expected' in details) return badAlgorithm();
      // A required claim is missing or has the wrong type, or the JWT is not three parts.
      if ('claims' in details || /\bJWT\b/.test(message)) return invalidToken();
      break;
    case 'OAUTH_PARSE_ERROR':
      if (/\bJWT\b/.test(message)) return invalidToken();
      break;
    case 'OAUTH_RESPONSE_BODY_ERROR':
      return fail('code_rejected', `The IdP refused the authorization code (${error ?? 'invalid_grant'}).`);
    case 'OAUTH_AUTHORIZATION_RESPONSE_ERROR':
      return fail('idp_error', `The IdP returned an error (${error ?? 'unknown'}).`);
  }
  return new GatehouseError('idp_unavailable', 'The identity provider could not be reached or answered unexpectedly.', {
    status: 502,
    expose: true,
    cause: err,
  });
}

/**
 * The same for a refresh_token grant (re-checking a person with the IdP): `invalid_grant` means
 * the IdP no longer accepts this login (Keycloak: "User disabled", "Session not active", "Token is
 * not active"), so `upstream_revoked`; an ID token that fails a check keeps its login code; any
 * other refusal (invalid_client, server_error) says nothing about the person: `idp_unavailable`.
 */
export function refreshErrorFromOidc(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const { code, error, description } = unwrap(err);
  if (code === 'OAUTH_RESPONSE_BODY_ERROR') {
    if (error !== 'invalid_grant') {
      return new GatehouseError('idp_unavailable', `The identity provider refused to refresh the login (${error ?? 'unknown'}).`, { status: 502, cause: err });
    }
    // The IdP's own short words ("User disabled"), cut and reduced to plain text.
    const said = description?.replace(/[^\w .,:'-]/g, '').slice(0, 80);
    return new GatehouseError('upstream_revoked', `The identity provider no longer accepts this login${said ? ` (${said})` : ''}.`, {
      status: 401,
      cause: err,
    });
  }
  return loginErrorFromOidc(err);
}

interface OAuthFailure {
  /** The first `OAUTH_*` code on the chain. */
  code?: string;
  /** The message of the innermost error carrying that code (the specific one). */
  message: string;
  /** That error's non-Error `cause`: `{ claim }`, `{ header, expected }`, `{ key, signature }`, `{ claims }`… */
  details: Record<string, unknown>;
  /** The OAuth `error` of a response body or authorization response error. */
  error?: string;
  /** Its `error_description`. */
  description?: string;
}

function unwrap(err: unknown): OAuthFailure {
  const out: OAuthFailure = { message: err instanceof Error ? err.message : String(err), details: {} };
  let node: unknown = err;
  for (let depth = 0; node instanceof Error && depth < 8; depth++) {
    const { code, error, error_description: description, cause } = node as Error & { code?: unknown; error?: unknown; error_description?: unknown };
    if (typeof error === 'string') out.error ??= error;
    if (typeof description === 'string') out.description ??= description;
    if (typeof code === 'string' && code.startsWith('OAUTH_') && (out.code === undefined || out.code === code)) {
      out.code = code;
      out.message = node.message;
      out.details = cause && typeof cause === 'object' && !(cause instanceof Error) ? (cause as Record<string, unknown>) : {};
    }
    node = cause;
  }
  return out;
}
