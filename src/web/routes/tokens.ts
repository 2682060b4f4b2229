import type { Session } from '../../core/types.js';
import type { WebDeps } from '../deps.js';

/** The audience of tokens for the gateway itself (its API and pages). */
export const GATEWAY_AUDIENCE = 'gatehouse';

/** A short-lived token describing the session's person, signed by the gateway. */
export function gatewayTokenFor(deps: WebDeps, session: Session): Promise<string> {
  const { identity } = session;
  return deps.issuer.mint({
    subject: `${identity.connector}:${identity.subject}`,
    audience: GATEWAY_AUDIENCE,
    ttlMs: Math.min(deps.config.tokens.ttl, session.expiresAt - Date.now()),
    claims: {
      email: identity.email,
      preferred_username: identity.username,
      groups: identity.groups,
      connector: identity.connector,
    },
  });
}
