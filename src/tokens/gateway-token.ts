import type { JWTPayload } from 'jose';
import type { ExternalIdentity } from '../core/types.js';

/** The audience of tokens for the gateway itself (its API, apps' forward-auth, the CLI): see audiences.ts. */
export { GATEWAY_AUDIENCE } from '../core/audiences.js';

/**
 * The person a verified gateway token describes. Gateway tokens carry the upstream identity
 * (connector, username, email, upstream groups), so policy is resolved from current config at
 * every use; raw upstream claims are not carried, so mappings on other claims do not apply.
 */
export function identityFromGatewayToken(claims: JWTPayload): ExternalIdentity {
  return {
    connector: String(claims.connector ?? ''),
    subject: String(claims.sub).replace(/^[^:]*:/, ''),
    username: String(claims.preferred_username ?? claims.sub),
    email: typeof claims.email === 'string' ? claims.email : undefined,
    groups: Array.isArray(claims.groups) ? claims.groups.map(String) : [],
    claims: {},
  };
}
