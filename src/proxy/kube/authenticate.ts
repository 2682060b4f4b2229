import type { JWTPayload } from 'jose';
import type { ClusterConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { fromClaims, parseBearer } from '../../tokens/gateway-token.js';
import { TokenRejectedError, type TokenIssuer } from '../../tokens/issuer.js';
import type { KubeIdentity } from './impersonation.js';
import type { Denial } from './status.js';

/** Verified tokens kept (by token and cluster) until they expire, so a burst of requests verifies once. */
const TOKEN_CACHE_MAX = 10_000;
/** At most this long, so a revoked CLI login's tokens are refused soon (tokens.revocations). */
const TOKEN_CACHE_MS = 10_000;

export interface Authenticated {
  identity: KubeIdentity;
  /** The verified token's claims: an exec or attach stream re-checks their revocation. */
  claims: JWTPayload;
  /** Until when (epoch ms) the verification is reused. */
  exp: number;
}

/** The bearer of a request to `cluster` as a verified person, or why it is refused (401). */
export type Authenticate = (authorization: string | undefined, cluster: ClusterConfig) => Promise<Authenticated | Denial>;

/** Bearer tokens must be Gatehouse tokens for the cluster's audience (`gatehouse kube login`). */
export function createAuthenticator(issuer: TokenIssuer, clock: Clock): Authenticate {
  const tokens = new Map<string, Authenticated>();
  return async (authorization, cluster) => {
    const token = parseBearer(authorization);
    if (!token) return { status: 401, reason: 'token_missing', message: 'No bearer token: use the kubeconfig from `gatehouse kube login`.' };
    const key = `${cluster.audience}\n${token}`;
    const cached = tokens.get(key);
    if (cached && cached.exp > clock.now()) return cached;
    if (cached) tokens.delete(key);
    try {
      const claims = await issuer.verify(token, { audience: cluster.audience });
      const person = fromClaims(claims);
      const auth: Authenticated = {
        identity: {
          username: person.identity.username,
          groups: person.identity.groups,
          users: person.kubernetesUsers,
          roles: person.roles,
          connector: person.identity.connector || undefined,
        },
        claims,
        exp: Math.min((claims.exp ?? 0) * 1000, clock.now() + TOKEN_CACHE_MS),
      };
      if (tokens.size >= TOKEN_CACHE_MAX) tokens.delete(tokens.keys().next().value!);
      tokens.set(key, auth);
      return auth;
    } catch (err) {
      return rejected(err, cluster);
    }
  };
}

function rejected(err: unknown, cluster: ClusterConfig): Denial {
  const rejection = err instanceof TokenRejectedError ? err.reason : undefined;
  if (rejection === 'revoked') return { status: 401, reason: 'token_revoked', message: 'The Gatehouse token was revoked: sign in again.' };
  if (rejection === 'expired') return { status: 401, reason: 'token_expired', message: 'The Gatehouse token has expired.' };
  if (rejection === 'audience') {
    return { status: 401, reason: 'token_wrong_cluster', message: `The token is not for cluster "${cluster.name}" (audience ${cluster.audience}).` };
  }
  return { status: 401, reason: 'token_invalid', message: `The token is not a valid Gatehouse token: ${(err as Error).message}.` };
}
