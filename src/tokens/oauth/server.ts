import type { ExternalIdentity } from '../../core/types.js';
import { createGrantContext, type OAuthForm } from './context.js';
import { authorizationCodeGrant, type AuthorizationRequest } from './grants/authorization-code.js';
import { deviceCodeGrant, type DeviceAuthorization } from './grants/device-code.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import type { OAuthServerOptions } from './options.js';
import { revocation } from './revocation.js';
import type { TokenResponse } from './token-set.js';

export type { TokenResponse } from './token-set.js';

/** What the CLI's OAuth endpoints (src/web/routes/oauth.ts) ask of the authorization server. */
export interface OAuthServer {
  /**
   * Validates an authorization request. Errors about the client or redirect URI are
   * returned to the browser, never redirected (RFC 6749 §4.1.2.1).
   */
  checkAuthorizationRequest(query: OAuthForm): AuthorizationRequest;
  /** Issues a one-time code for a signed-in person (60 s, bound to the PKCE challenge and redirect URI). */
  issueCode(request: Omit<AuthorizationRequest, 'state'>, identity: ExternalIdentity): Promise<string>;
  exchangeCode(form: OAuthForm): Promise<TokenResponse>;
  /** Rotates the refresh token. A spent token coming back revokes its whole family. */
  refresh(form: OAuthForm): Promise<TokenResponse>;
  /** RFC 7009: revoking a refresh token ends its whole family; unknown tokens are not an error. */
  revoke(form: OAuthForm): Promise<{ user?: string; revoked: boolean }>;
  /** Revokes every CLI login made from one upstream login (the session's upstream grant), and their live access tokens. */
  revokeBornOf(upstreamGrant: string): Promise<{ family: string; user: string }[]>;
  /** RFC 8628 §3.1–3.2. */
  startDeviceAuthorization(form: OAuthForm): Promise<DeviceAuthorization>;
  /** Normalises what a person typed (case, dashes, spaces) and finds the pending grant. */
  findUserCode(typed: string): Promise<{ userCode: string } | null>;
  /** The signed-in person approves or denies the device; the code can be decided once. */
  decideDevice(typed: string, identity: ExternalIdentity, approve: boolean): Promise<boolean>;
  /** RFC 8628 §3.4–3.5: authorization_pending, slow_down, access_denied, expired_token. */
  pollDevice(form: OAuthForm): Promise<TokenResponse>;
}

/**
 * The authorization server for the `gatehouse` CLI: authorization code + PKCE (S256) on a
 * loopback redirect, the device authorization grant, rotating refresh tokens with reuse
 * detection, and revocation, one module per grant (./grants/). Tokens for a cluster
 * (`resource` = its audience) carry that audience and the mapped Kubernetes groups,
 * recomputed from current policy at every refresh.
 */
export function createOAuthServer(options: OAuthServerOptions): OAuthServer {
  const ctx = createGrantContext(options);
  return { ...authorizationCodeGrant(ctx), ...refreshTokenGrant(ctx), ...revocation(ctx), ...deviceCodeGrant(ctx) };
}
