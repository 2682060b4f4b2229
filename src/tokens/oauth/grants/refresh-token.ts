import type { GrantContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import { REFRESH_TOKEN_PREFIX } from '../families.js';
import type { TokenResponse } from '../token-set.js';

/**
 * The refresh token grant: every use rotates the token, and a spent token coming back revokes its
 * whole family. Each refresh asks the person's IdP again (options.upstream) and mints from the
 * identity it returns, so a group removed there is gone from the next token; when the IdP no
 * longer accepts the login the family is revoked (its live access tokens too) and the refresh fails.
 */
export function refreshTokenGrant(ctx: GrantContext) {
  const { families } = ctx;
  return {
    async refresh(form: OAuthForm): Promise<TokenResponse> {
      ctx.checkClient(form.client_id);
      const token = form.refresh_token;
      if (typeof token !== 'string' || !token.startsWith(REFRESH_TOKEN_PREFIX))
        throw new OAuthError('invalid_grant', 'refresh_token is missing or malformed.', 'refresh_token_invalid');
      const familyId = await families.redeem(token);
      if (!familyId) {
        const reusedFamily = await families.spentFamily(token);
        if (reusedFamily) {
          const family = await families.revoke(reusedFamily);
          throw new OAuthError(
            'invalid_grant',
            'This refresh token was already used; every token of this login is now revoked.',
            'refresh_token_reused',
            family?.identity.username,
          );
        }
        throw new OAuthError('invalid_grant', 'The refresh token is unknown, expired or revoked.', 'refresh_token_invalid');
      }
      const family = await families.get(familyId);
      if (!family || family.revoked || family.expiresAt <= ctx.clock.now()) {
        throw new OAuthError('invalid_grant', 'This login was revoked or has expired: sign in again.', 'family_revoked', family?.identity.username);
      }
      await families.markSpent(token, family);
      const audience = ctx.audienceOf(form.resource);
      const checked = ctx.options.upstream ? await ctx.options.upstream(family.identity) : { identity: family.identity };
      if ('revoked' in checked) {
        await families.revoke(family.id);
        throw new OAuthError(
          'invalid_grant',
          `${checked.revoked.message.replace(/\.$/, '')}: sign in again.`,
          checked.revoked.reason,
          family.identity.username,
        );
      }
      return ctx.issue({ ...family, identity: checked.identity }, audience, await families.newRefreshToken(family));
    },
  };
}
