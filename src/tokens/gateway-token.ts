import type { JWTPayload } from 'jose';
import type { ExternalIdentity } from '../core/types.js';

/** The audience of tokens for the gateway itself (its API, apps' forward-auth, the CLI): see audiences.ts. */
export { GATEWAY_AUDIENCE } from '../core/audiences.js';

/**
 * The one codec for what Gatehouse tokens (gateway, cluster, app assertion) say about a person.
 * They carry the upstream identity (connector, username, email, groups) and the roles policy
 * granted, so policy is resolved from current config at every use; raw upstream claims are not
 * carried, so mappings on other claims do not apply.
 */

/** What policy granted, as a token states it. Cluster tokens carry Kubernetes groups instead of upstream ones. */
export interface TokenGrant {
  roles: string[];
  groups?: string[];
  kubernetesUsers?: string[];
  cluster?: string;
  /** Access request ids whose roles the token carries. */
  requests?: string[];
}

/** A verified token's person: the identity, and the grant it was minted with. */
export interface TokenPerson {
  identity: ExternalIdentity;
  roles: string[];
  kubernetesUsers: string[];
  /** The access requests the token was minted under. */
  requests: string[];
}

/** The `sub` of every token for this person: stable across usernames and unique across connectors. */
export const tokenSubject = (identity: ExternalIdentity): string => `${identity.connector}:${identity.subject}`;

/** Subject and claims, ready to spread into `issuer.mint`. */
export function toClaims(identity: ExternalIdentity, grant: TokenGrant): { subject: string; claims: Record<string, unknown> } {
  return {
    subject: tokenSubject(identity),
    claims: {
      email: identity.email,
      preferred_username: identity.username,
      groups: grant.groups ?? identity.groups,
      roles: grant.roles,
      connector: identity.connector,
      ...(grant.kubernetesUsers ? { kubernetes_users: grant.kubernetesUsers } : {}),
      ...(grant.cluster ? { cluster: grant.cluster } : {}),
      ...(grant.requests?.length ? { access_requests: grant.requests } : {}),
    },
  };
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** The person a verified token describes. */
export function fromClaims(claims: JWTPayload): TokenPerson {
  return {
    identity: {
      connector: typeof claims.connector === 'string' ? claims.connector : '',
      subject: String(claims.sub).replace(/^[^:]*:/, ''),
      username: String(claims.preferred_username ?? claims.sub),
      email: typeof claims.email === 'string' ? claims.email : undefined,
      groups: strings(claims.groups),
      claims: {},
    },
    roles: strings(claims.roles),
    kubernetesUsers: strings(claims.kubernetes_users),
    requests: strings(claims.access_requests),
  };
}

/** RFC 6750 §2.1: `Bearer` and a b64token (blanks around it tolerated). Anything else is not a bearer credential. */
const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i;

/** The token in an Authorization header, or undefined when the header is absent or not Bearer. */
export function parseBearer(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}
