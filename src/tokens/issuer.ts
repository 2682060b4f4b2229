import { createLocalJWKSet, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { seconds, systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { KeyManager } from './keys.js';

/**
 * What a token is for. Access tokens (gateway and cluster bearer tokens) are `typ: at+jwt`
 * (RFC 9068) and only they pass access-token verification; ID tokens and app assertions are
 * `typ: JWT` and never do, so one cannot be used as the other.
 */
export type TokenKind = 'access' | 'id' | 'assertion';
export const ACCESS_TOKEN_TYP = 'at+jwt';

export interface MintOptions {
  /** Default `access`: a bearer token (gateway or cluster). ID tokens and app assertions say so. */
  kind?: TokenKind;
  subject: string;
  audience: string | string[];
  claims?: Record<string, unknown>;
  ttlMs?: number;
}

export interface TokenIssuer {
  readonly issuer: string;
  mint(options: MintOptions): Promise<string>;
  /**
   * Verifies signature (only our algorithms and keys), iss, aud, exp, nbf and iat.
   * `kind` (default `access`): access requires `typ: at+jwt` and checks revocation; id refuses at+jwt.
   * Throws a TokenRejectedError (`invalid_token` or `token_revoked`) saying why.
   */
  verify(token: string, options: { audience: string | string[]; kind?: 'access' | 'id' }): Promise<JWTPayload>;
  /** Whether the CLI login (family) of an access token verified earlier has been revoked since: streams opened with it re-ask. */
  isRevoked(claims: JWTPayload): Promise<boolean>;
  discovery(): Record<string, unknown>;
}

const ALGORITHMS = ['ES256', 'RS256'];

/** Why a token was refused, so callers can answer precisely without knowing jose. */
export type TokenRejection = 'expired' | 'audience' | 'signature' | 'algorithm' | 'claim' | 'malformed' | 'revoked';

export class TokenRejectedError extends GatehouseError {
  readonly reason: TokenRejection;
  constructor(reason: TokenRejection, message: string, cause?: unknown) {
    super(reason === 'revoked' ? 'token_revoked' : 'invalid_token', message, { status: 401, cause });
    this.reason = reason;
  }
}

export function createTokenIssuer(options: {
  issuer: string;
  keys: KeyManager;
  defaultTtlMs: number;
  clock?: Clock;
  /** Further discovery metadata: the OAuth endpoints that exist. */
  metadata?: Record<string, unknown>;
  /** Checked for every verified access token: true when its CLI login (family) was revoked. */
  isRevoked?: (claims: JWTPayload) => Promise<boolean>;
}): TokenIssuer {
  const clock = options.clock ?? systemClock;
  let verifier: { jwksJson: string; keySet: ReturnType<typeof createLocalJWKSet>; checkedAt: number } | undefined;

  // Verification is on the data path (TokenReview, proxies): keys stay imported, and the key set
  // is compared with the KeyManager's at most once a second.
  const keySet = async (fresh = false) => {
    const now = clock.now();
    if (verifier && !fresh && now - verifier.checkedAt < 1000) return verifier.keySet;
    const jwks = await options.keys.jwks();
    const jwksJson = JSON.stringify(jwks);
    if (verifier?.jwksJson !== jwksJson) verifier = { jwksJson, keySet: createLocalJWKSet(jwks), checkedAt: now };
    verifier.checkedAt = now;
    return verifier.keySet;
  };

  return {
    issuer: options.issuer,
    async mint({ kind = 'access', subject, audience, claims = {}, ttlMs = options.defaultTtlMs }) {
      const { kid, alg, key } = await options.keys.active();
      const now = seconds(clock.now());
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid, typ: kind === 'access' ? ACCESS_TOKEN_TYP : 'JWT' })
        .setIssuer(options.issuer)
        .setSubject(subject)
        .setAudience(audience)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + seconds(ttlMs))
        .setJti(randomId(16))
        .sign(key);
    },
    async verify(token, { audience, kind = 'access' }) {
      const check = async (fresh: boolean) => {
        const { payload, protectedHeader } = await jwtVerify(token, await keySet(fresh), {
          issuer: options.issuer,
          audience,
          algorithms: ALGORITHMS,
          requiredClaims: ['exp', 'iat', 'sub'],
          currentDate: new Date(clock.now()),
          clockTolerance: 5,
          ...(kind === 'access' ? { typ: ACCESS_TOKEN_TYP } : {}),
        });
        if (kind === 'id' && isAccessTyp(protectedHeader.typ))
          throw new errors.JWTClaimValidationFailed('an access token is not an ID token', payload, 'typ', 'check_failed');
        return payload;
      };
      let payload: JWTPayload;
      try {
        try {
          payload = await check(false);
        } catch (err) {
          // A key rotated in the last second is not in the cached set yet: look once more.
          if (err instanceof errors.JWKSNoMatchingKey) payload = await check(true);
          else throw err;
        }
      } catch (err) {
        const [reason, message] = describeJoseError(err);
        throw new TokenRejectedError(reason, message, err);
      }
      if (kind === 'access' && options.isRevoked && (await options.isRevoked(payload))) {
        throw new TokenRejectedError('revoked', 'token was revoked: its login, or the access request it was minted under, has ended (sign in again)');
      }
      return payload;
    },
    isRevoked: async (claims) => (options.isRevoked ? options.isRevoked(claims) : false),
    discovery() {
      return {
        issuer: options.issuer,
        jwks_uri: `${options.issuer}/.well-known/jwks.json`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ALGORITHMS,
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'email', 'preferred_username', 'groups', 'roles', 'connector'],
        ...options.metadata,
      };
    },
  };
}

const isAccessTyp = (typ: unknown) => typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === ACCESS_TOKEN_TYP;

function describeJoseError(err: unknown): [TokenRejection, string] {
  if (err instanceof errors.JWTExpired) return ['expired', 'token has expired'];
  if (err instanceof errors.JWTClaimValidationFailed)
    return [err.claim === 'aud' ? 'audience' : 'claim', `token claim "${err.claim}" is invalid (${err.reason})`];
  if (err instanceof errors.JOSEAlgNotAllowed) return ['algorithm', 'token algorithm is not allowed'];
  if (err instanceof errors.JWKSNoMatchingKey) return ['signature', 'token was not signed by a key of this issuer'];
  if (err instanceof errors.JWSSignatureVerificationFailed) return ['signature', 'token signature is invalid'];
  return ['malformed', 'token is malformed'];
}
