import type { ExternalIdentity } from '../core/types.js';
import { requestsEndAt, resolveAccess, type Policy } from './policy.js';

export interface ClusterGrant {
  name: string;
  audience: string;
  /** When set, only these roles may use the cluster. */
  roles?: string[];
}

/** What the token states was granted (tokens/gateway-token.ts turns it into claims). */
export interface Grant {
  roles: string[];
  /** Cluster tokens carry the Kubernetes groups; gateway tokens the upstream groups. */
  groups: string[];
  kubernetesUsers?: string[];
  cluster?: string;
  /** The access requests that added roles (a token carries them, and is refused once one ends). */
  requests?: string[];
}

export interface Entitlement {
  allowed: boolean;
  reason?: string;
  grant?: Grant;
  /** The roles' max_session_ttl: how long a login may last. */
  maxTtlMs?: number;
  /** When the first access request behind the grant ends: what is minted under it ends no later. */
  requestsEndAt?: number;
}

/**
 * What tokens for an audience may say about a person, from current policy:
 * the gateway API needs at least one role; a cluster needs Kubernetes groups or users
 * (and one of the cluster's roles when it lists some), and its tokens carry those groups.
 */
export function entitle(identity: ExternalIdentity, audience: string, policy: Policy, clusters: ClusterGrant[], gatewayAudience: string): Entitlement {
  const access = resolveAccess(identity, policy);
  if (!access.roles.length) return { allowed: false, reason: 'no_roles' };
  const requests = access.requests.length ? { requests: access.requests.map((r) => r.id) } : {};
  if (audience === gatewayAudience) {
    return {
      allowed: true,
      grant: { roles: access.roles, groups: identity.groups, ...requests },
      maxTtlMs: access.maxSessionTtlMs,
      requestsEndAt: requestsEndAt(access),
    };
  }
  const cluster = clusters.find((c) => c.audience === audience);
  if (!cluster) return { allowed: false, reason: 'unknown_cluster' };
  if (cluster.roles && !cluster.roles.some((r) => access.roles.includes(r))) return { allowed: false, reason: 'cluster_not_granted' };
  if (!access.kubernetesGroups.length && !access.kubernetesUsers.length) return { allowed: false, reason: 'no_kubernetes_groups' };
  return {
    allowed: true,
    grant: { roles: access.roles, groups: access.kubernetesGroups, kubernetesUsers: access.kubernetesUsers, cluster: cluster.name, ...requests },
    maxTtlMs: access.maxSessionTtlMs,
    requestsEndAt: requestsEndAt(access),
  };
}
