/**
 * OpenID Connect Back-Channel Logout 1.0, §2.6: validates a logout token, failing closed.
 *
 * - A compact JWS, signed by a key of the IdP's JWKS with an allowed asymmetric algorithm (the
 *   ID tokens' list, never `none` or HS*): `logout_token_signature`.
 * - `iss` is the IdP's issuer; `aud` is or contains our client_id; `iat` is a number and not in
 *   the future beyond the clock tolerance; `exp`, when present, is not past; without `exp`, `iat`
 *   is at most MAX_AGE_S old (so the replay cache covers the token's whole life).
 * - `events` is an object whose member `http://schemas.openid.net/event/backchannel-logout` is an
 *   object; `sub` or `sid` is a non-empty string; there is no `nonce`; `jti` is a non-empty string.
 *   Any of these failing: `logout_token_invalid`, with `details.check` naming the check.
 * - `jti` was not seen before for this connector: it is kept in the store until the token can no
 *   longer be valid (`logout_token_replayed`). Checked last, so a refused token burns no jti.
 * - A JWKS that cannot be fetched is `idp_unavailable` (502), never an accept.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';
import { sha256Hex } from '../core/ids.js';
import type { Store } from '../store/store.js';
import type { LogoutTokenClaims } from './connector.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Asymmetric JWS algorithms; anything else (none, HS*) is refused whatever the IdP advertises. */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
/** How old a logout token without `exp` may be. */
export const MAX_AGE_S = 300;
const CLOCK_TOLERANCE_S = 60;
const MAX_TOKEN_LENGTH = 16 * 1024;

export interface LogoutTokenVerifierOptions {
  /** The connector's id: replay cache entries are kept per connector. */
  connectorId: string;
  clientId: string;
  /** Discovery facts, resolved per token (the IdP may be down at start-up). */
  idp(): Promise<{ issuer: string; keys: JWTVerifyGetKey; algorithms: readonly string[] }>;
  store: Store;
  clock?: Clock;
}

/** The algorithms to accept: what the IdP says it signs ID tokens with, restricted to asymmetric ones (RS256 when it says nothing). */
export function allowedAlgorithms(advertised: readonly string[] | undefined): string[] {
  const asymmetric: readonly string[] = ASYMMETRIC_ALGS;
  const allowed = (advertised ?? ['RS256']).filter((alg) => asymmetric.includes(alg));
  return allowed.length ? allowed : ['RS256'];
}

const refuse = (code: ErrorCode, check: string, message: string, cause?: unknown) =>
  new GatehouseError(code, message, { status: 400, cause, details: { check } });

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

export function createLogoutTokenVerifier(options: LogoutTokenVerifierOptions): (token: unknown) => Promise<LogoutTokenClaims> {
  const clock = options.clock ?? systemClock;
  const replayKey = (jti: string) => `oidc:logout-jti:${options.connectorId}:${sha256Hex(jti)}`;

  return async (token) => {
    if (!nonEmpty(token)) throw refuse('logout_token_invalid', 'logout_token', 'The form field logout_token is required.');
    if (token.length > MAX_TOKEN_LENGTH) throw refuse('logout_token_invalid', 'logout_token', 'The logout token is too large.');
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (err) {
      throw refuse('logout_token_invalid', 'malformed', 'The logout token is not a JWT.', err);
    }
    const idp = await options.idp();
    if (typeof alg !== 'string' || !idp.algorithms.includes(alg))
      throw refuse('logout_token_signature', 'alg', `The logout token's algorithm (${String(alg).slice(0, 16)}) is not accepted.`);
    const now = clock.now();
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, idp.keys, {
        algorithms: [...idp.algorithms],
        currentDate: new Date(now),
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (err) {
      throw joseRefusal(err);
    }
    return checkClaims(claims, idp.issuer, now);
  };

  async function checkClaims(claims: JWTPayload, issuer: string, now: number): Promise<LogoutTokenClaims> {
    const nowS = Math.floor(now / 1000);
    if (claims.iss !== issuer) throw refuse('logout_token_invalid', 'iss', 'The logout token was issued by another issuer.');
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(options.clientId)) throw refuse('logout_token_invalid', 'aud', 'The logout token was issued for another client.');
    if (typeof claims.iat !== 'number') throw refuse('logout_token_invalid', 'iat', 'The logout token has no iat.');
    if (claims.iat > nowS + CLOCK_TOLERANCE_S) throw refuse('logout_token_invalid', 'iat', 'The logout token was issued in the future.');
    // jose has checked that a present exp is a number and not past.
    if (claims.exp === undefined && claims.iat < nowS - MAX_AGE_S - CLOCK_TOLERANCE_S)
      throw refuse('logout_token_invalid', 'iat', 'The logout token is too old.');
    const events = claims.events;
    if (!isObject(events) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT]))
      throw refuse('logout_token_invalid', 'events', `The logout token's events claim has no ${BACKCHANNEL_LOGOUT_EVENT} object.`);
    const sub = nonEmpty(claims.sub) ? claims.sub : undefined;
    const sid = nonEmpty(claims.sid) ? claims.sid : undefined;
    if (!sub && !sid) throw refuse('logout_token_invalid', 'sub_sid', 'The logout token names neither sub nor sid.');
    if ('nonce' in claims) throw refuse('logout_token_invalid', 'nonce', 'A logout token must not carry a nonce.');
    if (!nonEmpty(claims.jti)) throw refuse('logout_token_invalid', 'jti', 'The logout token has no jti.');
    // Kept until the token can no longer pass the checks above.
    const until = Math.max(claims.exp ?? 0, claims.iat + MAX_AGE_S) + CLOCK_TOLERANCE_S;
    const fresh = await options.store.setIfAbsent(replayKey(claims.jti), '1', Math.max(1, until - nowS));
    if (!fresh) throw refuse('logout_token_replayed', 'jti', 'This logout token was already used.');
    return { ...(sub ? { sub } : {}), ...(sid ? { sid } : {}), jti: claims.jti, iat: claims.iat, ...(claims.exp !== undefined ? { exp: claims.exp } : {}) };
  }
}

/** jose's refusals, as ours; a JWKS that cannot be fetched is the IdP being unavailable. */
function joseRefusal(err: unknown): GatehouseError {
  // Not a JOSEError: fetch failed. The generic JOSEError: the JWKS answered other than 200.
  const unreachable =
    err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC');
  if (unreachable || (err instanceof Error && !(err instanceof errors.JOSEError)))
    return new GatehouseError('idp_unavailable', 'The identity provider’s keys cannot be fetched right now.', { status: 502, expose: true, cause: err });
  if (err instanceof errors.JWTExpired) return refuse('logout_token_invalid', 'exp', 'The logout token has expired.', err);
  if (err instanceof errors.JWTClaimValidationFailed)
    return refuse('logout_token_invalid', err.claim, `The logout token's ${err.claim} claim is invalid.`, err);
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse('logout_token_signature', 'alg', "The logout token's algorithm is not accepted.", err);
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid)
    return refuse('logout_token_invalid', 'malformed', 'The logout token is malformed.', err);
  return refuse('logout_token_signature', 'signature', 'The logout token is not signed by a key of the identity provider.', err);
}
