import type { Clock } from '../../core/clock.js';
import { toClaims } from '../gateway-token.js';
import { OAuthError } from './errors.js';
import type { Family } from './families.js';
import type { OAuthServerOptions } from './options.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  id_token: string;
  refresh_token: string;
  scope: string;
  /** Who the tokens are for, for the audit log (not sent to the client). */
  audit: { user: string; connector: string; audience: string; family: string };
}

/** Mints the token set for a family, for one audience, if policy still allows it. */
export type IssueTokenSet = (family: Family, audience: string, refreshToken: string, nonce?: string) => Promise<TokenResponse>;

export function createTokenSetIssuer(options: OAuthServerOptions, clock: Clock): IssueTokenSet {
  return async (family, audience, refreshToken, nonce) => {
    const entitlement = options.entitle(family.identity, audience);
    if (!entitlement.allowed || !entitlement.grant) {
      throw new OAuthError(
        'invalid_grant',
        `Policy no longer grants ${audience} to ${family.identity.username}.`,
        entitlement.reason ?? 'access_revoked',
        family.identity.username,
      );
    }
    const person = toClaims(family.identity, entitlement.grant);
    const subject = person.subject;
    // `sid` names the CLI login (family), so revoking it refuses its live access tokens too.
    const claims = { ...person.claims, sid: family.id };
    // Nothing minted under an access request outlives it.
    const ttlMs = Math.min(options.tokenTtlMs, family.expiresAt - clock.now(), (entitlement.requestsEndAt ?? Infinity) - clock.now());
    // The ID token is for the CLI whatever the audience: only access tokens carry a gateway or cluster aud.
    const idAudience = [options.clientId];
    const [accessToken, idToken] = await Promise.all([
      options.issuer.mint({ kind: 'access', subject, audience, claims, ttlMs }),
      options.issuer.mint({ kind: 'id', subject, audience: idAudience, claims: { ...claims, azp: options.clientId, ...(nonce ? { nonce } : {}) }, ttlMs }),
    ]);
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.floor(ttlMs / 1000),
      id_token: idToken,
      refresh_token: refreshToken,
      scope: family.scope,
      audit: { user: family.identity.username, connector: family.identity.connector, audience, family: family.id },
    };
  };
}
