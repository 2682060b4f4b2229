import type { Clock } from '../../core/clock.js';
import type { ExternalIdentity } from '../../core/types.js';
import type { Store } from '../../store/store.js';
import type { TokenGrant } from '../gateway-token.js';
import type { TokenIssuer } from '../issuer.js';
import type { TokenRevocations } from '../revocations.js';

/** What policy says about an identity for one audience (the gateway API or a cluster). */
export interface Entitlement {
  allowed: boolean;
  /** Why not, when not allowed (audited). */
  reason?: string;
  /** What tokens of this audience state was granted, when allowed. */
  grant?: TokenGrant;
  /** The roles' max_session_ttl, bounding how long a CLI login may be refreshed. */
  maxTtlMs?: number;
  /** When the first access request behind the grant ends (ms since epoch): tokens end no later. */
  requestsEndAt?: number;
}

export type Entitle = (identity: ExternalIdentity, audience: string) => Entitlement;

/** Asks the person's IdP again at a refresh: who they are now, or why the IdP no longer accepts the login. */
export type UpstreamRecheck = (identity: ExternalIdentity) => Promise<{ identity: ExternalIdentity } | { revoked: { reason: string; message: string } }>;

export interface OAuthServerOptions {
  store: Store;
  issuer: TokenIssuer;
  /** The API audience of the gateway itself. */
  gatewayAudience: string;
  clientId: string;
  /** Audiences a token request may name with `resource` (the clusters). */
  resources: () => string[];
  entitle: Entitle;
  /** Where revoked families are recorded, so their live access tokens are refused too. */
  revocations: TokenRevocations;
  tokenTtlMs: number;
  refreshTtlMs: number;
  verificationUri: string;
  /** Re-checks the person with their IdP at every refresh (the sessions' upstream grants); absent: the identity stays as at login. */
  upstream?: UpstreamRecheck;
  clock?: Clock;
}
