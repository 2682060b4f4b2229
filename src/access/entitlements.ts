import type { ExternalIdentity } from '../core/types.js';
import { resolveAccess, type Policy } from './policy.js';

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
}

export interface Entitlement {
  allowed: boolean;
  reason?: string;
  grant?: Grant;
  maxTtlMs?: number;
}

/**
 * What tokens for an audience may say about a person, from current policy:
 * the gateway API needs at least one role; a cluster needs Kubernetes groups or users
 * (and one of the cluster's roles when it lists some), and its tokens carry those groups.
 */
export function entitle(identity: ExternalIdentity, audience: string, policy: Policy, clusters: ClusterGrant[], gatewayAudience: string): Entitlement {
  const access = resolveAccess(identity, policy);
  if (!access.roles.length) return { allowed: false, reason: 'no_roles' };
  if (audience === gatewayAudience) {
    return { allowed: true, grant: { roles: access.roles, groups: identity.groups }, maxTtlMs: access.maxSessionTtlMs };
  }
  const cluster = clusters.find((c) => c.audience === audience);
  if (!cluster) return { allowed: false, reason: 'unknown_cluster' };
  if (cluster.roles && !cluster.roles.some((r) => access.roles.includes(r))) return { allowed: false, reason: 'cluster_not_granted' };
  if (!access.kubernetesGroups.length && !access.kubernetesUsers.length) return { allowed: false, reason: 'no_kubernetes_groups' };
  return {
    allowed: true,
    grant: { roles: access.roles, groups: access.kubernetesGroups, kubernetesUsers: access.kubernetesUsers, cluster: cluster.name },
    maxTtlMs: access.maxSessionTtlMs,
  };
}
