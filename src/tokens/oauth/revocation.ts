import type { GrantContext, OAuthForm } from './context.js';
import { OAuthError } from './errors.js';

/**
 * RFC 7009 token revocation: revoking a refresh token (live or spent) ends its whole family. And
 * the IdP ending a login ends the families born of it, the same way.
 */
export function revocation(ctx: GrantContext) {
  return {
    async revoke(form: OAuthForm): Promise<{ user?: string; revoked: boolean }> {
      ctx.checkClient(form.client_id);
      const token = form.token;
      if (typeof token !== 'string') throw new OAuthError('invalid_request', 'token is required.');
      const familyId = await ctx.families.familyOf(token);
      // Unknown tokens are not an error (RFC 7009 §2.2).
      if (!familyId) return { revoked: false };
      await ctx.families.drop(token);
      const family = await ctx.families.revoke(familyId);
      return { user: family?.identity.username, revoked: true };
    },
    /** Revokes the CLI logins made from one upstream login (back-channel logout): their ids and people. */
    async revokeBornOf(upstreamGrant: string): Promise<{ family: string; user: string }[]> {
      return (await ctx.families.revokeBornOf(upstreamGrant)).map((family) => ({ family: family.id, user: family.identity.username }));
    },
  };
}
