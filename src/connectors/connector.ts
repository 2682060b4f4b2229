import type { ExternalIdentity } from '../core/types.js';

/** Values a connector must get back, unchanged, when its login finishes (PKCE verifier, nonce, request id). */
export type PendingLogin = Record<string, string>;

export interface LoginResult {
  identity: ExternalIdentity;
  /** Kept in the session for RP-initiated logout. */
  upstreamIdToken?: string;
  /** Protocol facts kept in the session for logout (SAML: NameID, format, SessionIndex; OIDC: the IdP's `sid`). */
  upstreamLogout?: Record<string, string>;
  /** The IdP's refresh token, kept server-side only (never sent to a client), to ask the IdP again later (`refresh`). */
  upstreamRefreshToken?: string;
}

/** What a valid OIDC back-channel logout token names: one IdP session (`sid`), or every session of a person (`sub`). */
export interface LogoutTokenClaims {
  sub?: string;
  sid?: string;
  jti: string;
  iat: number;
  exp?: number;
}

/**
 * One upstream identity provider. The web layer owns `state`, its storage and its
 * binding to the browser; a connector only speaks its protocol.
 */
export interface Connector {
  readonly id: string;
  readonly name: string;
  readonly type: 'oidc' | 'saml';
  /** Where to send the browser, and what to remember until the callback. */
  startLogin(options: { state: string }): Promise<{ url: string; pending: PendingLogin }>;
  /**
   * Validates the IdP's answer. Throws GatehouseError with a stable code on any problem.
   * `form` holds the fields of an HTTP-POST answer (SAML's SAMLResponse and RelayState).
   */
  finishLogin(options: { callbackUrl: URL; state: string; pending: PendingLogin; form?: Record<string, string> }): Promise<LoginResult>;
  /**
   * Asks the IdP again who the person is, with their login's refresh token (OIDC refresh_token
   * grant): the identity as the IdP sees it now, and the refresh token to use next time. Throws
   * `upstream_revoked` when the IdP refuses (person disabled or deleted, session ended there),
   * a login rule's code (e.g. `email_not_verified`), or `idp_unavailable` when it cannot be asked.
   */
  refresh?(options: { refreshToken: string; previous: ExternalIdentity }): Promise<{ identity: ExternalIdentity; refreshToken: string }>;
  /**
   * OIDC Back-Channel Logout: validates a logout token (./backchannel-logout.ts). Absent when the
   * connector does not take back-channel logout. Throws `logout_token_*` codes on a bad token.
   */
  verifyLogoutToken?(logoutToken: unknown): Promise<LogoutTokenClaims>;
  /** The IdP's logout URL for RP-initiated logout, when it has one. */
  logoutUrl?(options: { upstreamIdToken?: string; upstreamLogout?: Record<string, string>; postLogoutRedirectUri: string }): Promise<string | undefined>;
}

export { claimAt } from '../core/claims.js';

/** Single values, arrays and comma-free strings all become string arrays. */
export function toStringArray(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.filter((v) => v !== null && v !== undefined).map(String);
  return [String(value)];
}
