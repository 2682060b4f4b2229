import { randomId, sha256Hex } from '../../../core/ids.js';
import type { ExternalIdentity } from '../../../core/types.js';
import { setJson } from '../../../store/store.js';
import type { GrantContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import { isLoopbackRedirect } from '../loopback.js';
import { isValidChallenge, verifyPkce } from '../pkce.js';
import type { TokenResponse } from '../token-set.js';

const CODE_TTL_S = 60;
const codeKey = (code: string) => `oauth:code:${sha256Hex(code)}`;

/** A validated authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636). */
export interface AuthorizationRequest {
  redirectUri: string;
  state?: string;
  challenge: string;
  scope: string;
  nonce?: string;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scope: string;
  nonce?: string;
  identity: ExternalIdentity;
}

/** The authorization code grant: PKCE (S256) on a loopback redirect (RFC 8252). */
export function authorizationCodeGrant(ctx: GrantContext) {
  const { store, options } = ctx;
  return {
    checkAuthorizationRequest(query: OAuthForm): AuthorizationRequest {
      ctx.checkClient(query.client_id);
      const redirectUri = query.redirect_uri;
      if (typeof redirectUri !== 'string' || !isLoopbackRedirect(redirectUri)) {
        throw new OAuthError(
          'invalid_request',
          'redirect_uri must be http://127.0.0.1:<port>/… or http://[::1]:<port>/… (RFC 8252).',
          'redirect_uri_not_loopback',
        );
      }
      if (query.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.');
      if (query.code_challenge_method !== 'S256' || !isValidChallenge(query.code_challenge)) {
        throw new OAuthError('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256.', 'pkce_missing');
      }
      return {
        redirectUri,
        state: typeof query.state === 'string' ? query.state : undefined,
        challenge: query.code_challenge as string,
        scope: typeof query.scope === 'string' ? query.scope : 'openid',
        nonce: typeof query.nonce === 'string' ? query.nonce : undefined,
      };
    },

    async issueCode(request: Omit<AuthorizationRequest, 'state'>, identity: ExternalIdentity): Promise<string> {
      const code = randomId(32);
      const record: AuthorizationCode = { clientId: options.clientId, ...request, identity };
      await setJson(store, codeKey(code), record, CODE_TTL_S);
      return code;
    },

    async exchangeCode(form: OAuthForm): Promise<TokenResponse> {
      ctx.checkClient(form.client_id);
      const code = await (typeof form.code === 'string' ? store.take(codeKey(form.code)) : null);
      if (!code) throw new OAuthError('invalid_grant', 'The authorization code is unknown, expired or already used.', 'code_invalid');
      const grant = JSON.parse(code) as AuthorizationCode;
      if (form.redirect_uri !== grant.redirectUri)
        throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request.', 'redirect_uri_mismatch', grant.identity.username);
      if (!verifyPkce(form.code_verifier, grant.challenge))
        throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge.', 'pkce_mismatch', grant.identity.username);
      const { family, refreshToken } = await ctx.families.start(grant.identity, grant.clientId, grant.scope);
      return ctx.issue(family, ctx.audienceOf(form.resource), refreshToken, grant.nonce);
    },
  };
}
