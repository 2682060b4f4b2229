/**
 * Revoked CLI logins, for access tokens. Every access token minted for a CLI login carries the
 * login's family id as `sid`; revoking the family (RFC 7009 revocation, refresh-token reuse)
 * records `tokens:revoked-family:<sid>` in the store for the longest remaining lifetime of an
 * access token of that family (`tokens.ttl` plus the verification clock tolerance), so every
 * replica's verifier (API bearer, app proxy, TokenReview, Kubernetes proxy) refuses them.
 * A refused use is audited as `token.revoked` failure, reason `token_revoked`.
 */
import type { JWTPayload } from 'jose';
import type { AuditSink } from '../audit/sink.js';
import type { Store } from '../store/store.js';

const CLOCK_TOLERANCE_S = 5;
const key = (family: string) => `tokens:revoked-family:${family}`;

export interface TokenRevocations {
  /** Refuses every access token of this family still alive. */
  revokeFamily(family: string): Promise<void>;
  /** True (and audited) when the verified access token belongs to a revoked family. */
  isRevoked(claims: JWTPayload): Promise<boolean>;
}

export function createTokenRevocations(options: { store: Store; tokenTtlMs: number; audit?: AuditSink }): TokenRevocations {
  const ttl = Math.ceil(options.tokenTtlMs / 1000) + CLOCK_TOLERANCE_S;
  return {
    async revokeFamily(family) {
      await options.store.set(key(family), '1', ttl);
    },
    async isRevoked(claims) {
      if (typeof claims.sid !== 'string' || !claims.sid) return false;
      if ((await options.store.get(key(claims.sid))) === null) return false;
      await options.audit?.emit({
        type: 'token.revoked',
        outcome: 'failure',
        user: typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
        connector: typeof claims.connector === 'string' ? claims.connector : undefined,
        reason: 'token_revoked',
        details: { family: claims.sid, jti: claims.jti, audience: claims.aud },
      });
      return true;
    },
  };
}
